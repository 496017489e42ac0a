// The daemon's side of one bus stream connection (src/agents/session.ts) over a fake socket and the fake-link
// mesh: a client publishing faster than the peer link carries is held back by not reading its socket while
// the bus is congested (a link queue backlogged), and read again once the queue drained; the link queue stays
// within its bounds and no send ever waits in the router's blocked-send list. Output: what one event-loop
// turn delivers goes to the client in one socket write, and a lone message is written in the turn it came.

import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, test } from 'node:test'
import { Registry } from 'prom-client'
import { AgentDirectory } from '../../src/agents/directory.js'
import { decodeFrame, encodeFrame, type Frame, FrameOut, FrameSplitter } from '../../src/agents/frames.js'
import { StreamMetrics } from '../../src/agents/metrics.js'
import { DEFAULT_SESSION_LIMITS, StreamSession } from '../../src/agents/session.js'
import { BusRouter, FrameKind } from '../../src/bus/index.js'
import { buildMesh, dec, enc } from './bus-harness.js'

/** Enough of a net.Socket for a session: chunks fed while paused wait, as a paused socket's would. */
class FakeSocket extends EventEmitter {
  paused = false
  pauses = 0
  destroyed = false
  writableLength = 0
  readonly written: Buffer[] = []
  private readonly waiting: Buffer[] = []

  feed(chunk: Buffer): void {
    if (this.paused) this.waiting.push(chunk)
    else this.emit('data', chunk)
  }

  get unread(): number {
    return this.waiting.length
  }

  pause(): this {
    if (!this.paused) this.pauses++
    this.paused = true
    return this
  }

  resume(): this {
    this.paused = false
    while (!this.paused && this.waiting.length > 0) this.emit('data', this.waiting.shift())
    return this
  }

  write(b: Buffer): boolean {
    this.written.push(b)
    return true
  }

  end(): void {}

  destroy(): void {
    this.destroyed = true
  }
}

/** A session of `bus` over a fake socket (returned), on the clock `now`. */
function openSession(bus: BusRouter, now: () => number): FakeSocket {
  const socket = new FakeSocket()
  new StreamSession(1, socket as unknown as Socket, {
    bus,
    directory: new AgentDirectory(bus),
    metrics: new StreamMetrics(),
    limits: DEFAULT_SESSION_LIMITS,
    dnsName: (n) => n,
    now,
  })
  return socket
}

/** One socket read's worth of `count` publishes to `subject`; payload i is made by `payload(i)`. */
function pubs(subject: string, count: number, payload: (i: number) => Uint8Array): Buffer {
  const out = new FrameOut()
  for (let i = 0; i < count; i++) out.write({ kind: 'pub', id: 0, priority: 0, subject, payload: payload(i) })
  return out.take()
}

const limits = { maxPayloadBytes: 1024, maxQueueCount: 64, maxQueueBytes: 64 * 1024, maxBatchBytes: 4096 }

