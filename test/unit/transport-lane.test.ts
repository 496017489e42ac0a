// TCP lanes beside peer links (src/transport/lane.ts), with real links on a loopback HyperDHT testnet and
// real TCP: the lane comes up on its own when both ends have lanes, the bulk channel moves to it and the rest
// stays on the link, messages sent across the switch arrive once and in order, a lost lane sends the bus back
// to the link and is dialled again, and bad input on the lane port or on a lane closes that lane only, counted.
// The hold-until-SWITCH rule is also checked alone with a fake connection.

import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { connect } from 'node:net'
import { describe, it } from 'node:test'
import pino from 'pino'
import { Registry } from 'prom-client'
import {
  copyFill,
  dataFrameHead,
  decodeFrame,
  encodeFrame,
  type LinkManager,
  type PeerLink,
} from '../../src/transport/index.js'
import {
  decodeLaneControl,
  dialLane,
  encodeLaneControl,
  LANE_ECHO_MS,
  LANE_SWITCH_WAIT_MS,
  Lane,
  type LaneConnection,
  LaneServer,
} from '../../src/transport/lane.js'
import { createTransportMetrics } from '../../src/transport/metrics.js'
import { counterValue, type TestNode } from '../../src/transport/testing.js'
import { linkTestbed, until } from '../helpers/link-testbed.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const bed = linkTestbed()
const { fed } = bed

async function laned(
  name: string,
  lanes: { a: boolean; b: boolean } = { a: true, b: true },
): Promise<{ a: TestNode; b: TestNode; la: LinkManager; lb: LinkManager; toB: PeerLink; toA: PeerLink }> {
  const a = fed.node(`${name}-a`)
  const b = fed.node(`${name}-b`)
  const la = bed.manager(a, { lanes: lanes.a ? { keyPair: a.keyPair, port: 0 } : null })
  const lb = bed.manager(b, { lanes: lanes.b ? { keyPair: b.keyPair, port: 0 } : null })
  await Promise.all([la.listenLanes(), lb.listenLanes()])
  const [toB, toA] = await bed.link(a, la, b, lb)
  return { a, b, la, lb, toB, toA }
}

/** The lane's connection, for tests that break it on purpose. */
const laneConn = (l: PeerLink) => (l as unknown as { lane: Lane | null }).lane?.conn ?? null
const udxBytesWritten = (l: PeerLink) => (l.conn as unknown as { rawBytesWritten: number }).rawBytesWritten

/** Records numbered messages on a channel: count, and whether each was the one after the last. */
function numbered(link: PeerLink, channel: string) {
  const r = { count: 0, last: -1, ordered: true }
  link.channel(channel).on('message', (p) => {
    const i = Buffer.from(p).readUInt32BE(0)
    if (i !== r.last + 1) r.ordered = false
    r.last = i
    r.count++
  })
  return r
}

