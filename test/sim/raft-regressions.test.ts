// Seeds that once failed, re-run on every commit (test/sim/regressions.json, entries with protocol
// "raft"). Each entry names the run configuration (safety or membership, as the tests of those names give
// a seed), the failure, its cause and its fix; a seed that fails again is a regression. The seeds are ones
// that fail on the current code with that fix reverted. A change to the machines' random draws reshuffles
// every seed's history, so after one, re-derive them: revert the fix, search, record the failing seeds.

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { membershipRun, safetyRun } from './raft-harness.js'

interface Regression {
  readonly protocol: string
  readonly run: 'safety' | 'membership'
  readonly seeds: readonly number[]
  readonly expect: 'pass'
  readonly failure: string
  readonly cause: string
  readonly fix: string
}

/** The JSON sits beside the sources; from dist, look back into the source tree. */
function load(): Regression[] {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const candidates = [
    path.join(here, 'regressions.json'),
    path.join(here, '../../../test/sim/regressions.json'),
  ]
  for (const file of candidates) {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as Regression[]
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
  throw new Error(`regressions.json not found in ${candidates.join(' or ')}`)
}

const regressions = load().filter((r) => r.protocol === 'raft')

test('regressions.json lists raft seeds, each with its failure, cause and fix', () => {
  assert.ok(regressions.length > 0)
  for (const r of regressions) {
    assert.ok(r.run === 'safety' || r.run === 'membership', `unknown run ${r.run}`)
    assert.ok(r.seeds.length > 0 && r.failure && r.cause && r.fix)
  }
})

for (const r of regressions) {
  for (const seed of r.seeds) {
    const name = `regression: raft ${r.run} seed ${seed} (${r.failure.split(':')[0]})`
    test(name, () => {
      const run = r.run === 'safety' ? safetyRun : membershipRun
      run(seed, { testName: name })
    })
  }
}
