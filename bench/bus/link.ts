// Where the time goes on one real peer link: router A in this process, router B in a child process (each with
// its own event loop, as two daemons have), joined by a real PeerLink (Noise secret stream over UDX, on a
// loopback HyperDHT testnet). A publishes 256-byte messages to a subscriber on B, then runs sequential
// request/reply to an echo on B. Reports msgs/s, link writes and bytes per write, A's event-loop utilisation
// and the UDX stream's rtt/cwnd, so a change to batching or flushing shows as fewer, larger writes. No API
// socket and no clients: this is the router-to-router part of the `bus` suite's path. Last, the same
// sequential round trip without the bus (a message echoed on the link's stream, and a datagram), so the
// transport's share of a request/reply shows beside the bus's. The bus moves to a TCP lane beside the link
// as in the daemon (src/transport/lane.ts) unless --no-lane is given, which keeps it on the UDX stream.
//
//   node dist/bench/bus/link.js [--count N] [--runs R] [--no-lane]

import { fork } from 'node:child_process'
import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import HyperDHT from 'hyperdht'
import { Registry } from 'prom-client'
import { BusRouter } from '../../src/bus/index.js'
import { LocalTestnet } from '../../src/discovery/testnet.js'
import type { KeyPair } from '../../src/identity/index.js'
import { LinkManager, type PeerLink } from '../../src/transport/index.js'
import { TestFederation } from '../../src/transport/testing.js'

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : def
}
const COUNT = arg('count', 200_000)
const RUNS = arg('runs', 3)
/** Per-link queue bound in messages (0 = the bus default). */
const QUEUE = arg('queue', 0)
const LANE = !process.argv.includes('--no-lane')
const PAYLOAD = new Uint8Array(256).fill(0x61)
const tick = () => new Promise<void>((r) => setImmediate(r))
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const unhex = (s: string) => Buffer.from(s, 'hex')

interface ChildSetup {
  bootstrap: string[]
  root: string
  federationId: string
  publicKey: string
  secretKey: string
  certificate: string
  nodeId: string
}

function router(name: string, peer: string, link: PeerLink): BusRouter {
  const limits = QUEUE > 0 ? { maxQueueCount: QUEUE, maxQueueBytes: Math.max(QUEUE * 512, 2 << 20) } : {}
  const r = new BusRouter({ nodeId: name, nextHop: (n) => (n === peer ? peer : null), limits })
  r.addLink({
    peerId: peer,
    send: (frame) => link.send('bus', frame),
    onDrain: (cb) => link.on('drain', cb),
  })
  link.on('message', (ch, payload) => {
    if (ch === 'bus') r.receive(peer, payload)
  })
  return r
}

function manager(keyPair: KeyPair, certificate: Uint8Array, root: Buffer, federationId: string): LinkManager {
  return new LinkManager({
    localPublicKey: keyPair.publicKey,
    certificate,
    trust: { rootPublicKey: root, federationId },
    registry: new Registry(),
    recheckIntervalMs: 0,
    lanes: LANE ? { keyPair, port: 0 } : null,
  })
}

/** Router B: listens, subscribes, echoes, and reports how many messages arrived when asked. */
async function child(setup: ChildSetup): Promise<void> {
  const keyPair = { publicKey: unhex(setup.publicKey), secretKey: unhex(setup.secretKey) }
  const links = manager(keyPair, unhex(setup.certificate), unhex(setup.root), setup.federationId)
  await links.listenLanes()
  const dht = new HyperDHT({ bootstrap: setup.bootstrap, host: '127.0.0.1', ephemeral: true })
  let got = 0
  let bus: BusRouter | null = null
  links.on('link-up', (peer: string, link: PeerLink) => {
    bus = router(setup.nodeId, peer, link)
    link.on('datagram', (payload) => link.sendDatagram(payload))
    link.addChannel('echo')
    link.on('message', (ch, payload) => {
      if (ch === 'echo') link.send('echo', payload)
    })
    bus.subscribe('bench.data', () => got++)
    bus.subscribe('bench.echo', (req) => void bus!.reply(req, req.payload))
  })
  const server = dht.createServer((conn) => {
    conn.on('error', () => {})
    links.accept(conn)
  })
  await server.listen(keyPair)
  process.on('message', (m: { q?: string }) => {
    if (m.q === 'got') process.send!({ got })
    if (m.q === 'exit') {
      bus?.close()
      void links.close().then(() => dht.destroy().then(() => process.exit(0)))
    }
  })
  process.send!({ ready: true })
}

