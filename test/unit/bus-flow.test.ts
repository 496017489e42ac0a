// Flow control and delivery guarantees of the bus under stress, in the fake-link mesh: a publisher faster
// than its link (bounded queues, backpressure to the sender, BACKPRESSURE and QUEUE_FULL), at-least-once
// delivery over links that lose 20% of frames (everything arrives exactly once), and priorities on a
// congested link (high before low, transit evicting low priorities first).

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { BusError } from '../../src/bus/index.js'
import { buildMesh, dec, enc } from './bus-harness.js'

const payload256 = (i: number) => {
  const p = new Uint8Array(256)
  new DataView(p.buffer).setUint32(0, i)
  return p
}
const idOf = (p: Uint8Array) => new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(0)

describe('a publisher faster than its link', () => {
  const limits = {
    maxPayloadBytes: 1024,
    maxQueueCount: 64,
    maxQueueBytes: 16 * 1024,
    maxBatchBytes: 4096,
    sendTimeoutMs: 60_000,
  }

  test('is held back: queues stay within bounds, the sender waits, everything arrives in order', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b', { latencyMs: 2, bytesPerMs: 100, bufferBytes: 2000 }]], {
      limits,
    })
    const got: number[] = []
    m.r('b').subscribe('load', (msg) => got.push(idOf(msg.payload)))
    await m.sched.advance(10)
    const a = m.r('a')
    const link = m.link('a', 'b')
    const N = 2000
    let maxCount = 0
    let maxBytes = 0
    let maxLinkBuffered = 0
    let sawBlocked = 0
    let finished = false
    const publisher = (async () => {
      for (let i = 0; i < N; i++) {
        const p = a.publish('load', payload256(i))
        const q = a.queueDepth('b')!
        maxCount = Math.max(maxCount, q.count)
        maxBytes = Math.max(maxBytes, q.bytes)
        maxLinkBuffered = Math.max(maxLinkBuffered, link.buffered)
        if (a.blockedSends > 0) sawBlocked++
        await p
      }
      finished = true
    })()
    assert.ok(await m.sched.until(() => finished && got.length === N, 60_000, 5), `delivered ${got.length}`)
    await publisher
    assert.ok(maxCount <= 64, `queue count ${maxCount}`)
    assert.ok(maxBytes <= 16 * 1024, `queue bytes ${maxBytes}`)
    assert.ok(
      maxLinkBuffered <= 2000 + 4096,
      `link buffered ${maxLinkBuffered}: one batch past its mark at most`,
    )
    assert.ok(sawBlocked > 100, `the sender was held back ${sawBlocked} times`)
    assert.deepEqual(
      got,
      Array.from({ length: N }, (_, i) => i),
    )
    assert.equal(a.metrics.droppedTotal('queue_full'), 0)
    // ~2000 x 300 bytes at 100 bytes/ms: the run took as long as the link needed, not less.
    assert.ok(m.sched.now >= 5000)
  })

  test('fails with BACKPRESSURE when the link stays stuck past the send timeout', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b', { bytesPerMs: 0.0001, bufferBytes: 1 }]], {
      limits: { ...limits, sendTimeoutMs: 100 },
    })
    const a = m.r('a')
    const results: string[] = []
    for (let i = 0; i < 200; i++) {
      a.send({ node: 'b', agent: 'w' }, payload256(i)).then(
        () => results.push('ok'),
        (e: BusError) => results.push(e.code),
      )
    }
    await m.sched.advance(150)
    const count = (code: string) => results.filter((r) => r === code).length
    assert.ok(count('ok') >= 50, `what fit was queued (${count('ok')})`)
    assert.equal(count('BACKPRESSURE'), 200 - count('ok'))
    assert.ok(a.queueDepth('b')!.count <= 64)
    assert.equal(a.blockedSends, 0)
  })

  test('fails at once with QUEUE_FULL when too many sends already wait', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b', { bytesPerMs: 0.0001, bufferBytes: 1 }]], {
      limits: { ...limits, maxBlockedSends: 10 },
    })
    const a = m.r('a')
    const results: string[] = []
    for (let i = 0; i < 200; i++) {
      a.send({ node: 'b', agent: 'w' }, payload256(i)).then(
        () => results.push('ok'),
        (e: BusError) => results.push(e.code),
      )
    }
    await m.sched.advance(1)
    const full = results.filter((r) => r === 'QUEUE_FULL').length
    assert.equal(a.blockedSends, 10)
    assert.equal(full + results.filter((r) => r === 'ok').length, 190)
    assert.ok(full > 100)
  })
})

