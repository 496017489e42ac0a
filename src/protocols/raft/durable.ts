// Raft's durable state as one value: how it is encoded (the simulator stores exactly these bytes across
// a crash), what a brand-new node starts from, and the structural checks a loaded state must pass before
// a machine trusts it. The daemon's storage (src/raftlog) writes the same state incrementally.

import type { Codec } from '../../wire/index.js'
import { DecodeError } from '../../wire/index.js'
import type { NodeId } from '../core/index.js'
import { entryCodec, readNodeId, snapshotCodec, writeNodeId } from './messages.js'
import type { Entry, Membership, RaftDurable, Snapshot } from './types.js'

const DURABLE_VERSION = 1
/** Entries one durable state may hold; far above any snapshot threshold, but a bound all the same. */
const MAX_DURABLE_ENTRIES = 50_000_000

export function membershipOf(voters: readonly NodeId[], learners: readonly NodeId[] = []): Membership {
  const v = [...new Set(voters)].sort()
  const l = [...new Set(learners)].filter((x) => !v.includes(x)).sort()
  return { voters: v, learners: l }
}

/** Index 0, term 0, the bootstrap voters, an empty state machine. */
export function initialSnapshot(voters: readonly NodeId[]): Snapshot {
  return { index: 0, term: 0, config: membershipOf(voters), data: new Uint8Array(0) }
}

/**
 * Why a durable state cannot be used, or undefined when it can: entries contiguous after the snapshot,
 * terms never decreasing and never above the current term, commit within the log, a vote only with a
 * term.
 */
export function durableProblem(d: RaftDurable): string | undefined {
  const s = d.snapshot
  if (s.index > 0 && s.term === 0) return `snapshot at index ${s.index} has term 0`
  if (s.config.voters.length === 0 && s.index > 0) return 'snapshot membership has no voters'
  let prevTerm = s.term
  for (let i = 0; i < d.entries.length; i++) {
    const e = d.entries[i]!
    if (e.index !== s.index + 1 + i) return `entry ${i} has index ${e.index}, expected ${s.index + 1 + i}`
    if (e.term < prevTerm) return `entry ${e.index} has term ${e.term} below its predecessor's ${prevTerm}`
    prevTerm = e.term
  }
  if (prevTerm > d.term) return `log term ${prevTerm} is above the current term ${d.term}`
  const last = s.index + d.entries.length
  if (d.commit > last) return `commit ${d.commit} is beyond the last index ${last}`
  if (d.vote !== null && d.term === 0) return 'a vote recorded in term 0'
  return undefined
}

export const raftDurableCodec: Codec<RaftDurable> = {
  encode(w, d) {
    w.u8(DURABLE_VERSION).varint(d.term)
    w.bool(d.vote !== null)
    if (d.vote !== null) writeNodeId(w, d.vote)
    w.varint(d.commit)
    snapshotCodec.encode(w, d.snapshot)
    w.varint(d.entries.length)
    for (const e of d.entries) entryCodec.encode(w, e)
  },
  decode(r) {
    const version = r.u8()
    if (version !== DURABLE_VERSION) {
      throw new DecodeError('unsupported-version', `raft durable state version ${version}`, 0)
    }
    const term = r.varint()
    const vote = r.bool() ? readNodeId(r) : null
    const commit = r.varint()
    const snapshot = snapshotCodec.decode(r)
    const n = r.count(MAX_DURABLE_ENTRIES, 3)
    const entries: Entry[] = new Array(n)
    for (let i = 0; i < n; i++) entries[i] = entryCodec.decode(r)
    const d: RaftDurable = { term, vote, commit, snapshot, entries }
    const problem = durableProblem(d)
    if (problem !== undefined) throw new DecodeError('invalid-value', `raft durable state: ${problem}`)
    return d
  },
}
