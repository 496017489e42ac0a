// Raft's codecs under the decoder-fuzzing plan (reliability §9.6): every message kind and the durable
// state round-trip exactly; arbitrary bytes and mutations of valid encodings (bit flips, truncations,
// lengths at their maximum) decode to a value or throw DecodeError, never anything else, and fast.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import {
  type Entry,
  type Membership,
  type RaftDurable,
  type RaftMsg,
  type RaftRes,
  raftDurableCodec,
  raftMessageCodec,
  type Snapshot,
} from '../../src/protocols/raft/index.js'
import { type Codec, DecodeError, decodeWith, encodeWith } from '../../src/wire/index.js'

const ROUND_TRIP_RUNS = 1_000
const ARBITRARY_RUNS = 10_000
const MUTATION_RUNS = 10_000

const rec = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }) => fc.record(model, { noNullPrototype: true })
const nat = fc.nat({ max: 2 ** 40 })
const pos = fc.integer({ min: 1, max: 2 ** 40 })
const id = fc.oneof(fc.constantFrom('n1', 'n2', 'n3', 'n4', 'n5'), fc.string({ minLength: 1, maxLength: 20 }))
const bytes = fc.uint8Array({ maxLength: 64 })

const membership: fc.Arbitrary<Membership> = fc
  .uniqueArray(id, { maxLength: 7 })
  .chain((all) =>
    fc
      .nat({ max: all.length })
      .map((k) => ({ voters: all.slice(0, k).sort(), learners: all.slice(k).sort() })),
  )

const entry: fc.Arbitrary<Entry> = fc.oneof(
  rec({ index: pos, term: pos, kind: fc.constant('noop' as const) }),
  rec({ index: pos, term: pos, kind: fc.constant('command' as const), data: bytes }),
  rec({ index: pos, term: pos, kind: fc.constant('config' as const), config: membership }),
)

const snapshot: fc.Arbitrary<Snapshot> = rec({ index: nat, term: nat, config: membership, data: bytes })

const res: fc.Arbitrary<RaftRes> = fc.oneof(
  rec({
    ok: fc.constant(true as const),
    type: fc.constantFrom('applied' as const, 'read' as const),
    index: nat,
    result: bytes,
  }),
  rec({ ok: fc.constant(true as const), type: fc.constant('readIndex' as const), index: nat }),
  rec({ ok: fc.constant(true as const), type: fc.constant('transferring' as const), to: id }),
  rec({
    ok: fc.constant(false as const),
    code: fc.constantFrom(
      'NOT_LEADER',
      'TIMEOUT',
      'DROPPED',
      'TRANSFERRING',
      'CHANGE_PENDING',
      'BAD_CHANGE',
      'BUSY',
      'TOO_LARGE',
    ),
    leader: fc.option(id, { nil: null }),
  }),
)

export const raftMsg: fc.Arbitrary<RaftMsg> = fc.oneof(
  rec({ type: fc.constant('preVote' as const), term: nat, lastIndex: nat, lastTerm: nat }),
  rec({
    type: fc.constant('vote' as const),
    term: nat,
    lastIndex: nat,
    lastTerm: nat,
    transfer: fc.boolean(),
  }),
  rec({
    type: fc.constantFrom('preVoteResp' as const, 'voteResp' as const),
    term: nat,
    granted: fc.boolean(),
  }),
  rec({
    type: fc.constant('append' as const),
    term: nat,
    prevIndex: nat,
    prevTerm: nat,
    entries: fc.array(entry, { maxLength: 5 }),
    commit: nat,
  }),
  rec({
    type: fc.constant('appendResp' as const),
    term: nat,
    success: fc.boolean(),
    index: nat,
    hintIndex: nat,
    hintTerm: nat,
  }),
  rec({ type: fc.constant('heartbeat' as const), term: nat, commit: nat, ctx: nat }),
  rec({ type: fc.constant('heartbeatResp' as const), term: nat, ctx: nat }),
  rec({ type: fc.constant('snapshot' as const), term: nat, snapshot }),
  rec({ type: fc.constant('timeoutNow' as const), term: nat }),
  rec({
    type: fc.constant('forward' as const),
    id: nat,
    req: fc.oneof(
      rec({ type: fc.constant('propose' as const), command: bytes }),
      rec({ type: fc.constant('readIndex' as const) }),
    ),
  }),
  rec({ type: fc.constant('forwardResp' as const), id: nat, res }),
)

