// A misbehaving peer costs exactly one link: random bytes, truncated frames, oversize frames, frames out of
// order, silence after the handshake and no handshake at all each close that peer's link with a counted
// reason, while the router's link to a well-behaved peer keeps carrying messages. The misbehaving peer is a
// raw Noise connection writing whatever bytes the test chooses.

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type NoiseSecretStream from '@hyperswarm/secret-stream'
import { LocalTestnet } from '../../src/discovery/testnet.js'
import {
  decodeFrame,
  encodeFrame,
  type Frame,
  FrameType,
  type LinkManager,
  type LinkReason,
  MAX_DATAGRAM_BYTES,
  type PeerLink,
} from '../../src/transport/index.js'
import { counterValue, TestFederation, type TestNode } from '../../src/transport/testing.js'

const within = (ms: number) => ({ signal: AbortSignal.timeout(ms) })
const MAX_FRAME = 64 * 1024

let net: LocalTestnet
const fed = new TestFederation()
const alice = fed.node('alice')
const bob = fed.node('bob')
let la: LinkManager
let lb: LinkManager
let aliceToBob: PeerLink
let bobToAlice: PeerLink
const extra: LinkManager[] = []

before(async () => {
  net = await LocalTestnet.create()
  la = fed.linkManager(alice, { maxFrameBytes: MAX_FRAME })
  lb = fed.linkManager(bob)
  const [ca, cb] = await net.connectionPair(alice.keyPair, bob.keyPair)
  const up = Promise.all([once(la, 'link-up', within(5000)), once(lb, 'link-up', within(5000))])
  la.accept(ca)
  lb.accept(cb)
  const [[, l1], [, l2]] = await up
  aliceToBob = l1 as PeerLink
  bobToAlice = l2 as PeerLink
})
after(async () => {
  await Promise.all([la.close(), lb.close(), ...extra.map((m) => m.close())])
  await net.destroy()
})

/** The good link still carries messages both ways. */
async function goodLinkWorks(): Promise<void> {
  assert.equal(aliceToBob.state, 'up')
  for (const [from, to] of [
    [aliceToBob, bobToAlice],
    [bobToAlice, aliceToBob],
  ] as const) {
    const token = randomBytes(8).toString('hex')
    const got = once(to.channel('bus'), 'message', within(3000))
    from.send('bus', Buffer.from(token))
    assert.equal(Buffer.from(((await got) as [Uint8Array])[0]).toString(), token)
  }
}

interface Mallory {
  node: TestNode
  conn: NoiseSecretStream
  link: PeerLink
  /** Frames alice sent to mallory, decoded. */
  received: Frame[]
  send(f: Frame | Uint8Array): void
}

/** A raw peer connected to `manager`'s node; with handshake: true it completes HELLO/READY correctly first. */
async function mallory(manager: LinkManager, self: TestNode, handshake: boolean): Promise<Mallory> {
  const node = fed.node('mallory')
  const [conn, theirs] = await net.connectionPair(node.keyPair, self.keyPair)
  const received: Frame[] = []
  conn.on('data', (d: Uint8Array) => received.push(decodeFrame(d)))
  // Like any stream peer, mallory ends its side when alice ends hers (so closes take no grace period).
  conn.on('end', () => conn.end())
  const link = manager.accept(theirs)
  assert.ok(link)
  const send = (f: Frame | Uint8Array) => {
    conn.write(f instanceof Uint8Array ? f : encodeFrame(f))
  }
  if (handshake) {
    send({ type: 'hello', version: 1, certificate: node.certificateBytes, maxFrameBytes: 1024 * 1024 })
    send({ type: 'ready' })
    await link.whenUp()
  }
  return { node, conn, link, received, send }
}

