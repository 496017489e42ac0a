// Runs (src/bus/runs.ts): the RUN frame's layout and decoder (round trips, every rule, 10,000 random and
// 10,000 mutated frames giving a Run or a DecodeError), and the router's handling of runs: publishRun to a
// remote subscriber (whole, or one by one), through a relay, duplicates, the ingress and egress policy, and
// the counters, which count messages, not runs.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import {
  BusError,
  decodeRun,
  type Envelope,
  encodeEnvelope,
  FrameKind,
  makeEnvelope,
  type PolicyDecision,
  type PolicyDirection,
  Run,
  runFrameRoom,
  seqAt,
  writeRunFrame,
  writeRunFrameInto,
} from '../../src/bus/index.js'
import { DecodeError, EncodeError } from '../../src/wire/index.js'
import { buildMesh, dec, enc } from './bus-harness.js'
import { mutate, mutationsArb } from './mutations.js'

/** A run of `payloads` laid out in one buffer with a `gap`-byte gap before each (like a sender's framing). */
function runOf(head: Envelope, payloads: Uint8Array[], gap = 3): Run {
  const buf = new Uint8Array(payloads.reduce((n, p) => n + gap + p.length, 0))
  const offs = new Int32Array(2 * payloads.length)
  let p = 0
  payloads.forEach((pl, i) => {
    buf.fill(0xee, p, p + gap)
    p += gap
    buf.set(pl, p)
    offs[2 * i] = p
    offs[2 * i + 1] = p + pl.length
    p += pl.length
  })
  return new Run(head, buf, offs, payloads.length)
}

const head = (over: Partial<Envelope> = {}) =>
  makeEnvelope({ srcNode: 'a', to: ['b'], subject: 'jobs.new', epoch: 7, seq: 100, ttl: 9, ...over })

function decodeOrDecodeError(bytes: Uint8Array): void {
  try {
    const run = decodeRun(bytes)
    for (let i = 0; i < run.count; i++) run.message(i)
  } catch (err) {
    assert.ok(err instanceof DecodeError, `not a DecodeError: ${String(err)}`)
  }
}

