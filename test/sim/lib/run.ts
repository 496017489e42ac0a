// The two entry points most simulator tests need: runSim (one seed, start to finish, optionally followed
// by a liveness phase) and forSeeds (many seeds per CI run, one seed when a developer replays a failure).
//
//   SIM_SEEDS=20000 node --test dist/test/sim/raft.test.js    more seeds than the default
//   SIM_SEED=1234   node --test dist/test/sim/raft.test.js    exactly the seed a failure printed
//   SIM_SEED_BASE=7000000                                      a different window of seeds (nightly)

import type { ProtocolTypes } from '../../../src/protocols/core/index.js'
import { replayCommand, SimError, SimFailure } from './failure.js'
import { Sim } from './sim.js'
import type { SimOptions, SimStats, World } from './types.js'

export interface RunOptions<T extends ProtocolTypes, G> extends SimOptions<T, G> {
  /** Stop after this many steps. */
  readonly steps?: number
  /** Stop at this virtual time (ms), or as soon as the predicate holds. At least one of steps / until. */
  readonly until?: number | ((world: World<T, G>) => boolean)
  /**
   * After the run: stop faults, heal, resume and restart everyone, then require `until` within `within`
   * ms of virtual time. `since` is when the liveness phase began.
   */
  readonly liveness?: {
    readonly within: number
    readonly until: (world: World<T, G>, since: number) => boolean
    readonly what?: string
  }
}

export function runSim<T extends ProtocolTypes, G = undefined>(opts: RunOptions<T, G>): SimStats {
  const { steps, until, liveness } = opts
  if (steps === undefined && until === undefined) {
    throw new SimError('SIM_BAD_OPTION', 'runSim needs `steps` or `until`, or it would never stop')
  }
  const sim = new Sim<T, G>(opts)
  const pred = typeof until === 'function' ? () => until(sim) : () => false
  sim.runUntil(pred, typeof until === 'number' ? until : Number.POSITIVE_INFINITY, steps)
  if (liveness) sim.requireLiveness((since) => liveness.until(sim, since), liveness.within, liveness.what)
  return sim.result()
}

export interface SeedRun {
  readonly seeds: readonly number[]
  readonly ms: number
  readonly perSecond: number
}

/** The seeds this process should run: SIM_SEED alone, else SIM_SEEDS (or the default) from SIM_SEED_BASE. */
export function seedsToRun(defaultCount: number): number[] {
  const one = envInt('SIM_SEED')
  if (one !== undefined) return [one]
  const count = envInt('SIM_SEEDS') ?? defaultCount
  const base = envInt('SIM_SEED_BASE') ?? 1
  return Array.from({ length: count }, (_, i) => base + i)
}

/**
 * Calls fn(seed) for every seed to run and stops at the first failure. A SimFailure passes through; any
 * other error (an assert in the test itself) is wrapped so it, too, names the seed and the replay command.
 */
export function forSeeds(
  defaultCount: number,
  fn: (seed: number) => void,
  opts: { testName?: string } = {},
): SeedRun {
  const seeds = seedsToRun(defaultCount)
  const started = performance.now()
  for (const seed of seeds) {
    try {
      fn(seed)
    } catch (err) {
      if (err instanceof SimFailure) throw err
      const message = err instanceof Error ? err.message : String(err)
      throw new SimFailure({
        code: 'SIM_TEST_FAILED',
        reason: message,
        seed,
        replay: replayCommand(seed, opts.testName),
        trace: [],
        cause: err,
      })
    }
  }
  const ms = performance.now() - started
  return { seeds, ms, perSecond: seeds.length / Math.max(ms / 1000, 1e-9) }
}

function envInt(name: string): number | undefined {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return undefined
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new SimError('SIM_BAD_OPTION', `${name} must be a non-negative integer, got ${JSON.stringify(raw)}`)
  }
  return n
}
