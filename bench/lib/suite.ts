// The contract of a benchmark suite: run ours and the anchor interleaved, `runs` times each, and return
// figures for the report.

import type { Figure } from './report.js'

export interface SuiteOptions {
  runs: number
  /** extra --key value options given after the suite name */
  args: Record<string, string>
  log: (msg: string) => void
}

export interface SuiteResult {
  figures: Figure[]
  /** settings and machine notes, printed as `#` lines */
  comments: string[]
}

export interface Suite {
  describe: string
  run(opts: SuiteOptions): Promise<SuiteResult>
}
