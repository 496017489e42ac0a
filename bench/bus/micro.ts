// Micro-benchmark of the bus hot path in one process, 256-byte payloads: envelope encode and decode, the
// batch frame around them, and whole routers joined by in-memory links (publish → queue → batch frame →
// receive → decode → deliver), one hop and two hops (with forwarding), plus sequential request/reply.
// No crypto and no sockets: this is the bus's own cost, the ceiling the real path divides.
// Rates are per second of this process's CPU time (user + system), which stays meaningful on a shared,
// busy machine where wall-clock rates swing with other jobs; wall-clock rates are printed alongside.
//
//   node --import tsx bench/bus/micro.ts [--count N] [--runs R]

import { performance } from 'node:perf_hooks'
import {
  type BusLink,
  BusRouter,
  decodeEnvelope,
  decodeEnvelopeAt,
  encodeEnvelope,
  forEachInBatch,
  makeEnvelope,
  writeBatch,
} from '../../src/bus/index.js'

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : def
}
const COUNT = arg('count', 500_000)
const RUNS = arg('runs', 5)
const PAYLOAD = new Uint8Array(256).fill(0x61)

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(0)}k`)

/** Starts a measurement; the returned function gives [per CPU second, per wall second] for `n` items. */
function measure(): (n: number) => [number, number] {
  const cpu = process.cpuUsage()
  const wall = performance.now()
  return (n) => {
    const used = process.cpuUsage(cpu)
    return [n / ((used.user + used.system) / 1e6), n / ((performance.now() - wall) / 1000)]
  }
}

function report(name: string, rates: [number, number][]): void {
  const cpu = rates.map((r) => r[0])
  const wall = rates.map((r) => r[1])
  console.log(
    `${name.padEnd(34)} ${fmt(median(cpu)).padStart(7)} msgs/cpu-s   wall ${fmt(median(wall)).padStart(7)} msgs/s   (cpu runs: ${cpu.map(fmt).join(' ')})`,
  )
}

const env = makeEnvelope({
  srcNode: 'node_aaaaaaaaaaaaaaaa',
  srcAgent: 'publisher',
  to: ['node_bbbbbbbbbbbbbbbb'],
  subject: 'bench.data',
  epoch: 1234,
  seq: 1,
  timestamp: Date.now(),
  payload: PAYLOAD,
})

function benchCodec(): void {
  const enc: [number, number][] = []
  const dec: [number, number][] = []
  const batch: [number, number][] = []
  const bytes = encodeEnvelope(env)
  for (let r = 0; r < RUNS; r++) {
    let done = measure()
    for (let i = 0; i < COUNT; i++) encodeEnvelope(env)
    enc.push(done(COUNT))
    done = measure()
    let sink = 0
    for (let i = 0; i < COUNT; i++) sink += decodeEnvelope(bytes).payload.length
    dec.push(done(COUNT))
    // The router's per-message codec work on one link crossing: envelopes written straight into a batch
    // frame of 64 (writeBatch), the frame split and every envelope decoded on the other side.
    done = measure()
    const items = new Array(64).fill(env)
    const sizes = new Array(64).fill(bytes.length)
    for (let i = 0; i < COUNT; i += 64) {
      forEachInBatch(writeBatch(items, sizes, 64), 1 << 21, (buf, s, e) => {
        sink += decodeEnvelopeAt(buf, s, e).seq
      })
    }
    batch.push(done(COUNT))
    if (sink === 42) console.log('')
  }
  console.log(`# envelope: ${bytes.length} bytes for a 256-byte payload`)
  report('envelope encode (checked, own buffer)', enc)
  report('envelope decode', dec)
  report('write into batch + split + decode', batch)
}

/** A link that hands frames straight to the other router (synchronously, as a socket's data event would). */
function wire(a: BusRouter, b: BusRouter): void {
  const link = (from: BusRouter, to: BusRouter): BusLink => ({
    peerId: to.nodeId,
    send: (frame) => {
      to.receive(from.nodeId, frame)
      return true
    },
    onDrain: () => {},
  })
  a.addLink(link(a, b))
  b.addLink(link(b, a))
}

function mesh(names: string[]): BusRouter[] {
  // A line: every node reaches the others through its neighbour towards them.
  const idx = new Map(names.map((n, i) => [n, i]))
  const routers = names.map(
    (name, i) =>
      new BusRouter({
        nodeId: name,
        nextHop: (node) => {
          const j = idx.get(node)
          if (j === undefined || j === i) return null
          return names[j > i ? i + 1 : i - 1]!
        },
      }),
  )
  for (let i = 0; i + 1 < routers.length; i++) wire(routers[i]!, routers[i + 1]!)
  return routers
}

const tick = () => new Promise<void>((r) => setImmediate(r))

async function benchRouting(hops: number): Promise<[number, number][]> {
  const rates: [number, number][] = []
  for (let r = 0; r < RUNS; r++) {
    const names = Array.from({ length: hops + 1 }, (_, i) => `node_${String.fromCharCode(97 + i).repeat(16)}`)
    const routers = mesh(names)
    const src = routers[0]!
    const dst = routers[hops]!
    let got = 0
    dst.subscribe('bench.data', () => got++)
    await tick()
    await tick()
    const done = measure()
    for (let i = 0; i < COUNT; i++) {
      await src.publish('bench.data', PAYLOAD)
      // Like the anchor harness's publisher: yield to the event loop every 256 messages.
      if ((i & 255) === 255) await tick()
    }
    while (got < COUNT) await tick()
    rates.push(done(COUNT))
    for (const x of routers) x.close()
  }
  return rates
}

async function benchRequests(): Promise<number[]> {
  const [a, b] = mesh(['node_aaaaaaaaaaaaaaaa', 'node_bbbbbbbbbbbbbbbb'])
  b!.subscribe('bench.echo', (req) => void b!.reply(req, req.payload))
  await tick()
  await tick()
  const lat: number[] = []
  for (let i = 0; i < 20_000; i++) {
    const t = performance.now()
    await a!.request('bench.echo', PAYLOAD)
    lat.push((performance.now() - t) * 1000)
  }
  a!.close()
  b!.close()
  return lat.slice(2000)
}

benchCodec()
report('route 1 hop (pub→A→B→sub)', await benchRouting(1))
report('route 2 hops (A→B→C, forwarding)', await benchRouting(2))
const lat = (await benchRequests()).sort((x, y) => x - y)
const pct = (p: number) => lat[Math.floor((lat.length * p) / 100)]!.toFixed(1)
console.log(
  `request/reply 1 hop, sequential     p50 ${pct(50)} µs  p99 ${pct(99)} µs  (in-process, setImmediate flush)`,
)
