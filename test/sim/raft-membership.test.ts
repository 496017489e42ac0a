// Membership changes under faults: three bootstrap voters and two spare nodes; clients add learners,
// promote and add voters, and remove members (the leader included) at random, one change at a time, while
// the swarm nemesis and the leader-isolation family run. Every safety check of raft-safety runs after every
// step except the committed-entry check, which needs a fixed voter set; then the liveness phase requires the
// final membership to converge on one leader with every member applied.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { forSeeds } from './lib/index.js'
import { membershipRun } from './raft-harness.js'

const CI_SEEDS = 300
const NAME = 'raft membership changes (3 voters + 2 spares) under swarm faults, then liveness'

test(NAME, (t) => {
  let changes = 0
  let seedsWithChange = 0
  let learnersOrGrown = 0
  const run = forSeeds(
    CI_SEEDS,
    (seed) => {
      const r = membershipRun(seed, { testName: NAME })
      const configs = r.ghost.applied.filter((e) => e?.kind === 'config')
      changes += configs.length
      if (configs.length > 0) seedsWithChange++
      if (
        configs.some(
          (e) => e.kind === 'config' && (e.config.learners.length > 0 || e.config.voters.length > 3),
        )
      ) {
        learnersOrGrown++
      }
    },
    { testName: NAME },
  )
  const n = run.seeds.length
  t.diagnostic(
    `${n} seeds in ${(run.ms / 1000).toFixed(1)}s (${run.perSecond.toFixed(1)} seeds/s): ${changes} membership changes applied, in ${seedsWithChange} seeds; ${learnersOrGrown} seeds had learners or more than 3 voters`,
  )
  if (n >= 100) {
    assert.ok(seedsWithChange > n / 2, 'membership changes were applied in most seeds')
    assert.ok(learnersOrGrown > n / 4, 'learners were added and voters grown')
  }
})