/** A structurally valid durable state: contiguous entries, terms rising, commit within the log. */
const durable: fc.Arbitrary<RaftDurable> = fc
  .tuple(
    snapshot,
    fc.array(
      fc.tuple(
        fc.nat(2),
        fc.oneof(
          bytes.map((d) => ({ data: d })),
          fc.constant(null),
        ),
      ),
      { maxLength: 8 },
    ),
  )
  .chain(([snap, steps]) => {
    const base =
      snap.index === 0
        ? { ...snap, term: 0 }
        : {
            ...snap,
            term: Math.max(1, snap.term),
            config: {
              ...snap.config,
              voters: snap.config.voters.length ? snap.config.voters : ['n1'],
              learners: snap.config.learners.filter((l) => l !== 'n1'),
            },
          }
    let term = Math.max(1, base.term)
    const entries: Entry[] = steps.map(([bump, d], i) => {
      term += bump
      const index = base.index + 1 + i
      return d === null
        ? { index, term, kind: 'noop' as const }
        : { index, term, kind: 'command' as const, data: d.data }
    })
    const last = base.index + entries.length
    return fc
      .record(
        {
          term: fc.integer({ min: term, max: term + 3 }),
          vote: fc.option(id, { nil: null }),
          commit: fc.integer({ min: 0, max: last }),
        },
        { noNullPrototype: true },
      )
      .map((h) => ({ ...h, snapshot: base, entries }))
  })

function fuzz<T>(name: string, codec: Codec<T>, valid: fc.Arbitrary<T>): void {
  test(`${name}: round-trips exactly`, () => {
    fc.assert(
      fc.property(valid, (v) => {
        assert.deepStrictEqual(decodeWith(codec, encodeWith(codec, v)), v)
      }),
      { numRuns: ROUND_TRIP_RUNS },
    )
  })

  // Anything but a value or a DecodeError fails the property; a decoder that loops forever hangs the run, which
  // the test runner's timeout reports (no wall-clock assertion: those fail on a busy machine, not on a bug).
  const total = (input: Uint8Array): void => {
    try {
      decodeWith(codec, input)
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err
    }
  }

  test(`${name}: arbitrary bytes give a value or a DecodeError`, () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2048 }), total), { numRuns: ARBITRARY_RUNS })
  })

  test(`${name}: mutated valid encodings give a value or a DecodeError`, () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('max' as const), at: fc.nat() }),
    )
    fc.assert(
      fc.property(valid, fc.array(mutation, { minLength: 1, maxLength: 3 }), (v, muts) => {
        let b = encodeWith(codec, v).slice()
        for (const m of muts) {
          if (b.length === 0) break
          const at = m.at % b.length
          if (m.kind === 'flip') b[at]! ^= 1 << m.bit
          else if (m.kind === 'cut') b = b.subarray(0, at)
          // A length or count field at its maximum: the largest varint a byte can start.
          else
            b = Uint8Array.from([
              ...b.subarray(0, at),
              0xff,
              0xff,
              0xff,
              0xff,
              0xff,
              0xff,
              0xff,
              0x0f,
              ...b.subarray(at),
            ])
        }
        total(b)
      }),
      { numRuns: MUTATION_RUNS },
    )
  })
}

fuzz('raft message codec', raftMessageCodec, raftMsg)
fuzz('raft durable codec', raftDurableCodec, durable)

test('raft durable codec refuses a structurally impossible state (entries not contiguous)', () => {
  const bad: RaftDurable = {
    term: 2,
    vote: null,
    commit: 0,
    snapshot: { index: 0, term: 0, config: { voters: ['n1'], learners: [] }, data: new Uint8Array() },
    entries: [{ index: 2, term: 1, kind: 'noop' }],
  }
  assert.throws(() => decodeWith(raftDurableCodec, encodeWith(raftDurableCodec, bad)), DecodeError)
})

test('raft message codec refuses a membership that is not canonical (unsorted voters)', () => {
  const msg: RaftMsg = {
    type: 'snapshot',
    term: 3,
    snapshot: { index: 5, term: 2, config: { voters: ['n2', 'n1'], learners: [] }, data: new Uint8Array() },
  }
  assert.throws(() => decodeWith(raftMessageCodec, encodeWith(raftMessageCodec, msg)), DecodeError)
})