describe('TCP lanes', () => {
  it('come up by themselves, carry the bus and leave routing on the link; nothing lost or reordered across the switch', async () => {
    const { la, lb, toB, toA } = await laned('up')
    const got = numbered(toA, 'bus')
    // Sent from link-up on, through the lane's set-up: some go on the link, the rest on the lane.
    let sent = 0
    const payload = Buffer.alloc(200)
    const end = performance.now() + 5000
    while (!(toB.hasLane && sent >= 2000) && performance.now() < end) {
      payload.writeUInt32BE(sent++, 0)
      if (!toB.send('bus', payload)) await toB.drained()
      if (sent % 50 === 0) await sleep(1)
    }
    assert.ok(toB.hasLane && toA.hasLane, 'both ends have the lane')
    await until(() => got.count === sent)
    assert.ok(got.ordered, 'in order across the switch')
    assert.equal(await counterValue(la.metrics.lanes, { result: 'up' }), 1, 'the initiator dialled once')
    assert.equal(await counterValue(lb.metrics.lanes, { result: 'up' }), 1, 'the listener accepted once')
    await until(() => toA.laneDirect && toB.laneDirect)

    // 1 MB of bus data after the switch (on the lanes' direct path) does not touch the link's UDX stream;
    // routing data does.
    const before = udxBytesWritten(toB)
    const big = Buffer.alloc(100_000)
    for (let i = 0; i < 10; i++) {
      big.writeUInt32BE(sent++, 0)
      if (!toB.send('bus', big)) await toB.drained()
    }
    await until(() => got.count === sent)
    assert.ok(udxBytesWritten(toB) - before < 10_000, `link wrote ${udxBytesWritten(toB) - before} bytes`)
    const routed = new Promise<Uint8Array>((r) => toA.channel('routing').once('message', r))
    toB.send('routing', big)
    assert.equal((await routed).length, big.length)
    assert.ok(udxBytesWritten(toB) - before >= big.length, 'routing travelled on the link')
  })

  it('sendWith: payloads written in place arrive as sent, on the link (no lanes) and on the lane', async () => {
    // The fill callback uses working space past the payload (as a RUN frame's in-place build does); that space
    // never reaches the peer.
    const payloadOf = (i: number, n: number) => {
      const b = Buffer.alloc(n, i & 0xff)
      b.writeUInt32BE(i, 0)
      return b
    }
    for (const lanes of [false, true]) {
      const { toB, toA } = await laned(lanes ? 'with-lane' : 'with-link', { a: lanes, b: lanes })
      if (lanes) await until(() => toA.laneDirect && toB.laneDirect)
      const got: Buffer[] = []
      toA.channel('bus').on('message', (p) => got.push(Buffer.from(p)))
      const sizes = [10, 5000, 60_000, 300]
      for (let i = 0; i < 40; i++) {
        const body = payloadOf(i, sizes[i % sizes.length]!)
        const ok = toB.sendWith('bus', body.length, body.length + 64, (out, at) => {
          out.fill(0xee, at + body.length, at + body.length + 64)
          body.copy(out, at)
        })
        if (!ok) await toB.drained()
      }
      await until(() => got.length === 40)
      for (let i = 0; i < 40; i++)
        assert.ok(got[i]!.equals(payloadOf(i, sizes[i % sizes.length]!)), `message ${i} (lanes ${lanes})`)
      assert.equal(toB.hasLane, lanes)
    }
  })

  it('a lost lane sends the bus back to the link at once, and the initiator dials a new one', async () => {
    const { la, toB, toA } = await laned('lost')
    await until(() => toB.hasLane && toA.hasLane)
    const got = numbered(toA, 'bus')
    laneConn(toA)!.destroy()
    await until(() => !toB.hasLane && !toA.hasLane)
    const payload = Buffer.alloc(64)
    for (let i = 0; i < 100; i++) {
      payload.writeUInt32BE(i, 0)
      toB.send('bus', payload)
    }
    await until(() => got.count === 100)
    assert.ok(got.ordered)
    assert.equal(toB.state, 'up')
    assert.equal(toA.state, 'up')
    await until(() => toB.hasLane && toA.hasLane, 8000) // retried after ~2 s
    assert.equal(await counterValue(la.metrics.lanes, { result: 'up' }), 2)
    // Its end saw the TCP close or the peer's DROP on the link, whichever came first.
    const closedAt = async (reason: string) => counterValue(la.metrics.lanesClosed, { reason })
    assert.equal((await closedAt('lane_closed')) + (await closedAt('lane_dropped_by_peer')), 1)
  })

  it("when the initiator cannot reach the peer's lane port, the peer dials the initiator's instead", async () => {
    const a = fed.node('reverse-a')
    const b = fed.node('reverse-b')
    const la = bed.manager(a, { lanes: { keyPair: a.keyPair, port: 0 } })
    const lb = bed.manager(b, { lanes: { keyPair: b.keyPair, port: 0 } })
    await Promise.all([la.listenLanes(), lb.listenLanes()])
    // b offers a port nobody listens on (as a NAT would drop it): a's dial fails.
    ;(lb as unknown as { lanes: { server: { close(): void } } }).lanes.server.close()
    const [toB, toA] = await bed.link(a, la, b, lb)
    assert.ok(toB.isInitiator)
    await until(() => toB.hasLane && toA.hasLane, 8000)
    assert.equal(await counterValue(la.metrics.lanes, { result: 'dial_failed' }), 1)
    assert.equal((toA as unknown as { lane: Lane }).lane.initiator, true, 'b dialled')
    const got = numbered(toB, 'bus')
    toA.send('bus', Buffer.alloc(8))
    await until(() => got.count === 1)
  })

  it('no lane when one end has lanes off; the bus runs on the link', async () => {
    for (const lanes of [
      { a: true, b: false },
      { a: false, b: true },
    ]) {
      const { toB, toA } = await laned(`off-${lanes.a}`, lanes)
      const got = numbered(toA, 'bus')
      await sleep(300)
      toB.send('bus', Buffer.alloc(8))
      await until(() => got.count === 1)
      assert.ok(!toB.hasLane && !toA.hasLane)
    }
  })

  it('a malformed frame on a lane closes that lane only, counted; the link and its bus carry on', async () => {
    const { lb, toB, toA } = await laned('bad-frame')
    await until(() => toB.hasLane && toA.hasLane)
    laneConn(toB)!.write(Uint8Array.of(0xff, 1, 2, 3))
    await until(() => !toA.hasLane)
    assert.equal(await counterValue(lb.metrics.lanesClosed, { reason: 'lane_malformed_frame' }), 1)
    assert.equal(toA.state, 'up')
    const got = numbered(toA, 'bus')
    await until(() => !toB.hasLane)
    toB.send('bus', Buffer.alloc(8))
    await until(() => got.count === 1)
    // A link frame other than DATA, PING or PONG (a READY) on a lane is a protocol violation there.
    await until(() => toB.hasLane && toA.hasLane, 8000)
    laneConn(toB)!.write(encodeFrame({ type: 'ready' }))
    await until(() => !toA.hasLane)
    assert.equal(await counterValue(lb.metrics.lanesClosed, { reason: 'lane_protocol_violation' }), 1)
    assert.equal(toA.state, 'up')
  })

  it('the lane port refuses strangers: random bytes, an unknown link, the wrong key; links are undisturbed', async () => {
    const { b, la, lb, toB, toA } = await laned('strangers')
    await until(() => toB.hasLane && toA.hasLane)
    const port = lb.lanePort!
    // Random bytes instead of a Noise handshake: the connection is dropped.
    const sock = connect(port, '127.0.0.1')
    sock.on('error', () => {})
    await new Promise((r) => sock.once('connect', r))
    sock.write(Buffer.from(Array.from({ length: 2000 }, (_, i) => (i * 131) % 256)))
    await new Promise((r) => sock.once('close', r))
    const stranger = fed.node('strangers-x')
    const dial = (linkHash: Uint8Array, remotePublicKey: Uint8Array) =>
      dialLane({
        host: '127.0.0.1',
        port,
        keyPair: stranger.keyPair,
        remotePublicKey,
        linkHash,
        attach: () => true,
      })
    // A federation key, but no link with this hash: refused, counted.
    assert.deepEqual(await dial(Buffer.alloc(32, 7), b.keyPair.publicKey), {
      ok: false,
      error: 'refused by the peer',
    })
    assert.equal(await counterValue(lb.metrics.lanes, { result: 'refused_no_link' }), 1)
    // The real link's hash from a key that is not the link's peer: refused too.
    assert.equal((await dial(toA.conn.handshakeHash!, b.keyPair.publicKey)).ok, false)
    assert.equal(await counterValue(lb.metrics.lanes, { result: 'refused_no_link' }), 2)
    // Naming the wrong key for the listener fails the Noise handshake.
    assert.equal((await dial(toA.conn.handshakeHash!, stranger.keyPair.publicKey)).ok, false)
    assert.ok(toA.hasLane && toB.hasLane && toA.state === 'up')
    const got = numbered(toA, 'bus')
    toB.send('bus', Buffer.alloc(8))
    await until(() => got.count === 1)
    assert.equal(await counterValue(la.metrics.lanes, { result: 'up' }), 1)
  })
})

