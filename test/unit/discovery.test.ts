// Discovery on loopback: routers on one federation topic find each other through a private DHT; static
// peers connect with no DHT at all and are redialled when the connection drops; a node in bootstrap mode
// serves the DHT (bootstrapper + extra nodes) for the others; and routers started while the bootstrap is
// unreachable connect once it comes up (no error is ever raised for that case, so this is the test that
// the health loop does its job).

import assert from 'node:assert/strict'
import dgram from 'node:dgram'
import { once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import {
  type ConnectionInfo,
  Discovery,
  type DiscoveryOptions,
  deriveTopic,
  FederationDhtNodes,
  type PeerConnection,
} from '../../src/discovery/index.js'
import { LocalTestnet } from '../../src/discovery/testnet.js'
import { generateKeyPair, type KeyPair } from '../../src/identity/index.js'

const within = (ms: number) => ({ signal: AbortSignal.timeout(ms) })
const topic = deriveTopic('fed_discoverytestaaaa', Buffer.alloc(32, 1))
const FAST = {
  refreshIntervalMs: 300,
  offlineRetryMinMs: 200,
  offlineRetryMaxMs: 1000,
  staticRetryMinMs: 100,
  staticRetryMaxMs: 1000,
  closeTimeoutMs: 2000,
}

const open: Discovery[] = []
const closeAll = () => Promise.all(open.splice(0).map((d) => d.close()))
after(closeAll)

function discovery(keyPair: KeyPair, opts: Partial<DiscoveryOptions>): Discovery {
  const d = new Discovery({ keyPair, topic, ...FAST, ...opts })
  open.push(d)
  return d
}

/** The first connection `d` gets to `key`. */
function connectionTo(d: Discovery, key: Buffer, ms = 10_000): Promise<[PeerConnection, ConnectionInfo]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no connection to ${key.toString('hex').slice(0, 8)} within ${ms} ms`)),
      ms,
    )
    const on = (conn: PeerConnection, info: ConnectionInfo) => {
      if (!conn.remotePublicKey.equals(key)) return
      clearTimeout(timer)
      d.off('connection', on)
      resolve([conn, info])
    }
    d.on('connection', on)
  })
}

/** A UDP port on 127.0.0.1 with `count` free ports from it (checked by binding them). */
async function freePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 30_000 + Math.floor(Math.random() * 30_000)
    const socks: dgram.Socket[] = []
    let ok = true
    for (let i = 0; i < count && ok; i++) {
      const s = dgram.createSocket('udp4')
      socks.push(s)
      ok = await new Promise<boolean>((resolve) => {
        s.once('error', () => resolve(false))
        s.bind(base + i, '127.0.0.1', () => resolve(true))
      })
    }
    await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))))
    if (ok) return base
  }
  throw new Error('no free UDP port range found')
}

describe('discovery on a private DHT', () => {
  let net: LocalTestnet
  before(async () => {
    net = await LocalTestnet.create()
  })
  after(async () => {
    // Routers first: closing them unannounces from the testnet, which must still be there.
    await closeAll()
    await net.destroy()
  })

  it('two routers on the federation topic find each other', async () => {
    const ka = generateKeyPair()
    const kb = generateKeyPair()
    const a = discovery(ka, net.discoveryOptions())
    const b = discovery(kb, net.discoveryOptions())
    const t0 = performance.now()
    // Both may dial at once; hyperswarm then destroys one of the two connections ('Duplicate connection').
    const all: PeerConnection[] = []
    a.on('connection', (c) => all.push(c))
    b.on('connection', (c) => all.push(c))
    const ab = connectionTo(a, kb.publicKey)
    const ba = connectionTo(b, ka.publicKey)
    await Promise.all([a.start(), b.start()])
    const [[, infoA]] = await Promise.all([ab, ba])
    const ms = Math.round(performance.now() - t0)
    assert.equal(infoA.origin, 'topic')
    await new Promise((r) => setTimeout(r, 500))
    const alive = all.filter((c) => !c.destroyed)
    const connA = alive.find((c) => c.remotePublicKey.equals(kb.publicKey))
    const connB = alive.find((c) => c.remotePublicKey.equals(ka.publicKey))
    assert.ok(connA && connB, 'one connection survives on each side')
    // Noise authenticated the keys: the secret streams carry data end to end.
    const got = once(connB, 'data', within(3000))
    connA.write(Buffer.from('ping'))
    assert.equal(Buffer.from(((await got) as [Buffer])[0]).toString(), 'ping')
    assert.equal(a.status().state, 'online')
    assert.ok(a.status().connections >= 1)
    console.log(`# routers connected in ${ms} ms`)
  })

  it('a router on another topic is not found', async () => {
    const kc = generateKeyPair()
    const kd = generateKeyPair()
    const c = discovery(kc, {
      ...net.discoveryOptions(),
      topic: deriveTopic('fed_discoverytestaaaa', Buffer.alloc(32, 2)),
    })
    const d = discovery(kd, net.discoveryOptions())
    let crossed = 0
    c.on('connection', () => crossed++)
    await Promise.all([c.start(), d.start()])
    await new Promise((r) => setTimeout(r, 1500))
    assert.equal(crossed, 0)
  })
})

