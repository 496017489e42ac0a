// Tests that must fail (reliability plan §9.5): Raft with one planted bug at a time must be caught by the
// simulator within 1,000 seeds of the safety run's own configuration, the failure must name its seed and
// a replay command, and replaying that seed must fail identically. If the checks in raft-checks.ts lost
// their teeth (or the simulator stopped crashing, partitioning or reordering), these would stop passing.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RAFT_MUTATIONS, type RaftMutation } from '../../src/protocols/raft/index.js'
import { SimFailure, seedsToRun } from './lib/index.js'
import { safetyRun } from './raft-harness.js'

const MAX_SEEDS = 1000

/** What each planted bug must be caught as: the property it breaks first. */
const EXPECTED: Record<RaftMutation, RegExp> = {
  'vote-twice': /Election Safety|Durability: .* changed its vote|voted twice/,
  'commit-old-term': /Committed entry unsafe|Leader Completeness|State Machine Safety/,
  'send-before-persist': /Durability/,
  'keep-conflicting-suffix': /Log Matching|State Machine Safety|Committed entry unsafe/,
  'vote-stale-log': /Committed entry unsafe|Leader Completeness|State Machine Safety/,
  'read-without-quorum': /Linearizability/,
  'count-self-before-fsync': /Committed entry unsafe|Leader Completeness|State Machine Safety|Durability/,
}

function run(seed: number, mutation: RaftMutation): SimFailure | undefined {
  try {
    safetyRun(seed, { mutation, testName: `teeth: raft with planted bug ${mutation}` })
  } catch (err) {
    if (err instanceof SimFailure) return err
    throw err
  }
  return undefined
}

for (const mutation of RAFT_MUTATIONS) {
  test(`teeth: raft with planted bug ${mutation}`, (t) => {
    // SIM_SEED replays one seed; otherwise search from the start of the window.
    const seeds =
      process.env.SIM_SEED !== undefined ? seedsToRun(1) : seedsToRun(MAX_SEEDS).slice(0, MAX_SEEDS)
    let failure: SimFailure | undefined
    for (const seed of seeds) {
      failure = run(seed, mutation)
      if (failure !== undefined) break
    }
    assert.ok(failure, `raft(${mutation}) survived ${seeds.length} seeds: the checks have no teeth`)
    t.diagnostic(`caught at seed ${failure.seed}, step ${failure.step}: ${failure.reason}`)
    t.diagnostic(failure.replay)
    assert.equal(failure.code, 'SIM_INVARIANT')
    assert.match(failure.reason, EXPECTED[mutation])
    assert.ok(failure.message.includes(`replay: SIM_SEED=${failure.seed} node `))
    const again = run(failure.seed, mutation)
    assert.ok(again, 'replaying the failing seed must fail again')
    assert.equal(again.step, failure.step)
    assert.equal(again.message, failure.message)
  })
}
