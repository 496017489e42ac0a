// Determinism: a seed is a complete description of a run. The same seed must give the same event trace
// (hashed, message bodies included) and the same stats, whatever ran before it in the process; a different
// seed must give a different trace. Without this, a failing seed would be a report, not a reproduction.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type PingPongTypes, pingpong } from '../../src/protocols/pingpong/index.js'
import { runSim, type SimStats, type Workload } from './lib/index.js'
import {
  type PingPongGhost,
  pingPongGhost,
  pingPongInvariants,
  recordPingPong,
} from './lib/pingpong-checks.js'

/** Asks a random node for its stats every ~200ms, so requests and replies are part of the trace too. */
const statsWorkload: Workload<PingPongTypes, PingPongGhost> = {
  start(sim) {
    const tick = (): void => {
      sim.request(sim.rng.pick(sim.ids), { type: 'stats' })
      sim.at(sim.now + sim.rng.int(100, 300), tick)
    }
    sim.at(sim.rng.int(0, 200), tick)
  },
  onReply(_sim, reply) {
    assert.ok(reply.res.highestSent >= 0)
  },
}

function run(seed: number): SimStats {
  return runSim({
    seed,
    nodes: 5,
    protocol: pingpong({ interval: 50 }),
    faults: 'swarm',
    until: 5_000,
    hashMessages: true,
    ghost: pingPongGhost(),
    record: recordPingPong,
    invariants: pingPongInvariants,
    workload: statsWorkload,
  })
}

test('determinism: the same seed gives an identical trace and stats, twice', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const a = run(seed)
    const b = run(seed)
    assert.ok(a.steps > 1000, `seed ${seed} ran only ${a.steps} steps`)
    assert.ok(a.replies > 0)
    assert.deepEqual(b, a, `seed ${seed} is not reproducible`)
  }
})

test('determinism: different seeds give different traces', () => {
  const hashes = new Set<string>()
  for (let seed = 1; seed <= 50; seed++) hashes.add(run(seed).traceHash)
  assert.equal(hashes.size, 50)
})

test('determinism: a run does not depend on what ran before it in the process', () => {
  const first = run(777)
  for (let seed = 1000; seed < 1010; seed++) run(seed)
  assert.deepEqual(run(777), first)
})
