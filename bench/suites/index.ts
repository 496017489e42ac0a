// The suite registry: each entry maps a suite name of BENCH.md to the module that runs it (loaded lazily so a
// suite's dependencies cost nothing to the others).

import type { Suite } from '../lib/suite.js'

export const SUITES: Record<string, () => Promise<Suite>> = {}