describe('RUN frames', () => {
  // Gaps of 0 and 3 bytes are written payload by payload, longer ones by moving payloads within the frame.
  for (const gap of [0, 3, 4, 20])
    test(`round-trip: the head with one hop consumed, each payload, consecutive numbers (gaps of ${gap})`, () => {
      const payloads = [enc('one'), new Uint8Array(0), new Uint8Array(300).fill(5), enc('last')]
      const frame = writeRunFrame(runOf(head(), payloads, gap), 8)
      assert.equal(frame[0], FrameKind.RUN)
      const run = decodeRun(frame)
      assert.equal(run.count, 4)
      assert.equal(run.head.ttl, 8)
      assert.equal(run.head.subject, 'jobs.new')
      assert.equal(run.frameBytes, frame.length)
      for (let i = 0; i < 4; i++) {
        const m = run.message(i)
        assert.deepEqual([...m.payload], [...payloads[i]!])
        assert.equal(m.seq, 100 + i)
        assert.equal(m.srcNode, 'a')
        assert.deepEqual(m.to, ['b'])
      }
    })

  test('written in place at an offset: the same bytes, within runFrameRoom, nothing around them touched', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 120 }), { minLength: 1, maxLength: 12 }),
        fc.nat({ max: 24 }),
        fc.nat({ max: 40 }),
        (ps, gap, at) => {
          const run = runOf(head(), ps, gap)
          const frame = writeRunFrame(run, 5)
          const room = runFrameRoom(run)
          assert.ok(room >= run.frameBytes)
          const out = Buffer.alloc(at + room + 16, 0xcc)
          writeRunFrameInto(run, 5, out, at)
          assert.deepEqual([...out.subarray(at, at + run.frameBytes)], [...frame])
          assert.ok(
            out.subarray(0, at).every((b) => b === 0xcc),
            'nothing before the offset',
          )
          assert.ok(
            out.subarray(at + room).every((b) => b === 0xcc),
            'nothing past the room',
          )
        },
      ),
      { numRuns: 1000 },
    )
  })

  test('sequence numbers wrap as the router numbers messages: never 0', () => {
    assert.equal(seqAt(2 ** 32 - 1, 0), 2 ** 32 - 1)
    assert.equal(seqAt(2 ** 32 - 1, 1), 1)
    assert.equal(seqAt(2 ** 32 - 2, 3), 2)
    const run = decodeRun(writeRunFrame(runOf(head({ seq: 2 ** 32 - 1 }), [enc('x'), enc('y')]), 1))
    assert.deepEqual([run.message(0).seq, run.message(1).seq], [2 ** 32 - 1, 1])
  })

  test('a subset keeps its ids when asked, and such a subset cannot be sent', () => {
    const run = runOf(head(), [enc('0'), enc('1'), enc('2'), enc('3')])
    const kept = run.subset([1, 3], true)
    assert.deepEqual(
      [0, 1].map((i) => [kept.message(i).seq, dec(kept.message(i).payload)]),
      [
        [101, '1'],
        [103, '3'],
      ],
    )
    assert.throws(() => writeRunFrame(kept, 1), EncodeError)
    const renumbered = run.subset([1, 3], false)
    const back = decodeRun(writeRunFrame(renumbered, 1))
    assert.deepEqual([back.message(0).seq, back.message(1).seq], [100, 101])
    assert.deepEqual([dec(back.message(0).payload), dec(back.message(1).payload)], ['1', '3'])
  })

  test('every rule: only plain publishes, a count of 1.., no trailing bytes, payloads within the limit', () => {
    const ok = writeRunFrame(runOf(head(), [enc('ab'), enc('cd')]), 3)
    const bad = (bytes: Uint8Array, reason: string) =>
      assert.throws(
        () => decodeRun(bytes, { maxPayloadBytes: 16 }),
        (e: unknown) => e instanceof DecodeError && e.reason === reason,
      )
    bad(new Uint8Array(0), 'unknown-tag')
    bad(Uint8Array.from([FrameKind.ENVELOPES, ...ok.subarray(1)]), 'unknown-tag')
    bad(ok.subarray(0, ok.length - 1), 'truncated')
    bad(Uint8Array.from([...ok, 0]), 'trailing-bytes')
    bad(writeRunFrame(runOf(head(), [new Uint8Array(17)]), 1), 'length-exceeds-max')
    // A head that is not a plain publish: a request, an agent message, no subject, a payload of its own.
    const frameWithHead = (h: Uint8Array) => Uint8Array.from([FrameKind.RUN, h.length, ...h, 1, 1, 0x41])
    assert.ok(decodeRun(frameWithHead(encodeEnvelope(head()))).count === 1)
    const req = head({ flags: 4, replyNode: 'a' })
    bad(frameWithHead(encodeEnvelope(req)), 'invalid-value')
    bad(frameWithHead(encodeEnvelope(head({ agent: 'w', subject: '' }))), 'invalid-value')
    bad(frameWithHead(encodeEnvelope(head({ payload: enc('x') }))), 'invalid-value')
    // Count 0.
    const h = encodeEnvelope(head())
    bad(Uint8Array.from([FrameKind.RUN, h.length, ...h, 0]), 'invalid-value')
  })

  test('1,000 round trips of random payloads at random gaps', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 20 }),
        fc.nat({ max: 24 }),
        (ps, gap) => {
          const run = decodeRun(writeRunFrame(runOf(head(), ps, gap), 5))
          assert.deepEqual(
            Array.from({ length: run.count }, (_, i) => [...run.message(i).payload]),
            ps.map((p) => [...p]),
          )
        },
      ),
      { numRuns: 1000 },
    )
  })

  test('10,000 random frames give a Run or a DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), (bytes) => {
        if (bytes.length > 0) bytes[0] = FrameKind.RUN
        decodeOrDecodeError(bytes)
      }),
      { numRuns: 10_000 },
    )
  })

  test('10,000 mutations of valid frames give a Run or a DecodeError', () => {
    const payloads = fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 6 })
    fc.assert(
      fc.property(payloads, mutationsArb, (ps, muts) => {
        const b = mutate(writeRunFrame(runOf(head(), ps), 4), muts)
        decodeOrDecodeError(b)
      }),
      { numRuns: 10_000 },
    )
  })
})

