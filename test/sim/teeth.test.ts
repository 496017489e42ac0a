// Tests that must fail: pingpong with a planted durability bug has to be caught within the seeds, with a
// failure that names its seed and replay command, and replaying that seed must fail identically. If these
// pass while the simulator is broken (crashes keep memory, invariants never run), they stop passing.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SeededRng } from '../../src/protocols/core/index.js'
import { type PingPongMutation, pingpong } from '../../src/protocols/pingpong/index.js'
import { runSim, SimFailure, swarm } from './lib/index.js'
import { pingPongGhost, pingPongInvariants, recordPingPong } from './lib/pingpong-checks.js'

const MAX_SEEDS = 1000

function runPlanted(seed: number, mutation: PingPongMutation): void {
  runSim({
    seed,
    nodes: new SeededRng(seed).int(2, 6),
    protocol: pingpong({ interval: 100, mutation }),
    faults: swarm({ unit: 100 }),
    until: 10_000,
    ghost: pingPongGhost(),
    record: recordPingPong,
    invariants: pingPongInvariants,
  })
}

function firstFailure(mutation: PingPongMutation): SimFailure {
  for (let seed = 1; seed <= MAX_SEEDS; seed++) {
    try {
      runPlanted(seed, mutation)
    } catch (err) {
      if (err instanceof SimFailure) return err
      throw err
    }
  }
  assert.fail(`pingpong(${mutation}) survived ${MAX_SEEDS} seeds: the simulator has no teeth`)
}

for (const mutation of ['no-persist', 'lazy-persist'] as const) {
  test(`teeth: pingpong(${mutation}) is caught, reported with its seed, and replays identically`, (t) => {
    const failure = firstFailure(mutation)
    t.diagnostic(`caught at seed ${failure.seed}, step ${failure.step}: ${failure.reason}; ${failure.replay}`)
    assert.equal(failure.code, 'SIM_INVARIANT')
    assert.match(failure.reason, /reused ping seq/)
    assert.ok(failure.message.includes(`seed ${failure.seed} · step ${failure.step}`))
    assert.ok(failure.message.includes(`replay: SIM_SEED=${failure.seed} node `))
    assert.ok(failure.message.includes('--test'))
    assert.ok(failure.trace.length > 0 && failure.message.includes(failure.trace.at(-1)!))

    let replayed: unknown
    try {
      runPlanted(failure.seed, mutation)
    } catch (err) {
      replayed = err
    }
    assert.ok(replayed instanceof SimFailure, 'replaying the failing seed must fail again')
    assert.equal(replayed.step, failure.step)
    assert.equal(replayed.message, failure.message)
  })
}