/** The raw stream's close (it errors first when alice resets it, which events.once would reject on). */
function closeOf(conn: NoiseSecretStream): Promise<void> {
  return new Promise((resolve, reject) => {
    if (conn.destroyed) return resolve()
    const timer = setTimeout(() => reject(new Error('raw connection did not close within 5 s')), 5000)
    conn.once('close', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

async function closedWith(m: Mallory, reason: LinkReason): Promise<void> {
  const [got] = m.link.state === 'closed' ? [m.link.closeReason] : await once(m.link, 'close', within(5000))
  assert.equal(got, reason)
  // The peer is told why before the stream ends.
  await closeOf(m.conn)
  assert.deepEqual(m.received.at(-1), { type: 'close', reason })
}

describe('malformed frames on an up link close that link only', () => {
  const cases: Array<[string, LinkReason, () => Uint8Array]> = [
    ['random bytes', 'malformed_frame', () => Uint8Array.from([0xf3, ...randomBytes(200)])],
    [
      'a truncated DATA frame (cut inside the channel name)',
      'malformed_frame',
      () => encodeFrame({ type: 'data', channel: 'bus', payload: randomBytes(50) }).subarray(0, 3),
    ],
    [
      'a DATA frame naming an invalid channel',
      'malformed_frame',
      () => Uint8Array.from([FrameType.DATA, 2, 0x2e, 0x2e, 1, 2]),
    ],
    [
      'a frame over the frame-size limit',
      'oversize_frame',
      () => encodeFrame({ type: 'data', channel: 'bus', payload: new Uint8Array(MAX_FRAME + 1) }),
    ],
    [
      'a second HELLO',
      'protocol_violation',
      () => encodeFrame({ type: 'hello', version: 1, certificate: new Uint8Array(10), maxFrameBytes: 65536 }),
    ],
  ]
  for (const [what, reason, bytes] of cases) {
    it(`${what}: closed with ${reason}, counted, other link unaffected`, async () => {
      const before = await counterValue(la.metrics.closed, { reason })
      const m = await mallory(la, alice, true)
      assert.equal(la.get(m.node.nodeId), m.link)
      const down = once(la, 'link-down', within(5000))
      m.send(bytes())
      await closedWith(m, reason)
      assert.deepEqual(await down, [m.node.nodeId, reason])
      assert.equal(await counterValue(la.metrics.closed, { reason }), before + 1)
      assert.equal(la.get(m.node.nodeId), undefined)
      await goodLinkWorks()
    })
  }

  it('a DATA frame on a channel alice does not know is dropped and counted, the link stays', async () => {
    const m = await mallory(la, alice, true)
    const before = await counterValue(la.metrics.dropped, { reason: 'unknown_channel' })
    m.send({ type: 'data', channel: 'not-registered', payload: new Uint8Array(3) })
    m.send({ type: 'ping', nonce: 7 })
    // The PONG proves the DATA frame before it was processed (frames are handled in order).
    while (!m.received.some((f) => f.type === 'pong' && f.nonce === 7))
      await once(m.conn, 'data', within(3000))
    assert.equal(await counterValue(la.metrics.dropped, { reason: 'unknown_channel' }), before + 1)
    assert.equal(m.link.state, 'up')
    m.link.close()
  })
})

describe('misbehaviour before the handshake is a refusal', () => {
  const cases: Array<[string, LinkReason, (self: TestNode) => Uint8Array]> = [
    ['random bytes instead of a HELLO', 'malformed_frame', () => Uint8Array.from([0x99, ...randomBytes(64)])],
    [
      'DATA before HELLO',
      'protocol_violation',
      () => encodeFrame({ type: 'data', channel: 'bus', payload: new Uint8Array(4) }),
    ],
    [
      'a first frame over the limit',
      'oversize_frame',
      () => new Uint8Array(MAX_FRAME + 100).fill(FrameType.HELLO),
    ],
    [
      'a HELLO of an unknown link version',
      'unsupported_version',
      () =>
        encodeFrame({
          type: 'hello',
          version: 2,
          certificate: fed.node('x').certificateBytes,
          maxFrameBytes: 65536,
        }),
    ],
    [
      'a HELLO whose certificate is garbage',
      'malformed_certificate',
      () => encodeFrame({ type: 'hello', version: 1, certificate: randomBytes(120), maxFrameBytes: 65536 }),
    ],
  ]
  for (const [what, reason, bytes] of cases) {
    it(`${what}: refused with ${reason}`, async () => {
      const before = await counterValue(la.metrics.rejected, { reason })
      const m = await mallory(la, alice, false)
      const refused = once(la, 'rejected', within(5000))
      m.send(bytes(m.node))
      await closedWith(m, reason)
      assert.equal(((await refused) as [LinkReason])[0], reason)
      assert.equal(await counterValue(la.metrics.rejected, { reason }), before + 1)
      await goodLinkWorks()
    })
  }

  it('a peer that never sends its certificate is refused after the hello timeout', async () => {
    const carol = fed.node('carol')
    const lc = fed.linkManager(carol, { helloTimeoutMs: 300 })
    extra.push(lc)
    const t0 = performance.now()
    const m = await mallory(lc, carol, false)
    await closedWith(m, 'hello_timeout')
    const ms = performance.now() - t0
    assert.ok(ms >= 250 && ms < 3000, `refused after ${ms} ms`)
    assert.equal(await counterValue(lc.metrics.rejected, { reason: 'hello_timeout' }), 1)
  })
})

describe('datagrams', () => {
  /** Polls a counter until it reaches `want` (datagrams are delivered asynchronously; bounded). */
  async function counted(
    metric: LinkManager['metrics']['dropped'],
    reason: string,
    want: number,
  ): Promise<void> {
    for (let i = 0; i < 100 && (await counterValue(metric, { reason })) < want; i++) await sleep(20)
    assert.equal(await counterValue(metric, { reason }), want)
  }

  it('an empty or oversize datagram is dropped and counted; the link stays and takes good ones', async () => {
    const m = await mallory(la, alice, true)
    const delivered: string[] = []
    m.link.on('datagram', (d) => delivered.push(Buffer.from(d).toString()))
    const before = await counterValue(la.metrics.dropped, { reason: 'malformed_datagram' })
    m.conn.trySend(new Uint8Array(0))
    m.conn.trySend(new Uint8Array(MAX_DATAGRAM_BYTES + 1))
    await counted(la.metrics.dropped, 'malformed_datagram', before + 2)
    for (let i = 0; i < 50 && delivered.length === 0; i++) {
      m.conn.trySend(Buffer.from('fine'))
      await sleep(20)
    }
    assert.equal(delivered[0], 'fine')
    assert.equal(m.link.state, 'up')
    m.link.close()
  })

  it('datagrams during the handshake wait for the link to come up; past eight they are dropped and counted', async () => {
    const before = await counterValue(la.metrics.dropped, { reason: 'datagram_before_up' })
    const m = await mallory(la, alice, false)
    const delivered: string[] = []
    m.link.on('datagram', (d) => delivered.push(Buffer.from(d).toString()))
    for (let i = 0; i < 10; i++) m.conn.trySend(Buffer.from(`early ${i}`))
    await counted(la.metrics.dropped, 'datagram_before_up', before + 2)
    assert.equal(m.link.state, 'handshaking')
    assert.deepEqual(delivered, [])
    m.send({ type: 'hello', version: 1, certificate: m.node.certificateBytes, maxFrameBytes: 1024 * 1024 })
    m.send({ type: 'ready' })
    await m.link.whenUp()
    assert.deepEqual(
      delivered,
      Array.from({ length: 8 }, (_, i) => `early ${i}`),
    )
    m.link.close()
  })

  it('datagrams keep a link alive without keepalive pings; silence after them is still fatal', async () => {
    const gail = fed.node('gail')
    const lg = fed.linkManager(gail, { keepAliveIntervalMs: 100, deadAfterMs: 500 })
    extra.push(lg)
    const m = await mallory(lg, gail, true)
    const timer = setInterval(() => m.conn.trySend(Buffer.from('probe')), 40)
    await sleep(1200)
    clearInterval(timer)
    assert.equal(m.link.state, 'up', 'datagrams count as the peer being there')
    const pings = m.received.filter((f) => f.type === 'ping').length
    assert.ok(pings <= 1, `${pings} pings while datagrams arrived`)
    const [, reason] = (await once(lg, 'link-down', within(5000))) as [string, LinkReason]
    assert.equal(reason, 'keepalive_timeout')
    assert.ok(
      m.received.filter((f) => f.type === 'ping').length >= pings + 2,
      'pings once the datagrams stopped',
    )
  })
})

describe('keepalive', () => {
  it('declares a peer that went silent after the handshake dead', async () => {
    const dave = fed.node('dave')
    const ld = fed.linkManager(dave, { keepAliveIntervalMs: 100, deadAfterMs: 500 })
    extra.push(ld)
    const m = await mallory(ld, dave, true)
    const t0 = performance.now()
    const [peer, reason] = (await once(ld, 'link-down', within(5000))) as [string, LinkReason]
    const ms = performance.now() - t0
    assert.equal(peer, m.node.nodeId)
    assert.equal(reason, 'keepalive_timeout')
    assert.ok(ms >= 400 && ms < 2000, `declared dead after ${ms} ms`)
    assert.ok(m.received.filter((f) => f.type === 'ping').length >= 3, 'pings were sent meanwhile')
    assert.equal(await counterValue(ld.metrics.closed, { reason: 'keepalive_timeout' }), 1)
  })

  it('keeps a link whose peer answers, and measures its round-trip time', async () => {
    const erin = fed.node('erin')
    const frank = fed.node('frank')
    const le = fed.linkManager(erin, { keepAliveIntervalMs: 100, deadAfterMs: 500 })
    const lf = fed.linkManager(frank, { keepAliveIntervalMs: 100, deadAfterMs: 500 })
    extra.push(le, lf)
    const [c1, c2] = await net.connectionPair(erin.keyPair, frank.keyPair)
    const up = once(le, 'link-up', within(5000))
    le.accept(c1)
    lf.accept(c2)
    const [, link] = (await up) as [string, PeerLink]
    await new Promise((r) => setTimeout(r, 1200))
    assert.equal(link.state, 'up')
    assert.ok(link.rttMs !== null && link.rttMs >= 0 && link.rttMs < 500, `rtt ${link.rttMs}`)
  })
})
