// The per-link send queue: one FIFO per priority (1..10), served highest priority first, bounded both in
// entries and in bytes so a slow link can hold only so much memory. What to do when it is full is the
// router's decision (local senders wait, transit messages are dropped or evict lower priorities); the queue
// only answers "does this fit" and keeps the accounting exact.

import { MAX_PRIORITY, MIN_PRIORITY } from './envelope.js'

/** A growable ring buffer: O(1) push/shift at either end, no per-item allocation once warm. */
export class Deque<T> {
  private items: (T | undefined)[] = new Array(16)
  private head = 0
  private len = 0

  get length(): number {
    return this.len
  }

  push(v: T): void {
    if (this.len === this.items.length) this.grow()
    this.items[(this.head + this.len) & (this.items.length - 1)] = v
    this.len++
  }

  shift(): T | undefined {
    if (this.len === 0) return undefined
    const v = this.items[this.head]
    this.items[this.head] = undefined
    this.head = (this.head + 1) & (this.items.length - 1)
    this.len--
    return v
  }

  /** Removes and returns the newest item. */
  pop(): T | undefined {
    if (this.len === 0) return undefined
    const i = (this.head + this.len - 1) & (this.items.length - 1)
    const v = this.items[i]
    this.items[i] = undefined
    this.len--
    return v
  }

  peek(): T | undefined {
    return this.len === 0 ? undefined : this.items[this.head]
  }

  /** Removes every item matching `drop`, keeping the order of the rest; returns how many went. */
  removeWhere(drop: (v: T) => boolean): number {
    const n = this.len
    let removed = 0
    for (let i = 0; i < n; i++) {
      const v = this.shift() as T
      if (drop(v)) removed++
      else this.push(v)
    }
    return removed
  }

  /** Calls `fn` on every item, oldest first. */
  forEach(fn: (v: T) => void): void {
    for (let i = 0; i < this.len; i++) fn(this.items[(this.head + i) & (this.items.length - 1)] as T)
  }

  clear(): void {
    this.items = new Array(16)
    this.head = 0
    this.len = 0
  }

  private grow(): void {
    const next: (T | undefined)[] = new Array(this.items.length * 2)
    for (let i = 0; i < this.len; i++) next[i] = this.items[(this.head + i) & (this.items.length - 1)]
    this.items = next
    this.head = 0
  }
}

export interface QueueBounds {
  maxCount: number
  maxBytes: number
}

/**
 * Items waiting for one link, by priority, each with the byte size it will take on the wire (an item may be
 * an envelope not yet encoded: the size is what the bound counts).
 */
export class PriorityQueue<T> {
  private readonly levels: Deque<T>[] = []
  private readonly sizes: Deque<number>[] = []
  private n = 0
  private size = 0
  /** Highest level that may be non-empty; lets shift skip the empty top levels in O(1) amortised. */
  private top = 0

  constructor(readonly bounds: QueueBounds) {
    for (let p = 0; p <= MAX_PRIORITY; p++) {
      this.levels.push(new Deque())
      this.sizes.push(new Deque())
    }
  }

  get count(): number {
    return this.n
  }

  get bytes(): number {
    return this.size
  }

  /** How full the queue is: the larger of its count and byte shares of the bounds (0..1). */
  get fill(): number {
    return Math.max(this.n / this.bounds.maxCount, this.size / this.bounds.maxBytes)
  }

  /** Would an item of `bytes` fit now? */
  fits(bytes: number): boolean {
    return this.n < this.bounds.maxCount && this.size + bytes <= this.bounds.maxBytes
  }

  /** Appends; the caller checked `fits` (the bound is the caller's policy, the accounting is ours). */
  push(item: T, bytes: number, priority: number): void {
    const p = Math.max(MIN_PRIORITY, Math.min(MAX_PRIORITY, priority))
    this.levels[p]!.push(item)
    this.sizes[p]!.push(bytes)
    this.n++
    this.size += bytes
    if (p > this.top) this.top = p
  }

  /** Size of the item shift() would return next, or -1 when empty. */
  peekSize(): number {
    while (this.top >= MIN_PRIORITY) {
      const s = this.sizes[this.top]!.peek()
      if (s !== undefined) return s
      this.top--
    }
    return -1
  }

  /** The item shift() would return next, left in place. */
  peek(): T | undefined {
    return this.peekSize() < 0 ? undefined : this.levels[this.top]!.peek()
  }

  /** Highest-priority, oldest item. */
  shift(): T | undefined {
    const bytes = this.peekSize()
    if (bytes < 0) return undefined
    this.sizes[this.top]!.shift()
    this.n--
    this.size -= bytes
    return this.levels[this.top]!.shift()
  }

  /**
   * Drops the newest item of the lowest non-empty priority strictly below `priority`, to make room for a
   * more important one. Returns the dropped item, or undefined when nothing ranks lower.
   */
  evictBelow(priority: number): T | undefined {
    for (let p = MIN_PRIORITY; p < priority && p <= MAX_PRIORITY; p++) {
      const bytes = this.sizes[p]!.pop()
      if (bytes !== undefined) {
        this.n--
        this.size -= bytes
        return this.levels[p]!.pop()
      }
    }
    return undefined
  }

  /** Empties the queue; returns the sum of `weight` over the items dropped (by default, how many). */
  clear(weight?: (item: T) => number): number {
    let dropped = this.n
    if (weight !== undefined) {
      dropped = 0
      for (const level of this.levels)
        level.forEach((v) => {
          dropped += weight(v)
        })
    }
    for (const level of this.levels) level.clear()
    for (const level of this.sizes) level.clear()
    this.n = 0
    this.size = 0
    this.top = 0
    return dropped
  }
}
