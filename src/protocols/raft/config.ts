// Raft's knobs and their defaults. The timing defaults are etcd's (heartbeat 100 ms, election timeout
// 1000 ms randomised up to 2000 ms), so the benchmark against etcd compares equal timeouts; they suit a
// WAN or a LAN of Raspberry Pis, where an fsync can take tens of milliseconds.

import type { NodeId } from '../core/index.js'
import { ProtocolError } from '../core/index.js'

/**
 * Planted bugs for the simulator's "tests that must fail" (reliability plan §9.5). Never set outside tests:
 * each one breaks a rule Raft's safety argument depends on.
 * - 'vote-twice': grants a vote in a term it already voted in.
 * - 'commit-old-term': commits an earlier term's entry by counting replicas (the Raft paper's Fig. 8); like
 *   the paper's leader in that figure, it appends no no-op when elected.
 * - 'send-before-persist': persists one step late, so messages leave before what they promise is durable.
 * - 'keep-conflicting-suffix': overwrites conflicting entries in place instead of truncating the suffix.
 * - 'vote-stale-log': grants votes without the log-up-to-date check (§5.4.1).
 * - 'read-without-quorum': a leader serves reads from local state without confirming it still leads.
 * - 'count-self-before-fsync': a leader counts its own log towards commitment before its write is durable
 *   (its appends leave early, so its disk and the followers' race; only the followers' may be counted).
 */
export type RaftMutation =
  | 'vote-twice'
  | 'commit-old-term'
  | 'send-before-persist'
  | 'keep-conflicting-suffix'
  | 'vote-stale-log'
  | 'read-without-quorum'
  | 'count-self-before-fsync'

export const RAFT_MUTATIONS: readonly RaftMutation[] = [
  'vote-twice',
  'commit-old-term',
  'send-before-persist',
  'keep-conflicting-suffix',
  'vote-stale-log',
  'read-without-quorum',
  'count-self-before-fsync',
]

export interface RaftConfig {
  /** Leader heartbeat period, ms. Default 100. */
  readonly heartbeatMs?: number
  /** Election timeouts are drawn from [electionMinMs, electionMaxMs). Defaults 1000 and 2000. */
  readonly electionMinMs?: number
  readonly electionMaxMs?: number
  /** A request whose outcome is not known after this long is answered TIMEOUT. Default 5000. */
  readonly requestTimeoutMs?: number
  /** Take a snapshot and compact once this many applied entries follow the last one. Default 10000. */
  readonly snapshotEntries?: number
  /** Entries per append message. Default 64. */
  readonly maxEntriesPerAppend?: number
  /** Largest command accepted, bytes. Default 256 KiB. */
  readonly maxCommandBytes?: number
  /** Requests in flight per node before new ones are refused BUSY. Default 1024. */
  readonly maxPending?: number
  /**
   * The voters of a brand-new federation, identical on every node (the daemon takes them from config).
   * Default: the bus group handed to the machine. Later changes go through the log.
   */
  readonly bootstrapVoters?: readonly NodeId[]
  /** Test-only: a planted bug. */
  readonly mutation?: RaftMutation
}

export type ResolvedRaftConfig = Required<Omit<RaftConfig, 'bootstrapVoters' | 'mutation'>> &
  Pick<RaftConfig, 'bootstrapVoters' | 'mutation'>

export const RAFT_DEFAULTS = {
  heartbeatMs: 100,
  electionMinMs: 1000,
  electionMaxMs: 2000,
  requestTimeoutMs: 5000,
  snapshotEntries: 10_000,
  maxEntriesPerAppend: 64,
  maxCommandBytes: 256 * 1024,
  maxPending: 1024,
} as const

export function resolveRaftConfig(config: RaftConfig): ResolvedRaftConfig {
  const c = { ...RAFT_DEFAULTS, ...dropUndefined(config) }
  const positive = (name: keyof typeof RAFT_DEFAULTS): void => {
    const v = c[name]
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new ProtocolError('BAD_CONFIG', `raft ${name} must be a positive integer, got ${v}`)
    }
  }
  for (const k of Object.keys(RAFT_DEFAULTS) as (keyof typeof RAFT_DEFAULTS)[]) positive(k)
  if (c.electionMaxMs <= c.electionMinMs) {
    throw new ProtocolError(
      'BAD_CONFIG',
      'raft electionMaxMs must exceed electionMinMs (timeouts are random)',
    )
  }
  // A follower must hear several heartbeats per election timeout, or a healthy leader gets deposed.
  if (c.heartbeatMs * 3 > c.electionMinMs) {
    throw new ProtocolError('BAD_CONFIG', 'raft electionMinMs must be at least 3 heartbeats')
  }
  if (c.bootstrapVoters !== undefined && c.bootstrapVoters.length === 0) {
    throw new ProtocolError('BAD_CONFIG', 'raft bootstrapVoters must name at least one voter')
  }
  return c
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