describe('a stream session publishing faster than its link', () => {
  test('stops reading while the bus is congested and reads again when relieved; nothing waits in the router', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b', { latencyMs: 1, bytesPerMs: 100, bufferBytes: 2000 }]], {
      limits,
    })
    const got: number[] = []
    m.r('b').subscribe('load', (msg) => got.push(msg.payload[0]! | (msg.payload[1]! << 8)))
    await m.sched.advance(10)
    const a = m.r('a')
    const socket = openSession(a, () => m.sched.now)
    // 100 socket reads of 10 publishes each: 1000 messages, far more than the link queue (64) holds.
    const N = 1000
    for (let c = 0; c < N / 10; c++) {
      socket.feed(
        pubs('load', 10, (j) => {
          const i = c * 10 + j
          const payload = new Uint8Array(200)
          payload[0] = i & 0xff
          payload[1] = i >> 8
          return payload
        }),
      )
    }
    assert.ok(socket.paused, 'the session stopped reading its socket')
    assert.ok(socket.unread > 50, `${socket.unread} reads wait in the socket, not in the daemon`)
    let maxCount = 0
    let maxBlocked = 0
    assert.ok(
      await m.sched.until(
        () => {
          maxCount = Math.max(maxCount, a.queueDepth('b')!.count)
          maxBlocked = Math.max(maxBlocked, a.blockedSends)
          return got.length === N
        },
        60_000,
        5,
      ),
      `delivered ${got.length}`,
    )
    assert.deepEqual(
      got,
      Array.from({ length: N }, (_, i) => i),
    )
    assert.ok(maxCount <= 64, `queue count ${maxCount}`)
    assert.equal(maxBlocked, 0, 'no publish waited as a blocked send')
    assert.ok(socket.pauses > 1, `paused ${socket.pauses} times`)
    assert.ok(!socket.paused && socket.unread === 0, 'reading again once the link caught up')
    assert.equal(a.metrics.droppedTotal('queue_full'), 0)
  })

  test('with roomy queue bounds, the standing queue stays at a few batches, not at half the bounds', async () => {
    // Default bounds (32,768 messages, 16 MiB): holding off only at half of them would let 8 MiB stand.
    const m = buildMesh(['a', 'b'], [['a', 'b', { latencyMs: 1, bytesPerMs: 2000, bufferBytes: 128 * 1024 }]])
    let got = 0
    m.r('b').subscribe('load', () => got++)
    await m.sched.advance(10)
    const a = m.r('a')
    const socket = openSession(a, () => m.sched.now)
    const N = 6000
    for (let c = 0; c < N / 100; c++) {
      socket.feed(pubs('load', 100, () => new Uint8Array(256)))
    }
    let maxBytes = 0
    assert.ok(
      await m.sched.until(
        () => {
          maxBytes = Math.max(maxBytes, a.queueDepth('b')!.bytes)
          return got === N
        },
        60_000,
        1,
      ),
      `delivered ${got}`,
    )
    // 8 batch frames of 64 KiB, plus the socket read that crossed the mark.
    assert.ok(maxBytes <= 8 * 64 * 1024 + 100 * 400, `queue bytes ${maxBytes}`)
    assert.ok(socket.pauses > 1)
  })

  test('only the session whose messages meet the backlogged link holds off', async () => {
    const m = buildMesh(
      ['a', 'b', 'c'],
      [
        ['a', 'b', { bytesPerMs: 1, bufferBytes: 2000 }],
        ['a', 'c', { bytesPerMs: 100_000 }],
      ],
      { limits },
    )
    m.r('b').subscribe('slow', () => {})
    m.r('c').subscribe('fast', () => {})
    m.r('a').subscribe('here', () => {})
    await m.sched.advance(100)
    const a = m.r('a')
    const session = () => openSession(a, () => m.sched.now)
    const burst = (subject: string) => pubs(subject, 20, () => new Uint8Array(200))
    const [slow, fast, here] = [session(), session(), session()]
    for (let i = 0; i < 10; i++) {
      slow.feed(burst('slow'))
      fast.feed(burst('fast'))
      here.feed(burst('here'))
      await m.sched.advance(1)
    }
    assert.ok(slow.paused, 'the publisher to the slow link holds off')
    assert.ok(!fast.paused && fast.pauses === 0, 'the publisher to another link goes on')
    assert.ok(!here.paused && here.pauses === 0, 'the publisher to local subscribers goes on')
  })

  test('requests (a higher priority) through a link backlogged by bulk publishes do not hold off', async () => {
    // Roomy bounds: the bulk passes the backlog mark (8 batches of 4 KiB) long before half of them.
    const m = buildMesh(['a', 'b'], [['a', 'b', { bytesPerMs: 1, bufferBytes: 2000 }]], {
      limits: { ...limits, maxQueueCount: 4096, maxQueueBytes: 4 * 1024 * 1024 },
    })
    m.r('b').subscribe('bulk', () => {})
    m.r('b').subscribe('ask', (req) => {
      m.r('b').reply(req, req.payload)
    })
    await m.sched.advance(100)
    const a = m.r('a')
    const session = () => openSession(a, () => m.sched.now)
    const [bulk, asker] = [session(), session()]
    for (let i = 0; i < 10; i++) {
      bulk.feed(pubs('bulk', 20, () => new Uint8Array(200)))
      asker.feed(
        encodeFrame({
          kind: 'req',
          id: i + 1,
          timeoutMs: 60_000,
          to: '',
          subject: 'ask',
          payload: new Uint8Array(8),
        }),
      )
      await m.sched.advance(1)
    }
    assert.ok(bulk.paused, 'the bulk publisher holds off')
    assert.equal(asker.pauses, 0, 'the requester goes on')
  })

  test('a session waiting for relief resumes when the router closes', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b', { bytesPerMs: 100, bufferBytes: 2000 }]], { limits })
    m.r('b').subscribe('load', () => {})
    await m.sched.advance(10)
    const a = m.r('a')
    const socket = openSession(a, () => m.sched.now)
    // The router's pump has not run yet: all 100 (one run of 40 KB) wait in the link queue, past the
    // backlog mark of 8 batches of 4 KiB.
    socket.feed(pubs('load', 100, () => new Uint8Array(400)))
    assert.ok(socket.paused)
    a.close()
    assert.ok(!socket.paused)
  })
})