describe('static peers', () => {
  it('are dialled directly with no DHT at all, and redialled when the connection drops', async () => {
    const ka = generateKeyPair()
    const kb = generateKeyPair()
    const port = await freePorts(1)
    const a = discovery(ka, { bootstrap: [], bindHost: '127.0.0.1', port })
    await a.start()
    assert.equal(a.status().localAddress?.port, port)
    const b = discovery(kb, {
      bootstrap: [],
      bindHost: '127.0.0.1',
      port: port + 1,
      staticPeers: [`${ka.publicKey.toString('hex')}@127.0.0.1:${port}`],
    })
    const first = connectionTo(b, ka.publicKey)
    const incoming = connectionTo(a, kb.publicKey)
    await b.start()
    const [conn, info] = await first
    assert.equal(info.origin, 'static')
    assert.equal(info.initiator, true)
    const [theirs] = await incoming
    assert.equal(conn.rawStream?.remotePort, port, 'went straight to the configured address')

    const again = connectionTo(b, ka.publicKey)
    theirs.destroy()
    const [conn2, info2] = await again
    assert.notEqual(conn2, conn)
    assert.equal(info2.origin, 'static')
  })
})

describe('bootstrap mode', () => {
  it('runs the bootstrapper and extra DHT nodes, and other routers find each other through them', async () => {
    const port = await freePorts(3)
    const boot = `127.0.0.1:${port}`
    const ka = generateKeyPair()
    const kb = generateKeyPair()
    const a = discovery(ka, {
      bootstrap: [boot],
      bindHost: '127.0.0.1',
      bootstrapNode: { host: '127.0.0.1', port, extraNodes: 2 },
    })
    const b = discovery(kb, { bootstrap: [boot], bindHost: '127.0.0.1', port: port + 10 })
    const ab = connectionTo(a, kb.publicKey)
    await a.start()
    assert.deepEqual(
      a.status().federationDhtNodes.map((n) => n.port),
      [port, port + 1, port + 2],
    )
    await b.start()
    await ab
  })

  it('refuses a host that is not a literal IPv4 address, and a port already taken', async () => {
    await assert.rejects(FederationDhtNodes.start({ host: 'localhost', port: 40000 }), {
      code: 'INVALID_OPTIONS',
    })
    const port = await freePorts(2)
    const sock = dgram.createSocket('udp4')
    await new Promise<void>((r) => sock.bind(port + 1, '127.0.0.1', () => r()))
    try {
      await assert.rejects(
        FederationDhtNodes.start({ host: '127.0.0.1', bindHost: '127.0.0.1', port, extraNodes: 1 }),
        { code: 'BIND_FAILED' },
      )
    } finally {
      sock.close()
    }
  })
})

