// How a simulated run reports that it went wrong. A SimFailure carries everything needed to act on it
// without rerunning anything: the seed, the step, the fault schedule, a one-line command that replays
// exactly this run, and the last events before the failure. SimError is the other kind of error: the
// simulator was misused (an unknown node id, a bad option), which no seed will change.

import path from 'node:path'

export type SimFailureCode =
  /** An invariant (or the ghost recorder) returned a violation. */
  | 'SIM_INVARIANT'
  /** The liveness predicate did not become true within its bound after the network was stabilised. */
  | 'SIM_LIVENESS'
  /** Protocol code threw while handling an input (including its own assertions). */
  | 'SIM_PROTOCOL_THREW'
  /** The protocol asked for something impossible: a reply to no request, a send to no node... */
  | 'SIM_BAD_OUTPUT'
  /** Test code around the simulation threw for this seed (an assert after runSim, a workload bug). */
  | 'SIM_TEST_FAILED'

export interface SimFailureInfo {
  readonly code: SimFailureCode
  readonly reason: string
  readonly seed: number
  /** Unknown (undefined) when the failure came from test code outside a running simulation. */
  readonly step?: number
  readonly time?: number
  readonly faults?: string
  readonly replay: string
  readonly trace: readonly string[]
  readonly cause?: unknown
}

export class SimFailure extends Error {
  override readonly name = 'SimFailure'
  readonly code: SimFailureCode
  readonly reason: string
  readonly seed: number
  readonly step: number | undefined
  readonly time: number | undefined
  readonly replay: string
  readonly trace: readonly string[]

  constructor(info: SimFailureInfo) {
    const lines = [
      `${info.code}: ${info.reason}`,
      info.step === undefined
        ? `  seed ${info.seed}`
        : `  seed ${info.seed} · step ${info.step} · t=${info.time}ms`,
    ]
    if (info.faults !== undefined) lines.push(`  faults: ${info.faults}`)
    lines.push(`  replay: ${info.replay}`)
    if (info.trace.length > 0) {
      lines.push(`  last ${info.trace.length} events:`)
      for (const t of info.trace) lines.push(`    ${t}`)
    }
    super(lines.join('\n'), info.cause === undefined ? undefined : { cause: info.cause })
    this.code = info.code
    this.reason = info.reason
    this.seed = info.seed
    this.step = info.step
    this.time = info.time
    this.replay = info.replay
    this.trace = info.trace
  }
}

export type SimErrorCode = 'SIM_UNKNOWN_NODE' | 'SIM_BAD_OPTION' | 'SIM_BAD_STATE'

export class SimError extends Error {
  override readonly name = 'SimError'

  constructor(
    readonly code: SimErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/**
 * `SIM_SEED=<seed> node --test <this test file>`, for the file the current process runs (node --test
 * starts one process per file). Under tsx the .ts file is named and `--import tsx` added, so the command
 * works whether the developer ran the built suite or a single source file.
 */
export function replayCommand(seed: number, testName?: string): string {
  const script = process.argv[1]
  const file = script === undefined ? '<test file>' : path.relative(process.cwd(), script) || script
  const loader = /\.[cm]?ts$/.test(file) ? '--import tsx ' : ''
  const only = testName === undefined ? '' : ` --test-name-pattern=${JSON.stringify(escapeRegExp(testName))}`
  return `SIM_SEED=${seed} node ${loader}--test${only} ${file}`
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