const turn = () => new Promise<void>((r) => setImmediate(r))

function frames(written: Buffer[]): Frame[] {
  const out: Frame[] = []
  const split = new FrameSplitter()
  for (const b of written) split.push(b, (buf, start, end) => out.push(decodeFrame(buf, start, end)))
  return out
}

/** Publishes `parts` on `subject` from `bus` as one run (the payloads laid out back to back in one buffer). */
function publishRunOf(bus: BusRouter, subject: string, parts: Uint8Array[]): Promise<void> {
  const offs = new Int32Array(2 * parts.length)
  let p = 0
  parts.forEach((x, i) => {
    offs[2 * i] = p
    p += x.length
    offs[2 * i + 1] = p
  })
  return bus.publishRun(subject, Buffer.concat(parts), offs, parts.length, {}, () => {})
}

function standalone(): { bus: BusRouter; socket: FakeSocket } {
  const bus = new BusRouter({ nodeId: 'a', nextHop: () => null })
  return { bus, socket: openSession(bus, Date.now) }
}

describe('a stream session writing to its client', () => {
  test('a lone message is written in the event-loop turn it arrived in', async () => {
    const { bus, socket } = standalone()
    socket.feed(encodeFrame({ kind: 'ping', id: 7 }))
    await turn()
    assert.deepEqual(frames(socket.written), [{ kind: 'pong', id: 7 }])
    bus.close()
  })

  test('deliveries from several callbacks of one turn go out in one write', async () => {
    const { bus, socket } = standalone()
    socket.feed(encodeFrame({ kind: 'sub', sid: 1, responder: false, pattern: 'x.>' }))
    await turn()
    socket.written.length = 0
    // Two deliveries in two macrotasks of the same turn, as two link batches read in one turn are.
    setImmediate(() => bus.publish('x.1', new Uint8Array([1])))
    setImmediate(() => bus.publish('x.2', new Uint8Array([2])))
    await turn()
    await turn()
    assert.equal(socket.written.length, 1, 'one write')
    assert.deepEqual(
      frames(socket.written).map((f) => (f.kind === 'msg' ? f.subject : f.kind)),
      ['x.1', 'x.2'],
    )
    bus.close()
  })
})

describe('a stream session publishing as runs', () => {
  test('the publishes of one read go out as runs, in order with the frames around them', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b']])
    const got: string[] = []
    m.r('b').subscribe('*', (env) => got.push(`${env.subject}:${dec(env.payload)}`))
    await m.sched.advance(5)
    m.link('a', 'b').keepLog = true
    const socket = openSession(m.r('a'), () => m.sched.now)
    const out = new FrameOut()
    const pub = (subject: string, text: string, id = 0) =>
      out.write({ kind: 'pub', id, priority: 0, subject, payload: enc(text) })
    for (let i = 0; i < 5; i++) pub('s', String(i))
    pub('s', '5', 9) // an answer wanted: handled alone
    for (let i = 6; i < 9; i++) pub('t', String(i))
    pub('s', '9')
    pub('s', '10')
    socket.feed(out.take())
    await m.sched.advance(5)
    assert.deepEqual(got, [
      ...['0', '1', '2', '3', '4', '5'].map((x) => `s:${x}`),
      ...['6', '7', '8'].map((x) => `t:${x}`),
      's:9',
      's:10',
    ])
    const kinds = m
      .link('a', 'b')
      .log.map((f) => f[0])
      .filter((k) => k !== FrameKind.INTEREST)
    assert.deepEqual(kinds, [FrameKind.RUN, FrameKind.ENVELOPES, FrameKind.RUN, FrameKind.RUN])
    await turn()
    assert.deepEqual(frames(socket.written), [{ kind: 'ok', id: 9, payload: new Uint8Array(0) }])
  })

  test('a run the bus refuses whole gets an answer per message', async () => {
    const { bus, socket } = standalone()
    socket.feed(pubs('bad subject', 4, () => new Uint8Array(1)))
    await turn()
    await turn()
    const errors = frames(socket.written)
    assert.equal(errors.length, 4)
    for (const f of errors) assert.ok(f.kind === 'error' && f.id === 0 && f.code === 'INVALID_SUBJECT')
    bus.close()
  })

  test('a run delivered to a subscriber is written as the MSG frames of its messages', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b']])
    const socket = openSession(m.r('b'), () => m.sched.now)
    socket.feed(encodeFrame({ kind: 'sub', sid: 3, responder: false, pattern: 'load' }))
    await m.sched.advance(5)
    await turn()
    socket.written.length = 0
    await publishRunOf(
      m.r('a'),
      'load',
      Array.from({ length: 300 }, (_, i) => enc(`message ${i}`)),
    )
    await m.sched.advance(5)
    await turn()
    const got = frames(socket.written)
    assert.equal(got.length, 300)
    got.forEach((f, i) => {
      assert.ok(f.kind === 'msg')
      assert.deepEqual(
        { sid: f.sid, rid: f.rid, subject: f.subject, from: f.fromNode, text: dec(f.payload) },
        { sid: 3, rid: 0, subject: 'load', from: 'a', text: `message ${i}` },
      )
    })
  })
})