/** The kinds of the message frames (not interest records) in a link's log. */
const dataFrames = (log: Uint8Array[]) => log.map((f) => f[0]).filter((k) => k !== FrameKind.INTEREST)

/** `n` payloads "0".."n-1" in one buffer, as publishRun takes them. */
function payloads(n: number, from = 0): { buf: Uint8Array; offs: Int32Array } {
  const parts = Array.from({ length: n }, (_, i) => enc(String(from + i)))
  const run = runOf(head(), parts)
  return { buf: run.buf, offs: run.offs }
}

describe('runs through routers', () => {
  test('publishRun reaches a remote run handler whole, and a plain subscriber message by message', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b']])
    const runs: Run[] = []
    const single: Envelope[] = []
    m.r('b').subscribe(
      'jobs.*',
      () => assert.fail('a run handler takes runs whole'),
      (run) => runs.push(run),
    )
    m.r('b').subscribe('jobs.new', (env) => single.push(env))
    await m.sched.advance(5)
    m.link('a', 'b').keepLog = true
    const { buf, offs } = payloads(50)
    await m.r('a').publishRun('jobs.new', buf, offs, 50, {}, () => assert.fail('nothing is refused'))
    await m.sched.advance(5)
    assert.deepEqual(dataFrames(m.link('a', 'b').log), [FrameKind.RUN], 'one frame for the 50 messages')
    assert.equal(runs.length, 1)
    assert.equal(runs[0]!.count, 50)
    assert.deepEqual(
      single.map((e) => dec(e.payload)),
      Array.from({ length: 50 }, (_, i) => String(i)),
    )
    const seqs = single.map((e) => e.seq)
    assert.deepEqual(
      seqs,
      Array.from({ length: 50 }, (_, i) => seqs[0]! + i),
    )
    // The next message from a takes the sequence number after the run's.
    const next: Envelope[] = []
    m.r('b').subscribe('after', (env) => next.push(env))
    await m.sched.advance(5)
    await m.r('a').publish('after', enc('x'))
    await m.sched.advance(5)
    assert.equal(next[0]!.seq, seqs[49]! + 1)
    // Counted as messages: 50 in at a from its client, 50 out towards b; at b, 50 in and 2 × 50 out.
    const sa = m.r('a').metrics.snapshot()
    const sb = m.r('b').metrics.snapshot()
    assert.equal(sa.in['local/jobs'], 50)
    assert.equal(sa.out['b/jobs'], 50)
    assert.equal(sb.in['a/jobs'], 50)
    assert.equal(sb.out['local/jobs'], 100)
  })

  test('local subscribers on the publishing node get each message', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b']])
    m.link('a', 'b').keepLog = true
    const got: string[] = []
    m.r('a').subscribe('jobs.new', (env) => got.push(dec(env.payload)))
    const { buf, offs } = payloads(3)
    await m.r('a').publishRun('jobs.new', buf, offs, 3, {}, () => {})
    await m.sched.advance(5)
    assert.deepEqual(got, ['0', '1', '2'])
    assert.deepEqual(dataFrames(m.link('a', 'b').log), [], 'no remote interest, nothing sent')
  })

  test('a relay passes a run on as its messages, in order', async () => {
    const m = buildMesh(
      ['a', 'b', 'c'],
      [
        ['a', 'b'],
        ['b', 'c'],
      ],
    )
    const got: string[] = []
    m.r('c').subscribe('jobs.new', (env) => got.push(dec(env.payload)))
    await m.sched.advance(5)
    const first = payloads(20)
    const second = payloads(20, 20)
    await m.r('a').publishRun('jobs.new', first.buf, first.offs, 20, {}, () => {})
    await m.r('a').publishRun('jobs.new', second.buf, second.offs, 20, {}, () => {})
    await m.sched.advance(10)
    assert.deepEqual(
      got,
      Array.from({ length: 40 }, (_, i) => String(i)),
    )
  })

  test('a run received twice is delivered once; its copies are counted as duplicates', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b', { duplicate: 1 }]])
    let got = 0
    m.r('b').subscribe(
      'jobs.new',
      () => {},
      (run) => (got += run.count),
    )
    await m.sched.advance(5)
    const { buf, offs } = payloads(10)
    await m.r('a').publishRun('jobs.new', buf, offs, 10, {}, () => {})
    await m.sched.advance(5)
    assert.equal(got, 10)
    assert.equal(m.r('b').metrics.droppedTotal('duplicate'), 10)
  })

  test('the policy is asked per message: refused messages are reported, the rest go on', async () => {
    const calls: PolicyDirection[] = []
    let n = 0
    const policy =
      () =>
      (_env: Envelope, direction: PolicyDirection): PolicyDecision => {
        calls.push(direction)
        // Every third message at ingress, every fifth that arrives at egress.
        if (direction === 'ingress' && n++ % 3 === 2)
          return { allow: false, code: 'RATE_LIMITED', reason: 'r' }
        if (direction === 'egress' && calls.filter((d) => d === 'egress').length % 5 === 0)
          return { allow: false, code: 'POLICY_DENIED', reason: 'd' }
        return { allow: true }
      }
    const m = buildMesh(['a', 'b'], [['a', 'b']], { policy })
    const got: string[] = []
    m.r('b').subscribe(
      'jobs.new',
      () => {},
      (run) => {
        for (let i = 0; i < run.count; i++) got.push(dec(run.message(i).payload))
      },
    )
    await m.sched.advance(5)
    const refused: string[] = []
    const { buf, offs } = payloads(9)
    await m.r('a').publishRun('jobs.new', buf, offs, 9, {}, (err) => refused.push(err.code))
    await m.sched.advance(5)
    assert.deepEqual(refused, ['RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED'])
    assert.equal(calls.filter((d) => d === 'ingress').length, 9)
    // 6 passed ingress (0 1 3 4 6 7); at b the 5th of them (6) is refused.
    assert.deepEqual(got, ['0', '1', '3', '4', '7'])
    assert.equal(m.r('b').metrics.droppedTotal('policy_denied'), 1)
  })

  test('what cannot be a run throws before anything is sent', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b']], { limits: { maxPayloadBytes: 1024 } })
    m.link('a', 'b').keepLog = true
    m.r('b').subscribe('ok', () => {})
    await m.sched.advance(5)
    const { buf, offs } = payloads(2)
    const throwsCode = (code: string) => (e: unknown) => e instanceof BusError && e.code === code
    assert.throws(
      () => m.r('a').publishRun('bad subject', buf, offs, 2, {}, () => {}),
      throwsCode('INVALID_SUBJECT'),
    )
    assert.throws(() => m.r('a').publishRun('ok', buf, offs, 3, {}, () => {}), throwsCode('INVALID_OPTIONS'))
    assert.throws(
      () => m.r('a').publishRun('ok', buf, offs, 2, { priority: 11 }, () => {}),
      throwsCode('INVALID_OPTIONS'),
    )
    const big = runOf(head(), [new Uint8Array(1025)])
    assert.throws(
      () => m.r('a').publishRun('ok', big.buf, big.offs, 1, {}, () => {}),
      throwsCode('TOO_LARGE'),
    )
    await m.sched.advance(5)
    assert.deepEqual(dataFrames(m.link('a', 'b').log), [])
  })

  test('a malformed run frame is dropped and counted; the router goes on', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b']])
    const got: string[] = []
    m.r('b').subscribe('jobs.new', (env) => got.push(dec(env.payload)))
    await m.sched.advance(5)
    const frame = writeRunFrame(runOf(head({ to: ['b'] }), [enc('x')]), 3)
    m.r('b').receive('a', frame.subarray(0, frame.length - 1))
    m.r('b').receive('a', Uint8Array.of(FrameKind.RUN))
    assert.equal(m.r('b').metrics.droppedTotal('malformed'), 2)
    m.r('b').receive('a', frame)
    assert.deepEqual(got, ['x'])
  })
})
