// Every fault class really happens when switched on and never when off: a fault that silently stopped
// firing would turn every other simulator test into a fair-weather test that still passes.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type PingPongTypes, pingpong } from '../../src/protocols/pingpong/index.js'
import { type FaultSpec, type FaultsOption, PARTITION_KINDS, Sim, type SimStats } from './lib/index.js'

const COUNTERS = [
  'droppedLoss',
  'droppedPartition',
  'droppedDown',
  'duplicated',
  'reordered',
  'crashes',
  'tornCrashes',
  'restarts',
  'pauses',
  'partitions',
  'activePeriods',
  'quietPeriods',
] as const
type Counter = (typeof COUNTERS)[number]

function simulate(faults: FaultsOption, seed = 1, ms = 20_000): Sim<PingPongTypes> {
  const sim = new Sim({ seed, nodes: 5, protocol: pingpong({ interval: 50 }), faults })
  sim.runFor(ms)
  return sim
}

/** Asserts exactly the `expected` counters are non-zero. */
function assertOnly(stats: SimStats, expected: readonly Counter[]): void {
  for (const c of COUNTERS) {
    if (expected.includes(c)) assert.ok(stats[c] > 0, `${c} should be > 0, stats: ${JSON.stringify(stats)}`)
    else assert.equal(stats[c], 0, `${c} should be 0`)
  }
}

const periods = { length: 2_000, quiet: 0 }
const active = ['activePeriods'] as const
const crashes = ['crashes', 'restarts', 'droppedDown'] as const

test('faults: none means none', () => {
  const sim = simulate('none')
  assertOnly(sim.result(), [])
  for (const id of sim.ids) assert.equal(sim.clockRate(id), 1)
})

test('faults: each class on its own produces its own counters and no others', () => {
  const cases: [Partial<FaultSpec>, Counter[]][] = [
    [{ loss: 0.2, periods }, [...active, 'droppedLoss']],
    [{ duplicate: 0.1, periods }, [...active, 'duplicated']],
    [{ delay: { min: 1, mean: 20 } }, ['reordered']],
    [{ crashes: { every: 1_000, downtime: 500, torn: 0 }, periods }, [...active, ...crashes]],
    [{ crashes: { every: 1_000, downtime: 500, torn: 1 }, periods }, [...active, ...crashes, 'tornCrashes']],
    [{ pauses: { every: 1_000, duration: 300 }, periods }, [...active, 'pauses']],
  ]
  for (const [faults, expected] of cases) assertOnly(simulate(faults).result(), expected)
})

test('faults: each partition kind is drawn and drops messages', () => {
  for (const kind of PARTITION_KINDS) {
    const stats = simulate({ partitions: { every: 1_000, duration: 500, kinds: [kind] }, periods }).result()
    assertOnly(stats, [...active, 'partitions', 'droppedPartition'])
    assert.deepEqual(Object.keys(stats.partitionsByKind), [kind])
  }
})

test('faults: clock drift gives every node its own rate within ±ε', () => {
  const sim = simulate({ clockDrift: 0.05 }, 1, 100)
  const rates = sim.ids.map((id) => sim.clockRate(id))
  assert.equal(new Set(rates).size, rates.length)
  for (const r of rates) assert.ok(r !== 1 && r >= 0.95 && r <= 1.05, `rate ${r}`)
  const a = sim.clock('n1').now()
  sim.runFor(10_000)
  assert.ok(Math.abs(sim.clock('n1').now() - a - 10_000 * sim.clockRate('n1')) < 1e-6)
})

test('faults: about a quarter of periods are quiet, and quiet periods inject no loss', () => {
  const stats = simulate({ loss: 0.3, periods: { length: 100, quiet: 0.25 } }, 3, 100_000).result()
  const share = stats.quietPeriods / (stats.quietPeriods + stats.activePeriods)
  assert.ok(share > 0.2 && share < 0.3, `quiet share ${share}`)
  // Loss runs at 30% only in active periods, so the overall rate sits near 0.3 × 3/4.
  const rate = stats.droppedLoss / stats.sent
  assert.ok(rate > 0.19 && rate < 0.26, `loss rate ${rate}`)
})

test('faults: swarm switches each class on for about half the seeds, and what is on happens', () => {
  const on: Record<string, number> = {}
  const seeds = 64
  for (let seed = 1; seed <= seeds; seed++) {
    const sim = simulate('swarm', seed, 60_000)
    const f = sim.faults
    const s = sim.result()
    const classes: [string, boolean, number][] = [
      ['delay', f.delay.mean > 0, s.reordered],
      ['loss', f.loss > 0, s.droppedLoss],
      ['duplicate', f.duplicate > 0, s.duplicated],
      ['partitions', !!f.partitions, s.partitions],
      ['crashes', !!f.crashes, s.crashes],
      ['pauses', !!f.pauses, s.pauses],
      ['drift', f.clockDrift > 0, sim.ids.filter((id) => sim.clockRate(id) !== 1).length],
    ]
    for (const [name, enabled, count] of classes) {
      if (enabled) on[name] = (on[name] ?? 0) + 1
      // Reordering needs two messages in flight on one link, which a tiny mean delay may never produce.
      if (enabled && name !== 'delay' && s.activePeriods > 0)
        assert.ok(count > 0, `seed ${seed}: ${name} on, never happened`)
      if (!enabled) assert.equal(count, 0, `seed ${seed}: ${name} off, happened ${count} times`)
    }
  }
  for (const [name, n] of Object.entries(on))
    assert.ok(n > seeds * 0.3 && n < seeds * 0.7, `${name} on for ${n}/${seeds} seeds`)
  assert.equal(Object.keys(on).length, 7)
})
