// The UDP answer cache: a query packet whose bytes after the ID equal those of a query answered before gets that
// answer again with only the ID patched. The answer is a function of those bytes, the transport limit and the
// zone's answer table alone (the ID is copied, nothing else of it is read), so a hit is byte-identical to what
// the full path (parse, look up, fill) would produce. Keying on the exact bytes keeps the client's case of the
// name, its RD/CD bits and its OPT record (payload size, DO bit) in the key, so nothing but the ID needs patching.
// The cache belongs to one answer table: a zone update swaps the table and the next lookup empties the cache.
// Bounded in entries and bytes; one probe window, no per-lookup allocation.

import type { AnswerTable } from './answers.js'

export interface AnswerCacheOptions {
  /** Slots (rounded up to a power of two); default 16,384. */
  entries?: number
  /** Most bytes of keys and answers held; past it the cache is emptied and refills. Default 8 MiB. */
  maxBytes?: number
}

/** Queries longer than this are answered by the full path every time (real ones are well under 300 bytes). */
export const CACHE_MAX_QUERY = 512
/** Slots tried per lookup; an insert with all of them taken replaces the first. */
const PROBES = 4

export class AnswerCache {
  private readonly mask: number
  private readonly maxBytes: number
  private readonly hashes: Int32Array
  /** Per slot: QTYPE << 8 | RCODE of the answer, for the query metrics; -1 = empty. */
  private readonly meta: Int32Array
  private readonly keys: (Uint8Array | undefined)[]
  private readonly answers: (Uint8Array | undefined)[]
  private table: AnswerTable | null = null
  private bytes = 0
  /** Slot of the last hit, for qtype()/rcode(); -1 after a miss. */
  private last = -1
  hits = 0
  misses = 0

  constructor(options: AnswerCacheOptions = {}) {
    let n = 16
    const want = Math.max(16, Math.min(options.entries ?? 16_384, 1 << 20))
    while (n < want) n *= 2
    this.mask = n - 1
    this.maxBytes = options.maxBytes ?? 8 << 20
    this.hashes = new Int32Array(n)
    this.meta = new Int32Array(n).fill(-1)
    this.keys = new Array<Uint8Array | undefined>(n).fill(undefined)
    this.answers = new Array<Uint8Array | undefined>(n).fill(undefined)
  }

  /** Entries held (for tests and logs). */
  get size(): number {
    let n = 0
    for (let i = 0; i <= this.mask; i++) if (this.meta[i]! >= 0) n++
    return n
  }

  /**
   * The cached answer to `msg` under `table`, copied with the query's ID, or null on a miss. After a hit,
   * `lastQtype` and `lastRcode` describe it.
   */
  get(msg: Uint8Array, table: AnswerTable): Buffer | null {
    if (table !== this.table) this.reset(table)
    const n = msg.length
    if (n > CACHE_MAX_QUERY || n < 12) return null
    const h = hashQuery(msg)
    for (let p = 0; p < PROBES; p++) {
      const s = (h + p) & this.mask
      if (this.meta[s]! < 0) break
      if (this.hashes[s] !== h) continue
      const key = this.keys[s]!
      if (key.length !== n || !sameAfterId(key, msg, n)) continue
      const a = this.answers[s]!
      const out = Buffer.allocUnsafe(a.length)
      out.set(a)
      out[0] = msg[0]!
      out[1] = msg[1]!
      this.last = s
      this.hits++
      return out
    }
    this.last = -1
    this.misses++
    return null
  }

  /** QTYPE of the last hit. */
  get lastQtype(): number {
    return this.last < 0 ? 0 : this.meta[this.last]! >>> 8
  }

  /** RCODE of the last hit. */
  get lastRcode(): number {
    return this.last < 0 ? 0 : this.meta[this.last]! & 0xff
  }

  /** Remembers the answer the full path gave to `msg` under `table` (both are copied). */
  set(msg: Uint8Array, answer: Uint8Array, qtype: number, rcode: number, table: AnswerTable): void {
    if (table !== this.table) this.reset(table)
    const n = msg.length
    if (n > CACHE_MAX_QUERY || n < 12) return
    const size = n + answer.length
    if (this.bytes + size > this.maxBytes) this.reset(table)
    const h = hashQuery(msg)
    let slot = h & this.mask
    for (let p = 0; p < PROBES; p++) {
      const s = (h + p) & this.mask
      const key = this.keys[s]
      if (this.meta[s]! < 0 || (this.hashes[s] === h && key!.length === n && sameAfterId(key!, msg, n))) {
        slot = s
        break
      }
    }
    if (this.meta[slot]! >= 0) this.bytes -= this.keys[slot]!.length + this.answers[slot]!.length
    this.hashes[slot] = h
    this.meta[slot] = ((qtype & 0xffff) << 8) | (rcode & 0xff)
    this.keys[slot] = Uint8Array.prototype.slice.call(msg)
    this.answers[slot] = Uint8Array.prototype.slice.call(answer)
    this.bytes += size
  }

  /** Empties the cache and ties it to `table`. */
  reset(table: AnswerTable | null): void {
    this.table = table
    this.meta.fill(-1)
    this.keys.fill(undefined)
    this.answers.fill(undefined)
    this.bytes = 0
    this.last = -1
  }
}

/** FNV-1a over the length and every byte after the ID. */
function hashQuery(m: Uint8Array): number {
  const n = m.length
  let h = Math.imul(0x811c9dc5 ^ n, 0x01000193)
  for (let i = 2; i < n; i++) h = Math.imul(h ^ m[i]!, 0x01000193)
  return h
}

function sameAfterId(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = 2; i < n; i++) if (a[i] !== b[i]) return false
  return true
}