/** A lane connection without sockets: frames written by the test arrive as 'data'. */
class FakeConn extends EventEmitter implements LaneConnection {
  readonly remotePublicKey = Buffer.alloc(32, 1)
  readonly isInitiator = true
  readonly handshakeHash = Buffer.alloc(32, 9)
  destroyed = false
  paused = false
  readonly written: Uint8Array[] = []
  write(d: Uint8Array): boolean {
    this.written.push(d)
    return true
  }
  pause() {
    this.paused = true
  }
  resume() {
    this.paused = false
  }
  end() {}
  destroy() {
    this.destroyed = true
  }
}

/** A Lane on a fake connection: what it delivered (`channel:payload`) and the reasons it reported lost. */
function fakeLane(conn: FakeConn, dialled = false) {
  const delivered: string[] = []
  const lost: string[] = []
  const lane = new Lane(
    conn,
    {
      maxFrameBytes: 1 << 20,
      deliver: (ch, p) => delivered.push(`${ch}:${Buffer.from(p).toString()}`),
      heard: () => {},
      drained: () => {},
      lost: (_l, reason) => lost.push(reason),
    },
    dialled,
  )
  return { lane, delivered, lost }
}

describe('Lane (no sockets)', () => {
  it('holds frames until the peer switched, pausing the connection, then delivers them first and in order', () => {
    const conn = new FakeConn()
    const { lane, delivered, lost } = fakeLane(conn)
    const frame = (s: string) => encodeFrame({ type: 'data', channel: 'bus', payload: Buffer.from(s) })
    conn.emit('data', frame('1'))
    conn.emit('data', frame('2'))
    assert.deepEqual(delivered, [])
    assert.ok(conn.paused)
    lane.peerSwitched()
    assert.deepEqual(delivered, ['bus:1', 'bus:2'])
    assert.ok(!conn.paused)
    conn.emit('data', frame('3'))
    assert.deepEqual(delivered, ['bus:1', 'bus:2', 'bus:3'])
    // An oversize frame closes it, reported once.
    conn.emit('data', new Uint8Array((1 << 20) + 1))
    conn.emit('close')
    assert.deepEqual(lost, ['lane_oversize_frame'])
    assert.ok(conn.destroyed)
    assert.equal(lane.id, '09'.repeat(8))
  })

  it('frames repeating the last channel are read by their head; other channels, PINGs and bad frames still decode', () => {
    const conn = new FakeConn()
    const { lane, delivered, lost } = fakeLane(conn)
    lane.peerSwitched()
    const data = (ch: string, s: string) =>
      encodeFrame({ type: 'data', channel: ch, payload: Buffer.from(s) })
    for (const [ch, p] of [
      ['bus', 'a'],
      ['bus', 'b'],
      ['busy', 'c'], // the same first bytes as "bus", another channel
      ['bus', ''],
      ['events', 'd'],
      ['bus', 'e'],
    ] as const)
      conn.emit('data', data(ch, p))
    conn.emit('data', encodeFrame({ type: 'ping', nonce: 3 }))
    assert.deepEqual(delivered, ['bus:a', 'bus:b', 'busy:c', 'bus:', 'events:d', 'bus:e'])
    assert.deepEqual(
      conn.written.map((w) => decodeFrame(w)),
      [{ type: 'pong', nonce: 3 }],
      'the PING was answered, not taken for data',
    )
    // The head of a "bus" frame cut short after its type and length byte: malformed, the lane closes.
    conn.emit('data', data('bus', 'f').subarray(0, 3))
    assert.deepEqual(lost, ['lane_malformed_frame'])
    assert.deepEqual(delivered.length, 6)
  })

  it('a lane written to that hears nothing sends one PING, and closes if that goes unanswered too', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    const send = (l: Lane) => l.writeData(dataFrameHead('bus'), 1, 1, copyFill(Buffer.from('x')))
    const kinds = (c: FakeConn) => c.written.map((w) => decodeFrame(w).type)
    // Nothing ever comes back: PING after LANE_ECHO_MS, closed after as long again.
    const silent = new FakeConn()
    const { lane: silentLane, lost: lostSilent } = fakeLane(silent, true)
    send(silentLane)
    t.mock.timers.tick(LANE_ECHO_MS)
    assert.deepEqual(kinds(silent), ['data', 'ping'])
    assert.deepEqual(lostSilent, [])
    t.mock.timers.tick(LANE_ECHO_MS)
    assert.deepEqual(lostSilent, ['lane_unanswered'])
    assert.ok(silent.destroyed)
    // The PONG comes: the lane stays, and a peer that answers a PING gets its PONG.
    const answering = new FakeConn()
    const { lane: answeringLane, lost: lostAnswering } = fakeLane(answering, true)
    send(answeringLane)
    t.mock.timers.tick(LANE_ECHO_MS)
    answering.emit('data', encodeFrame({ type: 'pong', nonce: 1 }))
    answering.emit('data', encodeFrame({ type: 'ping', nonce: 7 }))
    t.mock.timers.tick(2 * LANE_ECHO_MS)
    assert.deepEqual(lostAnswering, [])
    assert.deepEqual(kinds(answering), ['data', 'ping', 'pong'])
    assert.deepEqual(decodeFrame(answering.written[2]!), { type: 'pong', nonce: 7 })
  })

  it('frames held for a SWITCH that never comes close the lane after LANE_SWITCH_WAIT_MS, delivered', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    const conn = new FakeConn()
    const { delivered, lost } = fakeLane(conn)
    conn.emit('data', encodeFrame({ type: 'data', channel: 'bus', payload: Buffer.from('1') }))
    t.mock.timers.tick(LANE_SWITCH_WAIT_MS - 1)
    assert.deepEqual(lost, [])
    t.mock.timers.tick(1)
    assert.deepEqual(lost, ['lane_no_switch'])
    assert.deepEqual(delivered, ['bus:1'], 'what was held is still the peer’s authenticated data')
  })

  it('a lane listener closed while it binds does not go on listening', async () => {
    const server = new LaneServer({
      keyPair: fed.node('closing').keyPair,
      port: 0,
      metrics: createTransportMetrics(new Registry()),
      logger: pino({ level: 'silent' }),
      bind: () => null,
    })
    const listening = server.listen()
    server.close()
    assert.equal(await listening, null)
  })

  it('lane control messages round-trip, and anything else is a DecodeError', () => {
    for (const c of [
      { op: 'offer', port: 51821 },
      { op: 'offer', port: 1 },
      { op: 'switch', id: '0011223344556677' },
      { op: 'drop', id: '8899aabbccddeeff' },
      { op: 'reverse' },
    ] as const) {
      assert.deepEqual(decodeLaneControl(encodeLaneControl(c)), c)
    }
    for (const bad of [[], [1, 0, 0], [1, 1], [2, 1, 2], [3, 0, 1], [1, 0, 1, 0]]) {
      assert.throws(() => decodeLaneControl(Uint8Array.from(bad)), { name: 'DecodeError' })
    }
  })
})