describe('a stream session writing to a client that reads slower than it delivers', () => {
  test('runs and frames made while the socket waits are held, then written in the order they were made', {
    timeout: 30_000,
  }, async () => {
    // A real Unix socket whose client stops reading: the kernel's buffer fills, the socket asks to be waited
    // for, and what the session makes meanwhile (runs from router a, single messages, pongs) is held unencoded
    // until it drains. The client then reads everything back.
    const m = buildMesh(['a', 'b'], [['a', 'b']])
    const dir = mkdtempSync(path.join(tmpdir(), 'session-held-'))
    const server = createServer()
    await new Promise<void>((r) => server.listen(path.join(dir, 's'), r))
    const accepted = new Promise<Socket>((r) => server.once('connection', r))
    const client = connect(path.join(dir, 's'))
    const serverSide = await accepted
    const metrics = new StreamMetrics()
    const session = new StreamSession(1, serverSide, {
      bus: m.r('b'),
      directory: new AgentDirectory(m.r('b')),
      metrics,
      limits: { ...DEFAULT_SESSION_LIMITS, maxOutBytes: 256 * 1024 * 1024 },
      dnsName: (n) => n,
      now: () => m.sched.now,
    })
    const held = () => (session as unknown as { held: unknown[] }).held.length
    try {
      const got: Frame[] = []
      const split = new FrameSplitter()
      client.on('data', (c: Buffer) => split.push(c, (b, s0, e) => got.push(decodeFrame(b, s0, e))))
      client.write(encodeFrame({ kind: 'sub', sid: 3, responder: false, pattern: 'load' }))
      for (let i = 0; i < 200 && got.length === 0; i++) {
        await m.sched.advance(5)
        await new Promise((r) => setTimeout(r, 5))
      }
      assert.deepEqual(got, [{ kind: 'ok', id: 3, payload: new Uint8Array(0) }])
      got.length = 0
      client.pause()
      const expected: string[] = []
      let sawHeld = 0
      for (let k = 0; k < 60; k++) {
        await publishRunOf(
          m.r('a'),
          'load',
          Array.from({ length: 100 }, (_, i) => enc(`${k}.${i}.${'x'.repeat(900)}`)),
        )
        for (let i = 0; i < 100; i++) expected.push(`${k}.${i}`)
        await m.r('a').publish('load', enc(`${k}.single`))
        expected.push(`${k}.single`)
        await m.sched.advance(5)
        await turn()
        // A ping from the client: its pong is made after everything delivered so far.
        client.write(encodeFrame({ kind: 'ping', id: 1000 + k }))
        // Read by the session before anything more is delivered (frames in: the sub and k + 1 pings).
        for (let w = 0; w < 1000 && metrics.totals.frames_in < k + 2; w++)
          await new Promise((r) => setTimeout(r, 1))
        expected.push(`pong ${1000 + k}`)
        if (held() > 0) sawHeld++
      }
      assert.ok(sawHeld > 0, 'some output was held while the socket waited')
      client.resume()
      const end = Date.now() + 20_000
      while (got.length < expected.length && Date.now() < end) await new Promise((r) => setTimeout(r, 5))
      const seen = got.map((f) =>
        f.kind === 'msg'
          ? dec(f.payload).split('.').slice(0, 2).join('.')
          : f.kind === 'pong'
            ? `pong ${f.id}`
            : f.kind,
      )
      assert.deepEqual(seen, expected)
      assert.equal(held(), 0)
    } finally {
      client.destroy()
      serverSide.destroy()
      server.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

test('stream frame counters reach Prometheus when scraped', async () => {
  const registry = new Registry()
  const m = new StreamMetrics(registry)
  m.framesIn(3)
  m.framesIn(4)
  m.framesOut(5)
  const text = await registry.metrics()
  assert.match(text, /blackroad_bus_stream_frames_total\{direction="in"\} 7\n/)
  assert.match(text, /blackroad_bus_stream_frames_total\{direction="out"\} 5\n/)
  m.framesOut(1)
  assert.match(await registry.metrics(), /blackroad_bus_stream_frames_total\{direction="out"\} 6\n/)
})