describe('at-least-once under 20% loss', () => {
  for (const seed of [1, 2, 3]) {
    test(`every message is delivered exactly once (seed ${seed})`, async () => {
      const m = buildMesh(
        ['a', 'b', 'c'],
        [
          ['a', 'b', { latencyMs: 3, loss: 0.2 }],
          ['b', 'c', { latencyMs: 3, loss: 0.2 }],
        ],
        {
          seed,
          limits: {
            ackTimeoutMs: 50,
            maxBackoffMs: 400,
            maxAttempts: 30,
            interestRefreshMs: 200,
            interestTtlMs: 10_000,
          },
        },
      )
      const direct = new Map<number, number>()
      const published = new Map<number, number>()
      m.r('c').registerAgent('w', (msg) =>
        direct.set(idOf(msg.payload), (direct.get(idOf(msg.payload)) ?? 0) + 1),
      )
      m.r('c').subscribe('rel.*', (msg) =>
        published.set(idOf(msg.payload), (published.get(idOf(msg.payload)) ?? 0) + 1),
      )
      // Interest itself crosses lossy links; the periodic refresh gets it through.
      assert.ok(await m.sched.until(() => m.r('a').interest.match('rel.x').length === 1, 5000, 10))
      const N = 300
      const sends: Promise<void>[] = []
      for (let i = 0; i < N; i++) {
        sends.push(m.r('a').send({ node: 'c', agent: 'w' }, payload256(i), { reliable: true }))
        sends.push(m.r('a').publish('rel.x', payload256(i), { reliable: true }))
        if (i % 10 === 9) await m.sched.advance(1)
      }
      let settled = 0
      let failed = 0
      for (const s of sends)
        s.then(
          () => settled++,
          () => failed++,
        )
      assert.ok(await m.sched.until(() => settled + failed === sends.length, 120_000, 20))
      assert.equal(failed, 0)
      assert.equal(direct.size, N)
      assert.equal(published.size, N)
      for (const [id, n] of [...direct, ...published])
        assert.equal(n, 1, `message ${id} delivered ${n} times`)
      assert.ok(m.r('a').metrics.snapshot().retries > 0, 'loss forced retries')
      assert.ok(m.r('c').metrics.droppedTotal('duplicate') > 0, 'lost acks caused duplicates, suppressed')
    })
  }

  test('a 5-router mesh with a cycle, loss, duplication and jitter: exactly once to every subscriber', async () => {
    const names = ['a', 'b', 'c', 'd', 'e']
    const lossy = (latencyMs: number) => ({ latencyMs, loss: 0.1, duplicate: 0.1 })
    const m = buildMesh(
      names,
      [
        ['a', 'b', lossy(2)],
        ['b', 'c', lossy(3)],
        ['c', 'd', lossy(1)],
        ['d', 'e', lossy(4)],
        ['e', 'a', lossy(2)],
        ['b', 'd', lossy(5)],
      ],
      { seed: 7, limits: { ackTimeoutMs: 40, maxBackoffMs: 300, maxAttempts: 30, interestRefreshMs: 100 } },
    )
    const seen = new Map<string, number>()
    for (const n of names) {
      m.r(n).subscribe('fan.>', (msg) => {
        const key = `${n}<${msg.srcNode}:${idOf(msg.payload)}`
        seen.set(key, (seen.get(key) ?? 0) + 1)
      })
    }
    const everyone = () => names.every((n) => m.r(n).interest.match('fan.x').length === names.length - 1)
    assert.ok(await m.sched.until(everyone, 5000, 10), 'interest reached every router')
    const sends: Promise<void>[] = []
    for (let i = 0; i < 40; i++)
      for (const n of names) sends.push(m.r(n).publish('fan.x', payload256(i), { reliable: true }))
    let left = sends.length
    let failed = 0
    for (const s of sends)
      s.then(
        () => left--,
        () => {
          failed++
          left--
        },
      )
    assert.ok(await m.sched.until(() => left === 0, 120_000, 20))
    assert.equal(failed, 0)
    // 5 publishers x 40 messages x 5 subscribing nodes (the publisher's own subscriber included).
    assert.equal(seen.size, 5 * 40 * 5)
    for (const [key, n] of seen) assert.equal(n, 1, `${key} delivered ${n} times`)
  })

  test('without reliable, the same loss loses messages (the test above can fail)', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b', { loss: 0.2 }]], { seed: 5 })
    let got = 0
    m.r('b').registerAgent('w', () => got++)
    for (let i = 0; i < 200; i++) {
      await m.r('a').send({ node: 'b', agent: 'w' }, payload256(i))
      await m.sched.advance(1)
    }
    assert.ok(got < 190 && got > 100, `got ${got}`)
  })
})

