// The in-memory Raft log: a snapshot base followed by contiguous entries, plus the membership history the
// log implies. Membership follows the dissertation's rule (§4.1): the latest config entry in the log is in
// force whether or not it is committed, so truncating a suffix can revert it — which is why the history
// of config entries is kept beside the entries rather than only the current value.

import { invariant } from '../core/index.js'
import type { Entry, Membership, Snapshot } from './types.js'

export class RaftLog {
  private base: Snapshot
  private entries: Entry[]
  /** Config entries currently in `entries`, in index order. */
  private configs: { index: number; config: Membership }[] = []

  constructor(snapshot: Snapshot, entries: readonly Entry[]) {
    this.base = snapshot
    this.entries = [...entries]
    for (const e of this.entries)
      if (e.kind === 'config') this.configs.push({ index: e.index, config: e.config })
  }

  get snapshot(): Snapshot {
    return this.base
  }
  get firstIndex(): number {
    return this.base.index + 1
  }
  get lastIndex(): number {
    return this.base.index + this.entries.length
  }
  get lastTerm(): number {
    const last = this.entries[this.entries.length - 1]
    return last === undefined ? this.base.term : last.term
  }
  /** A copy of the entries, for a persist output the log may not change under. */
  entriesCopy(): Entry[] {
    return this.entries.slice()
  }

  termAt(index: number): number | undefined {
    if (index === this.base.index) return this.base.term
    return this.entries[index - this.base.index - 1]?.term
  }

  entryAt(index: number): Entry | undefined {
    return index > this.base.index ? this.entries[index - this.base.index - 1] : undefined
  }

  /** Entries [from, to], both inclusive and clamped to the log; at most `max` of them. */
  slice(from: number, to: number, max: number): Entry[] {
    const lo = Math.max(from, this.firstIndex) - this.base.index - 1
    const hi = Math.min(to, this.lastIndex, from + max - 1) - this.base.index
    return lo < hi ? this.entries.slice(lo, hi) : []
  }

  /** The membership in force: the latest config entry, else the snapshot's. */
  membership(): Membership {
    return this.configs[this.configs.length - 1]?.config ?? this.base.config
  }

  /** Index of the latest config entry still in the log (0 when the snapshot's membership is in force). */
  lastConfigIndex(): number {
    return this.configs[this.configs.length - 1]?.index ?? 0
  }

  /** The membership in force at `index` (which must not be below the snapshot). */
  membershipAt(index: number): Membership {
    for (let i = this.configs.length - 1; i >= 0; i--) {
      const c = this.configs[i]!
      if (c.index <= index) return c.config
    }
    return this.base.config
  }

  /** §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex)
  }

  /** Appends entries that continue the log exactly. */
  append(entries: readonly Entry[]): void {
    for (const e of entries) {
      invariant(e.index === this.lastIndex + 1, `append: entry ${e.index} after last index ${this.lastIndex}`)
      invariant(e.term >= this.lastTerm, `append: entry ${e.index} term ${e.term} below ${this.lastTerm}`)
      this.entries.push(e)
      if (e.kind === 'config') this.configs.push({ index: e.index, config: e.config })
    }
  }

  /** Removes every entry after `index`; the caller guarantees none of them is committed. */
  truncateAfter(index: number): void {
    invariant(index >= this.base.index, `truncate below the snapshot: ${index} < ${this.base.index}`)
    if (index >= this.lastIndex) return
    this.entries.length = index - this.base.index
    while (this.configs.length > 0 && this.configs[this.configs.length - 1]!.index > index) this.configs.pop()
  }

  /**
   * Replaces the entry at `index` in place, keeping everything after it. Only the planted bug
   * 'keep-conflicting-suffix' calls this: real Raft must truncate (§5.3).
   */
  overwriteInPlace(e: Entry): void {
    const k = e.index - this.base.index - 1
    invariant(k >= 0 && k <= this.entries.length, `overwrite outside the log: ${e.index}`)
    this.entries[k] = e
  }

  /** Folds entries up to `index` into a snapshot with the given state-machine bytes. */
  compact(index: number, data: Uint8Array): Snapshot {
    const term = this.termAt(index)
    invariant(term !== undefined && index > this.base.index, `compact to ${index} outside the log`)
    const snap: Snapshot = { index, term, config: this.membershipAt(index), data }
    this.entries = this.entries.slice(index - this.base.index)
    this.configs = this.configs.filter((c) => c.index > index)
    this.base = snap
    return snap
  }

  /**
   * Installs a snapshot from the leader. If our log holds the snapshot's last entry, the entries after it
   * agree with the leader (Log Matching) and are kept; otherwise the whole log is replaced.
   */
  install(snap: Snapshot): void {
    const keepTail = this.termAt(snap.index) === snap.term && snap.index <= this.lastIndex
    this.entries = keepTail ? this.entries.slice(snap.index - this.base.index) : []
    this.configs = this.configs.filter((c) => keepTail && c.index > snap.index)
    this.base = snap
  }

  /**
   * Where a rejecting follower suggests the leader try next: the largest index <= `index` whose term is
   * <= `term` (etcd's findConflictByTerm), so a leader skips a whole divergent term per round trip.
   */
  conflictHint(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex)
    while (i > this.base.index) {
      const t = this.termAt(i)!
      if (t <= term) return { index: i, term: t }
      i--
    }
    return { index: this.base.index, term: this.base.term }
  }
}
