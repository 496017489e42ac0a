// Duplicate suppression at the receiving router: bounded memories of recently delivered message ids
// (origin node, epoch, sequence), in two tiers because the two kinds of duplicates differ:
//   - at-least-once messages are retransmitted with the same id for tens of seconds, so the receiver must
//     recognise a copy long after the first: DedupCache, exact over a time window;
//   - at-most-once messages are never retransmitted; over authenticated, ordered peer links a duplicate
//     can only come from a replayed frame or a bug, close behind the original. SeqWindows keeps, per
//     origin, a bitmap of the last 4096 sequence numbers: O(1), no allocation, which matters at hundreds
//     of thousands of messages a second. An id older than that window counts as new (at-most-once
//     already allows loss; we prefer delivering a straggler over dropping it).
//
// DedupCache: two generations instead of an LRU list: inserts go to the current generation, lookups check both, and
// when the current one is half the capacity (or half the window old) the previous one is dropped whole.
// That is O(1) per message with no per-entry bookkeeping, exact (no false positives, unlike a Bloom
// filter, which would silently lose messages), and bounded: at most `capacity` ids are held, and every id
// is remembered for at least min(windowMs / 2, the next capacity / 2 ids). Senders must finish retrying
// within that; the router's defaults (retries over ~30 s, window 120 s) leave a wide margin.

export interface DedupOptions {
  /** Most ids remembered. Default 262,144 (a few MiB). */
  capacity?: number
  /** How long an id is remembered at most; at least half of this. Default 120 s. */
  windowMs?: number
}

type Generation = Map<string, Map<number, Set<number>>>

export class DedupCache {
  private current: Generation = new Map()
  private previous: Generation = new Map()
  private currentCount = 0
  private currentSince: number
  private readonly half: number
  private readonly halfWindow: number

  constructor(now: number, opts: DedupOptions = {}) {
    const capacity = opts.capacity ?? 262_144
    const windowMs = opts.windowMs ?? 120_000
    if (!Number.isInteger(capacity) || capacity < 2) throw new RangeError(`dedup capacity ${capacity}`)
    if (!(windowMs > 0)) throw new RangeError(`dedup window ${windowMs}`)
    this.half = Math.floor(capacity / 2)
    this.halfWindow = windowMs / 2
    this.currentSince = now
  }

  /** Ids held now (both generations). */
  get size(): number {
    let n = this.currentCount
    for (const epochs of this.previous.values()) for (const seqs of epochs.values()) n += seqs.size
    return n
  }

  /** Was this id seen recently? */
  has(origin: string, epoch: number, seq: number): boolean {
    return has(this.current, origin, epoch, seq) || has(this.previous, origin, epoch, seq)
  }

  /** Remembers an id (the caller checked `has` first; adding twice only wastes a slot). */
  add(origin: string, epoch: number, seq: number, now: number): void {
    if (this.currentCount >= this.half || now - this.currentSince >= this.halfWindow) {
      this.previous = this.current
      this.current = new Map()
      this.currentCount = 0
      this.currentSince = now
    }
    let epochs = this.current.get(origin)
    if (epochs === undefined) {
      epochs = new Map()
      this.current.set(origin, epochs)
    }
    let seqs = epochs.get(epoch)
    if (seqs === undefined) {
      seqs = new Set()
      epochs.set(epoch, seqs)
    }
    if (!seqs.has(seq)) {
      seqs.add(seq)
      this.currentCount++
    }
  }

  /** True if this id was seen recently (a duplicate); otherwise remembers it and returns false. */
  seen(origin: string, epoch: number, seq: number, now: number): boolean {
    if (this.has(origin, epoch, seq)) return true
    this.add(origin, epoch, seq, now)
    return false
  }

  clear(): void {
    this.current = new Map()
    this.previous = new Map()
    this.currentCount = 0
  }
}

function has(g: Generation, origin: string, epoch: number, seq: number): boolean {
  const seqs = g.get(origin)?.get(epoch)
  return seqs?.has(seq) === true
}

/** Sequence numbers remembered per origin by SeqWindows (a power of two). */
export const SEQ_WINDOW = 4096

class Window {
  max: number
  readonly bits = new Uint32Array(SEQ_WINDOW / 32)

  constructor(
    readonly epoch: number,
    seq: number,
  ) {
    this.max = seq
  }
}

/** Per-origin sliding windows of recent sequence numbers (see the file comment). */
export class SeqWindows {
  private readonly windows = new Map<string, Window>()
  private lastOrigin = ''
  private last: Window | null = null

  constructor(private readonly maxOrigins = 4096) {}

  /** True if (origin, epoch, seq) was seen within the window; otherwise remembers it. */
  seen(origin: string, epoch: number, seq: number): boolean {
    let w = origin === this.lastOrigin ? this.last : this.windows.get(origin)
    if (w === undefined || w === null || w.epoch !== epoch) {
      // A new origin, or a new epoch (the origin restarted): start its window afresh.
      if (w === undefined && this.windows.size >= this.maxOrigins) {
        const oldest = this.windows.keys().next().value
        if (oldest !== undefined) this.windows.delete(oldest)
      }
      w = new Window(epoch, seq)
      this.windows.set(origin, w)
      this.lastOrigin = origin
      this.last = w
      w.bits[(seq & (SEQ_WINDOW - 1)) >>> 5]! |= 1 << (seq & 31)
      return false
    }
    this.lastOrigin = origin
    this.last = w
    // Sequence numbers wrap at 2^32: compare by signed 32-bit difference.
    const d = (seq - w.max) | 0
    if (d > 0) {
      if (d >= SEQ_WINDOW) w.bits.fill(0)
      else
        for (let s = w.max + 1; s !== w.max + 1 + d; s++)
          w.bits[(s & (SEQ_WINDOW - 1)) >>> 5]! &= ~(1 << (s & 31))
      w.max = seq
    } else if (-d >= SEQ_WINDOW) return false
    const word = (seq & (SEQ_WINDOW - 1)) >>> 5
    const bit = 1 << (seq & 31)
    if (d <= 0 && (w.bits[word]! & bit) !== 0) return true
    w.bits[word]! |= bit
    return false
  }
}