describe('bootstrap unreachable at start', () => {
  it('routers connect once the bootstrap node comes up, without being restarted', async () => {
    const port = await freePorts(3)
    const boot = `127.0.0.1:${port}`
    const ka = generateKeyPair()
    const kb = generateKeyPair()
    const a = discovery(ka, { bootstrap: [boot], bindHost: '127.0.0.1', port: port + 10 })
    const b = discovery(kb, { bootstrap: [boot], bindHost: '127.0.0.1', port: port + 11 })
    const ab = connectionTo(a, kb.publicKey, 40_000)
    const ba = connectionTo(b, ka.publicKey, 40_000)
    await Promise.all([a.start(), b.start()])
    // hyperdht "bootstraps" against nothing in ~6 s and reports no error; we wait for that state.
    const deadline = performance.now() + 15_000
    while (a.status().state !== 'offline' && performance.now() < deadline)
      await new Promise((r) => setTimeout(r, 100))
    assert.equal(a.status().state, 'offline')
    assert.equal(a.status().publicAddress, null)

    const online = once(a, 'online', within(30_000))
    const nodes = await FederationDhtNodes.start({
      host: '127.0.0.1',
      bindHost: '127.0.0.1',
      port,
      extraNodes: 2,
    })
    try {
      const t0 = performance.now()
      await online
      await Promise.all([ab, ba])
      console.log(`# connected ${Math.round(performance.now() - t0)} ms after the bootstrap node came up`)
    } finally {
      await a.close()
      await b.close()
      await nodes.close({ bootstrapper: true })
    }
  })
})

describe('peers lost after hyperswarm gave up on them', () => {
  let net: LocalTestnet
  before(async () => {
    net = await LocalTestnet.create()
  })
  after(async () => {
    await closeAll()
    await net.destroy()
  })

  // A partition longer than hyperswarm's redials leaves both sides with attempts > 3: neither dials again
  // until a lookup finds the other. Here the give-up is set directly on both peer records, then the
  // connection is cut, as a partition would.
  async function cutAfterGiveUp(
    opts: Partial<DiscoveryOptions>,
  ): Promise<{ back: Promise<unknown>; a: Discovery }> {
    const ka = generateKeyPair()
    const kb = generateKeyPair()
    const a = discovery(ka, { ...net.discoveryOptions(), provenConnectionMs: 100, ...opts })
    const b = discovery(kb, { ...net.discoveryOptions(), provenConnectionMs: 100, ...opts })
    const ab = connectionTo(a, kb.publicKey)
    await Promise.all([a.start(), b.start()])
    await ab
    await new Promise((r) => setTimeout(r, 500))
    type Swarm = { peers: Map<string, { attempts: number }> }
    for (const [d, k] of [
      [a, kb],
      [b, ka],
    ] as const) {
      const info = (d as unknown as { swarm: Swarm }).swarm.peers.get(k.publicKey.toString('hex'))
      if (info) info.attempts = 4
    }
    const back = connectionTo(a, kb.publicKey, 6000)
    for (const d of [a, b])
      for (const set of (d as unknown as { open: Map<string, Set<PeerConnection>> }).open.values())
        for (const c of set) c.destroy()
    return { back, a }
  }

  it('are looked up again (with backoff) and reconnect', async () => {
    const { back, a } = await cutAfterGiveUp({ lostRetryMinMs: 300, lostRetryMaxMs: 1000 })
    await back
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(a.lostPeers, 0)
  })

  it('without the re-query they stay apart (the failure this guards against)', async () => {
    const { back, a } = await cutAfterGiveUp({ lostRetryMinMs: 600_000, lostRetryMaxMs: 600_000 })
    await assert.rejects(back, /no connection/)
    assert.equal(a.lostPeers, 1)
  })
})

describe('close when the DHT is gone', () => {
  it('a router whose DHT went away first still closes within about closeTimeoutMs', async () => {
    const net = await LocalTestnet.create()
    const ka = generateKeyPair()
    const kb = generateKeyPair()
    const a = new Discovery({ keyPair: ka, topic, ...FAST, closeTimeoutMs: 300, ...net.discoveryOptions() })
    const b = new Discovery({ keyPair: kb, topic, ...FAST, ...net.discoveryOptions() })
    const linked = connectionTo(a, kb.publicKey)
    await Promise.all([a.start(), b.start()])
    await linked
    // The whole site powers down at once: the DHT nodes and the other router go first.
    await b.close()
    await net.destroy()
    const t0 = performance.now()
    await a.close()
    const ms = performance.now() - t0
    assert.ok(ms < 1500, `close took ${Math.round(ms)} ms`)
  })
})
