// Raft replicating the registry, under every fault the simulator has (swarm style, per seed: loss,
// duplication, delay and reordering, partitions of four shapes, crashes including torn ones mid-step,
// pauses, clock drift, and our own partition-the-leader family), with clients proposing, reading,
// transferring leadership throughout. Every step checks Election Safety, Leader Append-Only, Log Matching,
// Leader Completeness, State Machine Safety, durability (term and vote monotonic, nothing sent before it
// is persisted), committed entries being election-proof, read linearizability and the registry's own
// invariants (never two nodes on one address). Then the liveness phase: heal, and within 10 election
// timeouts a leader commits a new proposal that every member applies, with no request left unanswered.
//
//   node --test dist/test/sim/raft-safety.test.js                   the CI run (2,000 seeds)
//   SIM_SEEDS=100000 node --test dist/test/sim/raft-safety.test.js  the release run
//   SIM_SEED=1234 node --test dist/test/sim/raft-safety.test.js     replay one seed
// A second test runs its own seeds with failure-detector hints (peerUnreachable, mostly wrong) in the workload.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { forSeeds } from './lib/index.js'
import { SAFETY_DURATION_MS, safetyRun } from './raft-harness.js'

const CI_SEEDS = 2000
const NAME = 'raft + registry: safety under swarm faults, then liveness (3 and 5 voters)'

test(NAME, (t) => {
  const totals = {
    steps: 0,
    crashes: 0,
    tornCrashes: 0,
    partitions: 0,
    pauses: 0,
    droppedLoss: 0,
    duplicated: 0,
    reordered: 0,
  }
  const ghost = { elections: 0, proposals: 0, proposalsOk: 0, reads: 0, readsOk: 0, restores: 0 }
  const clusters = { 3: 0, 5: 0 }
  const run = forSeeds(
    CI_SEEDS,
    (seed) => {
      const r = safetyRun(seed, { testName: NAME })
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r.stats[k]
      for (const k of Object.keys(ghost) as (keyof typeof ghost)[]) ghost[k] += r.ghost.counts[k]
      clusters[seed % 5 < 2 ? 3 : 5]++
    },
    { testName: NAME },
  )
  const n = run.seeds.length
  t.diagnostic(
    `${n} seeds (${clusters[3]} × 3 voters, ${clusters[5]} × 5) of ${SAFETY_DURATION_MS} virtual ms in ${(run.ms / 1000).toFixed(1)}s: ${run.perSecond.toFixed(1)} seeds/s`,
  )
  t.diagnostic(
    `per seed: ${Object.entries({ ...totals, ...ghost })
      .map(([k, v]) => `${k} ${(v / n).toFixed(1)}`)
      .join(', ')}`,
  )
  // Not vacuous: the faults happened, leaders changed, and clients got answers throughout.
  if (n >= 200) {
    assert.ok(totals.crashes > n / 2 && totals.tornCrashes > n / 50, 'crashes happened')
    assert.ok(totals.partitions > n && totals.pauses > n / 2, 'partitions and pauses happened')
    assert.ok(
      totals.droppedLoss > n && totals.duplicated > n && totals.reordered > n,
      'the network misbehaved',
    )
    assert.ok(ghost.elections > 2 * n, 'leaders changed')
    assert.ok(ghost.proposals / n >= 200, `${ghost.proposals / n} proposals per seed`)
    assert.ok(ghost.proposalsOk > n * 50 && ghost.readsOk > n * 30, 'clients were served')
    assert.ok(ghost.restores > n / 4, 'snapshots were installed and restored')
  }
})

const HINT_SEEDS = 500
const HINTS =
  'raft + registry with failure-detector hints (peerUnreachable, mostly wrong): safety, then liveness'

test(HINTS, (t) => {
  let elections = 0
  const run = forSeeds(
    HINT_SEEDS,
    (seed) => {
      elections += safetyRun(seed, { testName: HINTS, hints: true }).ghost.counts.elections
    },
    { testName: HINTS },
  )
  t.diagnostic(`${run.seeds.length} seeds in ${(run.ms / 1000).toFixed(1)}s, ${elections} elections`)
  if (run.seeds.length >= 100) assert.ok(elections > run.seeds.length, 'leaders changed')
})
