// The suite registry: each entry maps a suite name of BENCH.md to the module that runs it (loaded lazily so a
// suite's dependencies cost nothing to the others).

import type { Suite } from '../lib/suite.js'

export const SUITES: Record<string, () => Promise<Suite>> = {}
SUITES.join = async () => (await import('./join.js')).suite
SUITES.throughput = async () => (await import('./throughput.js')).suite
SUITES.failover = async () => (await import('./failover.js')).suite
SUITES.dns = async () => (await import('./dns.js')).suite
SUITES.memory = async () => (await import('./memory.js')).suite
SUITES.bus = async () => (await import('./bus.js')).suite
SUITES.raft = async () => (await import('./raft.js')).suite
