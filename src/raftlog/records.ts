// The records of the Raft write-ahead log and how replaying them rebuilds the log. The WAL is append-only:
// a change is a new record, never an edit, so a crash can only lose (or tear) the last writes.
//
//   HARD(term, vote, commit)   the hard state from now on
//   ENTRY(entry)               the log holds `entry` at its index and nothing after it (etcd's semantics:
//                              appending at i replaces any suffix from i)
//   TRUNCATE(after)            the log ends at `after`
//   BASE(index, term)          a snapshot covers everything up to (index, term); entries after it survive
//                              only if the log's entry at `index` has that term (else they conflict with
//                              the snapshot and are dropped) — the same rule Raft uses to install one

import { type Entry, entryCodec, RAFT_LIMITS } from '../protocols/raft/index.js'
import { type Codec, DecodeError } from '../wire/index.js'

export type WalRecord =
  | { readonly type: 'hard'; readonly term: number; readonly vote: string | null; readonly commit: number }
  | { readonly type: 'entry'; readonly entry: Entry }
  | { readonly type: 'truncate'; readonly after: number }
  | { readonly type: 'base'; readonly index: number; readonly term: number }

const TAGS = ['hard', 'entry', 'truncate', 'base'] as const

export const walRecordCodec: Codec<WalRecord> = {
  encode(w, rec) {
    w.u8(TAGS.indexOf(rec.type))
    switch (rec.type) {
      case 'hard':
        w.varint(rec.term).bool(rec.vote !== null)
        if (rec.vote !== null) w.string(rec.vote)
        w.varint(rec.commit)
        return
      case 'entry':
        entryCodec.encode(w, rec.entry)
        return
      case 'truncate':
        w.varint(rec.after)
        return
      case 'base':
        w.varint(rec.index).varint(rec.term)
        return
    }
  },
  decode(r) {
    const tag = r.u8()
    switch (TAGS[tag]) {
      case 'hard': {
        const term = r.varint()
        const vote = r.bool() ? r.string(RAFT_LIMITS.nodeIdBytes) : null
        return { type: 'hard', term, vote, commit: r.varint() }
      }
      case 'entry':
        return { type: 'entry', entry: entryCodec.decode(r) }
      case 'truncate':
        return { type: 'truncate', after: r.varint() }
      case 'base':
        return { type: 'base', index: r.varint(), term: r.varint() }
      default:
        throw new DecodeError('unknown-tag', `unknown WAL record tag ${tag}`, 0)
    }
  },
}

/** The log as replay rebuilds it: a base (index, term) and the entries after it. */
export class ReplayedLog {
  baseIndex = 0
  baseTerm = 0
  entries: Entry[] = []
  term = 0
  vote: string | null = null
  commit = 0

  get lastIndex(): number {
    return this.baseIndex + this.entries.length
  }

  termAt(index: number): number | undefined {
    if (index === this.baseIndex) return this.baseTerm
    return this.entries[index - this.baseIndex - 1]?.term
  }

  /** Applies one record; returns a description of a contradiction, or undefined. */
  apply(rec: WalRecord): string | undefined {
    switch (rec.type) {
      case 'hard':
        this.term = rec.term
        this.vote = rec.vote
        this.commit = rec.commit
        return undefined
      case 'entry': {
        const e = rec.entry
        if (e.index <= this.baseIndex) return undefined
        if (e.index > this.lastIndex + 1) return `entry ${e.index} leaves a gap after ${this.lastIndex}`
        this.entries.length = e.index - this.baseIndex - 1
        this.entries.push(e)
        return undefined
      }
      case 'truncate':
        if (rec.after < this.lastIndex) this.entries.length = Math.max(0, rec.after - this.baseIndex)
        return undefined
      case 'base':
        this.rebase(rec.index, rec.term)
        return undefined
    }
  }

  rebase(index: number, term: number): void {
    if (index <= this.baseIndex) return
    const keep = this.termAt(index) === term
    this.entries = keep ? this.entries.slice(index - this.baseIndex) : []
    this.baseIndex = index
    this.baseTerm = term
  }
}
