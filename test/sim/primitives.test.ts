// The simulator's building blocks on their own: the event heap orders by (time, seq) like a sort would,
// the seeded Rng is reproducible and honours its ranges, drivers order outputs persist → timers → send →
// reply, and forSeeds reads SIM_SEED / SIM_SEEDS / SIM_SEED_BASE and names the seed of any failure.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { inDriverOrder, type Output, type ProtocolTypes, SeededRng } from '../../src/protocols/core/index.js'
import { EventHeap, forSeeds, SimFailure, seedsToRun } from './lib/index.js'

test('heap: pops in (time, seq) order, same as sorting', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.boolean())), (ops) => {
      const heap = new EventHeap<{ time: number; seq: number }>()
      const model: { time: number; seq: number }[] = []
      let seq = 0
      for (const [time, pop] of ops) {
        if (pop) {
          model.sort((a, b) => a.time - b.time || a.seq - b.seq)
          assert.deepEqual(heap.pop(), model.shift())
        } else {
          const e = { time, seq: ++seq }
          heap.push(e)
          model.push(e)
        }
        assert.equal(heap.size, model.length)
      }
    }),
  )
})

test('rng: a seed fixes the sequence; seeds and forks give different ones', () => {
  const draw = (r: SeededRng): number[] => Array.from({ length: 8 }, () => r.u32())
  assert.deepEqual(draw(new SeededRng(42)), draw(new SeededRng(42)))
  assert.notDeepEqual(draw(new SeededRng(42)), draw(new SeededRng(43)))
  assert.notDeepEqual(draw(new SeededRng(2 ** 40)), draw(new SeededRng(0)))
  const parent = new SeededRng(1)
  assert.notDeepEqual(draw(parent.fork()), draw(parent.fork()))
  assert.throws(() => new SeededRng(-1), { code: 'RNG_RANGE' })
  assert.throws(() => new SeededRng(1.5), { code: 'RNG_RANGE' })
})

test('rng: int is inclusive and in range, next in [0,1), bytes has the asked length', () => {
  fc.assert(
    fc.property(fc.nat(), fc.integer({ min: -1e12, max: 1e12 }), fc.nat({ max: 1e12 }), (seed, lo, width) => {
      const r = new SeededRng(seed)
      const v = r.int(lo, lo + width)
      assert.ok(Number.isInteger(v) && v >= lo && v <= lo + width)
      const x = r.next()
      assert.ok(x >= 0 && x < 1)
      assert.equal(r.bytes(width % 37).length, width % 37)
    }),
  )
  const r = new SeededRng(7)
  const seen = new Set<number>()
  for (let i = 0; i < 200; i++) seen.add(r.int(1, 3))
  assert.deepEqual([...seen].sort(), [1, 2, 3])
  assert.throws(() => r.int(3, 1), { code: 'RNG_RANGE' })
})

test('driver order: persist, then timers, then sends, then replies and effects; stable within a phase', () => {
  type O = Output<ProtocolTypes>
  const batch: O[] = [
    { type: 'send', to: 'a', msg: 1 },
    { type: 'reply', id: 1, res: null },
    { type: 'send', to: 'b', msg: 2 },
    { type: 'persist', state: 1 },
    { type: 'setTimer', name: 't', at: 5 },
    { type: 'effect', effect: 'e' },
    { type: 'persist', state: 2 },
  ]
  assert.deepEqual(
    inDriverOrder(batch).map((o) => o.type + ('to' in o ? o.to : 'state' in o ? o.state : '')),
    ['persist1', 'persist2', 'setTimer', 'senda', 'sendb', 'reply', 'effect'],
  )
  const ordered: O[] = [
    { type: 'persist', state: 1 },
    { type: 'send', to: 'a', msg: 1 },
  ]
  assert.equal(inDriverOrder(ordered), ordered)
})

function withEnv(env: Record<string, string | undefined>, fn: () => void): void {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]))
  const apply = (e: Record<string, string | undefined>): void => {
    for (const [k, v] of Object.entries(e)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
  apply(env)
  try {
    fn()
  } finally {
    apply(saved)
  }
}

test('forSeeds: SIM_SEED runs one seed, SIM_SEEDS and SIM_SEED_BASE choose the window', () => {
  const none = { SIM_SEED: undefined, SIM_SEEDS: undefined, SIM_SEED_BASE: undefined }
  withEnv(none, () => assert.deepEqual(seedsToRun(3), [1, 2, 3]))
  withEnv({ ...none, SIM_SEEDS: '2', SIM_SEED_BASE: '100' }, () =>
    assert.deepEqual(seedsToRun(3), [100, 101]),
  )
  withEnv({ ...none, SIM_SEED: '1234', SIM_SEEDS: '50' }, () => {
    const seen: number[] = []
    forSeeds(500, (s) => seen.push(s))
    assert.deepEqual(seen, [1234])
  })
  withEnv({ ...none, SIM_SEEDS: 'lots' }, () =>
    assert.throws(() => seedsToRun(3), { code: 'SIM_BAD_OPTION' }),
  )
})

test('forSeeds: a plain assertion failure is reported with its seed and replay command', () => {
  withEnv({ SIM_SEED: undefined, SIM_SEEDS: undefined, SIM_SEED_BASE: undefined }, () => {
    assert.throws(
      () => forSeeds(10, (seed) => assert.ok(seed < 4, 'seed too big')),
      (e: unknown) =>
        e instanceof SimFailure &&
        e.code === 'SIM_TEST_FAILED' &&
        e.seed === 4 &&
        e.message.includes('seed too big') &&
        e.message.includes('replay: SIM_SEED=4 node '),
    )
  })
})