async function parent(): Promise<void> {
  const net = await LocalTestnet.create()
  const fed = new TestFederation()
  const na = fed.node('a')
  const nb = fed.node('b')
  const setup: ChildSetup = {
    bootstrap: net.bootstrap,
    root: hex(fed.root.publicKey),
    federationId: fed.id,
    publicKey: hex(nb.keyPair.publicKey),
    secretKey: hex(nb.keyPair.secretKey),
    certificate: hex(nb.certificateBytes),
    nodeId: nb.nodeId,
  }
  const kid = fork(process.argv[1]!, ['--child', JSON.stringify(setup), ...(LANE ? [] : ['--no-lane'])], {
    stdio: 'inherit',
  })
  const ask = async (): Promise<number> => {
    kid.send({ q: 'got' })
    for (;;) {
      const [m] = (await once(kid, 'message')) as [{ got?: number }]
      if (m.got !== undefined) return m.got
    }
  }
  const links = fed.linkManager(na, { lanes: LANE ? { keyPair: na.keyPair, port: 0 } : null })
  try {
    await once(kid, 'message')
    const dht = net.createDht()
    const conn = dht.connect(nb.keyPair.publicKey, { keyPair: na.keyPair })
    conn.on('error', () => {})
    const up = once(links, 'link-up', { signal: AbortSignal.timeout(20_000) })
    links.accept(conn)
    const [, link] = (await up) as [string, PeerLink]
    const a = router(na.nodeId, nb.nodeId, link)
    const c = { writes: 0, bytes: 0 }
    const raw = link.conn as unknown as { rawStream: { rtt: number; cwnd: number; inflight: number } }
    const send = link.send.bind(link)
    link.send = (channel: string, d: Uint8Array) => {
      c.writes++
      c.bytes += d.length
      return send(channel, d)
    }
    if (LANE) {
      for (let i = 0; i < 500 && !link.hasLane; i++) await sleep(10)
      console.log(`# bus on ${link.hasLane ? 'a TCP lane' : 'the UDX stream (no lane came up)'}`)
    } else console.log('# bus on the UDX stream (--no-lane)')
    // Probe echoes: what a routing probe's round trip looks like while bulk bus data shares the link (probes
    // are datagrams: they do not queue behind the stream's data).
    const probeSent = new Map<number, number>()
    const probeRtt: number[] = []
    let probeSeq = 0
    link.on('datagram', (payload) => {
      const id = Buffer.from(payload).readUInt32BE(0)
      const at = probeSent.get(id)
      if (at !== undefined) probeRtt.push(performance.now() - at)
      probeSent.delete(id)
    })
    const probeTimer = setInterval(() => {
      const id = ++probeSeq
      const b = Buffer.alloc(8)
      b.writeUInt32BE(id, 0)
      probeSent.set(id, performance.now())
      link.sendDatagram(b)
    }, 20)
    for (let i = 0; i < 500 && a.interest.match('bench.echo').length === 0; i++) await sleep(10)
    for (let run = 0; run < RUNS; run++) {
      const w0 = { ...c }
      const base = await ask()
      const elu0 = performance.eventLoopUtilization()
      const cpu0 = process.cpuUsage()
      // Requests while the bulk runs: what a caller waits when its request shares the link with a publisher.
      const busyLat: number[] = []
      let bulk = true
      const busyRequests = (async () => {
        while (bulk) {
          const t = performance.now()
          try {
            await a.request('bench.echo', PAYLOAD, { timeoutMs: 5000 })
            busyLat.push(performance.now() - t)
          } catch {
            busyLat.push(5000)
          }
          await sleep(10)
        }
      })()
      const t0 = performance.now()
      let rtt = 0
      let cwnd = 0
      let maxQueue = 0
      probeRtt.length = 0
      for (let i = 0; i < COUNT; i++) {
        const p = a.publish('bench.data', PAYLOAD)
        // Like the bench publisher: yield every 256 messages; wait when the link pushes back.
        if ((i & 255) === 255) {
          maxQueue = Math.max(maxQueue, a.queueDepth(nb.nodeId)?.count ?? 0)
          await p
          await tick()
          if ((i & 0xffff) === 0xffff) {
            rtt = raw.rawStream.rtt
            cwnd = raw.rawStream.cwnd
          }
        }
      }
      const stop = Date.now() + 60_000
      let got = (await ask()) - base
      while (got < COUNT && Date.now() < stop) {
        await sleep(1)
        got = (await ask()) - base
      }
      const s = (performance.now() - t0) / 1000
      bulk = false
      await busyRequests
      busyLat.sort((x, y) => x - y)
      const bq = (q: number) => (busyLat[Math.floor((busyLat.length * q) / 100)] ?? Number.NaN).toFixed(1)
      const elu = performance.eventLoopUtilization(elu0)
      const cpu = process.cpuUsage(cpu0)
      const probes = [...probeRtt].sort((x, y) => x - y)
      const pq = (q: number) => (probes[Math.floor((probes.length * q) / 100)] ?? Number.NaN).toFixed(1)
      const writes = c.writes - w0.writes
      const bytes = c.bytes - w0.bytes
      console.log(
        `throughput ${Math.round(got / s)} msgs/s (${got}/${COUNT})  writes ${writes} (${(COUNT / writes).toFixed(1)} msgs/write, ${Math.round(bytes / writes)} B/write)  A elu ${(elu.utilization * 100).toFixed(0)}% cpu ${Math.round((cpu.user + cpu.system) / 10 / (s * 1000))}%  udx rtt ${rtt} cwnd ${cwnd}  queue max ${maxQueue}  probe rtt p50 ${pq(50)} ms max ${pq(100 - 1e-9)} ms (${probes.length})  request during bulk p50 ${bq(50)} ms max ${bq(100 - 1e-9)} ms (${busyLat.length})`,
      )
      const lat: number[] = []
      for (let i = 0; i < 3000; i++) {
        const t = performance.now()
        await a.request('bench.echo', PAYLOAD, { timeoutMs: 5000 })
        if (i >= 500) lat.push((performance.now() - t) * 1000)
      }
      lat.sort((x, y) => x - y)
      const pct = (p: number) => lat[Math.floor((lat.length * p) / 100)]!.toFixed(0)
      console.log(`request/reply p50 ${pct(50)} µs p99 ${pct(99)} µs`)
    }
    clearInterval(probeTimer)
    // The same round trip without the bus: one message echoed on the link's stream, and one datagram (no
    // stream, no acks): what the transport itself costs per request/reply.
    link.addChannel('echo')
    const roundTrips = async (send: () => void, event: 'message' | 'datagram'): Promise<string> => {
      const l: number[] = []
      for (let i = 0; i < 3000; i++) {
        const t = performance.now()
        await new Promise<void>((resolve) => {
          const on = (first: unknown) => {
            if (event === 'message' && first !== 'echo') return
            link.off(event, on)
            resolve()
          }
          link.on(event, on)
          send()
        })
        if (i >= 500) l.push((performance.now() - t) * 1000)
      }
      l.sort((x, y) => x - y)
      return `p50 ${l[Math.floor(l.length / 2)]!.toFixed(0)} µs p99 ${l[Math.floor(l.length * 0.99)]!.toFixed(0)} µs`
    }
    const streamEcho = await roundTrips(() => link.send('echo', PAYLOAD), 'message')
    const datagramEcho = await roundTrips(() => link.sendDatagram(PAYLOAD), 'datagram')
    console.log(`link stream echo ${streamEcho}; datagram echo ${datagramEcho} (256 bytes, sequential)`)
    a.close()
  } finally {
    kid.send({ q: 'exit' })
    await Promise.race([once(kid, 'exit'), sleep(3000)])
    if (kid.exitCode === null) kid.kill()
    await links.close()
    await net.destroy()
  }
}

const at = process.argv.indexOf('--child')
if (at >= 0) await child(JSON.parse(process.argv[at + 1]!) as ChildSetup)
else await parent()