describe('priorities on a congested link', () => {
  test('high priority overtakes low priority waiting in the queue', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b', { bytesPerMs: 10, bufferBytes: 300 }]], {
      limits: { maxBatchCount: 2 },
    })
    const got: string[] = []
    m.r('b').registerAgent('w', (msg) => got.push(dec(msg.payload)))
    const a = m.r('a')
    for (let i = 0; i < 30; i++) void a.send({ node: 'b', agent: 'w' }, enc(`low-${i}`), { priority: 1 })
    await m.sched.advance(1)
    const lowQueued = a.queueDepth('b')!.count
    assert.ok(lowQueued >= 15, `the link is congested (${lowQueued} queued)`)
    for (let i = 0; i < 10; i++) void a.send({ node: 'b', agent: 'w' }, enc(`high-${i}`), { priority: 9 })
    assert.ok(await m.sched.until(() => got.length === 40, 10_000, 5))
    const firstHigh = got.findIndex((s) => s.startsWith('high'))
    const lowBefore = firstHigh
    assert.ok(lowBefore <= 30 - lowQueued, `only lows already in the link came first (${lowBefore})`)
    assert.deepEqual(
      got.slice(firstHigh, firstHigh + 10),
      Array.from({ length: 10 }, (_, i) => `high-${i}`),
    )
    assert.deepEqual(
      got.filter((s) => s.startsWith('low')),
      Array.from({ length: 30 }, (_, i) => `low-${i}`),
      'FIFO within a priority',
    )
  })

  test('a request and its reply overtake publishes queued at the default priority, both ways', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b', { bytesPerMs: 10, bufferBytes: 300 }]], {
      limits: { maxBatchCount: 2 },
    })
    const got: string[] = []
    const b = m.r('b')
    const a = m.r('a')
    b.subscribe('bulk', (msg) => got.push(dec(msg.payload)))
    a.subscribe('bulk.back', () => got.push('back'))
    b.subscribe('echo', (req) => {
      got.push('request')
      // The responder's node is congested too: its reply must not wait behind its own bulk.
      for (let i = 0; i < 30; i++) void b.publish('bulk.back', enc(`back-${i}`))
      void b.reply(req, req.payload)
    })
    await m.sched.advance(10)
    for (let i = 0; i < 30; i++) void a.publish('bulk', enc(`bulk-${i}`))
    await m.sched.advance(1)
    const queued = a.queueDepth('b')!.count
    assert.ok(queued >= 15, `the link is congested (${queued} queued)`)
    let answered = -1
    const reply = a.request('echo', enc('q'), { timeoutMs: 60_000 }).then((r) => {
      answered = got.filter((s) => s === 'back').length
      return r
    })
    assert.ok(await m.sched.until(() => answered >= 0, 60_000, 5), 'the reply came')
    assert.equal(dec((await reply).payload), 'q')
    const before = got.indexOf('request')
    assert.ok(before <= 30 - queued, `only bulk already in the link came before the request (${before})`)
    assert.ok(answered <= 15, `the reply overtook the responder's queued bulk (${answered} came first)`)
    assert.ok(await m.sched.until(() => got.length === 61, 60_000, 5), 'all the bulk still arrives')
  })

  test('a full transit queue evicts low priority for high priority', async () => {
    const m = buildMesh(
      ['a', 'b', 'c'],
      [
        ['a', 'b'],
        ['b', 'c', { bytesPerMs: 1, bufferBytes: 100 }],
      ],
      { limits: { maxPayloadBytes: 1024, maxQueueCount: 20, maxQueueBytes: 64 * 1024 } },
    )
    const got: string[] = []
    m.r('c').registerAgent('w', (msg) => got.push(dec(msg.payload).split('-')[0]!))
    for (let i = 0; i < 40; i++)
      void m.r('a').send({ node: 'c', agent: 'w' }, enc(`low-${i}`), { priority: 2 })
    for (let i = 0; i < 20; i++)
      void m.r('a').send({ node: 'c', agent: 'w' }, enc(`high-${i}`), { priority: 8 })
    // a's own queue holds 20, so b gets three frames: 20 lows, 20 lows, 20 highs. The first 20 lows go
    // into b>c's buffer, the next 20 wait in b's queue, and the highs evict them.
    await m.sched.advance(20_000)
    assert.equal(m.r('b').queueDepth('c')!.count, 0)
    assert.equal(got.filter((s) => s === 'high').length, 20, 'every high-priority message arrived')
    assert.ok(got.filter((s) => s === 'low').length < 40, 'lows paid for it')
    assert.equal(m.r('b').metrics.droppedTotal('queue_full'), 40 - got.filter((s) => s === 'low').length)
  })
})
