// Idle heap trimming. A router's steady state allocates a little all the time (probes, link-state records,
// WireGuard read-backs) and V8 only collects the old generation when it nears a limit it raises as the heap
// grows, so an idle daemon's heap drifts to about twice its live size and stays there. Every `intervalMs` this
// runs one full collection when the heap holds at least `minGarbageBytes` more than it did after the last one;
// V8 then returns the freed pages. Measured here (11-node mesh, 10 peers each, heap snapshot after a full
// collection): live heap ~28 MB, used heap drifting to 40-56 MB between V8's own collections.
// After a collection the C heap gets the same treatment (releaseC: glibc's malloc_trim through the native addon):
// the backing stores V8 just freed leave free pages between live blocks that free() never hands back; in the
// memory bench's mesh an idle daemon's [heap] went from 13.0 to 10.2 MiB resident.
// The young generation: without a limit on it V8 grows it to 2 x 16 MiB under a burst of allocation (start-up, a
// join, bus traffic) and, in Node 20, only its memory reducer shrinks it again, a minute or more into an idle
// period; gc() leaves it as it is. With the native addon the collection is V8's low-memory notification instead
// (`collect`), which shrinks it to its minimum and compacts in memory-reducing mode, and a check also collects
// when it has grown past `youngLimitBytes`. The young generation is otherwise V8's to size. Kept at 1 MiB
// (--max-semi-space-size=1, and later V8's semi-space growth factor set to 1 at run time, which keeps it where
// a collection left it), the bus suite's request/reply p50 ratio to NATS was 1.085-1.121 against 0.944-0.972
// without (3 runs each, interleaved; V8's default lets it grow to 16 MiB, so scavenges come far less often),
// for 2.4 MiB less in an idle daemon (memory suite 76.1 against 78.5 MiB). Given on the command line the flag
// also cost every start-up: any V8 flag there changes V8's flag hash, and V8 then refuses Node's code cache
// for the built-in modules (55 ms more CPU per daemon to require them here).
// File pages: start-up maps far more of /usr/bin/node than an idle daemon uses (V8's deserialiser and
// compilers, built-in modules' sources, ICU), and they stay in the resident set until the kernel's reclaim takes
// them. `releaseFiles` (the native addon's dropFilePages, see native-bindings/src/pages.c) unmaps the resident
// pages of read-only file mappings holding no private copy; they stay in the page cache and map again on use.
// It runs on an idle check at most every `filesSpacingMs`, collection or not.
// Idle means idle: a full collection stops the event loop for 10-30 ms, so a check is skipped while the loop
// was busy (utilisation above `maxBusy` since the previous check) — under load V8 collects on its own, and a
// forced pause would land in the middle of bus traffic or a Raft commit.

import { performance } from 'node:perf_hooks'
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Counter } from 'prom-client'

export interface HeapTrimOptions {
  intervalMs: number
  minGarbageBytes: number
  /** Counts collections run (label-free). */
  trims?: Counter
  /** Event-loop utilisation (0..1) since the previous check above which a check is skipped. Default 0.25. */
  maxBusy?: number
  /** Utilisation since the previous call (tests inject it); default performance.eventLoopUtilization. */
  busy?: () => number
  /**
   * Runs after each collection to hand the C heap's free pages back to the kernel (the native addon's
   * malloc_trim; V8 has just freed the backing stores of dead buffers there). Returns whether anything went back.
   */
  releaseC?: () => boolean
  /** Counts collections after which releaseC gave memory back. */
  releases?: Counter
  /**
   * The collection to run instead of gc(): the native addon's lowMemory (V8's low-memory notification), which
   * also shrinks the young generation. Default: gc() from --expose-gc.
   */
  collect?: () => void
  /**
   * With `collect`: a check also collects when V8's young generation has grown past this many bytes, garbage
   * or not (it stays at its high-water mark otherwise; see the header).
   */
  youngLimitBytes?: number
  /**
   * At most one collection per this many ms (default: intervalMs). Checks may come more often, so an idle
   * daemon trims within a check of going quiet while a busy one is not paused more often than this.
   */
  minSpacingMs?: number
  /** At most one collection for the young generation alone per this many ms (default 30 s): see tick(). */
  youngSpacingMs?: number
  /**
   * Unmaps the resident pages of read-only file mappings (the native addon's dropFilePages); returns the kB
   * they held, or a negative errno.
   */
  releaseFiles?: () => number
  /** At most one releaseFiles per this many ms (default: minSpacingMs, else intervalMs). */
  filesSpacingMs?: number
  /** Counts the bytes releaseFiles unmapped. */
  filesReleased?: Counter
  /** Monotonic ms (tests inject it); default performance.now. */
  now?: () => number
}

/** Bytes V8's young generation (new space) holds reserved now. */
export function youngGenerationBytes(): number {
  for (const s of getHeapSpaceStatistics()) if (s.space_name === 'new_space') return s.space_size
  return 0
}

/** The global gc() of V8's --expose-gc, obtained at run time (the flag applies to contexts created after it). */
function exposeGc(): (() => void) | null {
  const g = (globalThis as { gc?: () => void }).gc
  if (typeof g === 'function') return g
  try {
    setFlagsFromString('--expose-gc')
    const fn = runInNewContext('gc') as unknown
    return typeof fn === 'function' ? (fn as () => void) : null
  } catch {
    return null
  }
}

export class HeapTrimmer {
  private timer: NodeJS.Timeout | null = null
  private baseline = 0
  private readonly gc: (() => void) | null
  private readonly busy: () => number
  private readonly now: () => number
  private lastAt = Number.NEGATIVE_INFINITY
  private lastYoungAt = Number.NEGATIVE_INFINITY
  private lastFilesAt = Number.NEGATIVE_INFINITY

  constructor(private readonly opts: HeapTrimOptions) {
    this.gc = opts.collect ?? exposeGc()
    this.now = opts.now ?? (() => performance.now())
    let last = performance.eventLoopUtilization()
    this.busy =
      opts.busy ??
      (() => {
        const now = performance.eventLoopUtilization()
        const d = performance.eventLoopUtilization(now, last)
        last = now
        return d.utilization
      })
  }

  /** Whether a collection can be requested on this runtime (false: the trimmer does nothing). */
  get available(): boolean {
    return this.gc !== null
  }

  start(): void {
    if (this.gc === null || this.timer !== null) return
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /**
   * One check: collect when the loop was idle enough and the heap grew by minGarbageBytes since the last
   * collection, or the young generation grew past youngLimitBytes. A loop that stays moderately busy would
   * grow the young generation again after each shrink, so that reason alone counts once per youngSpacingMs.
   * Then, idle and past filesSpacingMs since the last time, unmaps idle file pages (releaseFiles). Returns
   * whether it collected.
   */
  tick(): boolean {
    if (this.gc === null) return false
    if (this.busy() > (this.opts.maxBusy ?? 0.25)) return false
    const now = this.now()
    const collected = this.maybeCollect(this.gc, now)
    const files = this.opts.releaseFiles
    if (files !== undefined && now - this.lastFilesAt >= (this.opts.filesSpacingMs ?? this.spacing)) {
      this.lastFilesAt = now
      const kb = files()
      if (kb > 0) this.opts.filesReleased?.inc(kb * 1024)
    }
    return collected
  }

  private get spacing(): number {
    return this.opts.minSpacingMs ?? this.opts.intervalMs
  }

  private maybeCollect(gc: () => void, now: number): boolean {
    if (now - this.lastAt < this.spacing) return false
    // V8's own figure: process.memoryUsage() would also read /proc for the RSS on every check.
    const used = getHeapStatistics().used_heap_size
    const garbage = this.baseline === 0 || used - this.baseline >= this.opts.minGarbageBytes
    const young =
      !garbage &&
      this.opts.collect !== undefined &&
      this.opts.youngLimitBytes !== undefined &&
      now - this.lastYoungAt >= (this.opts.youngSpacingMs ?? 30_000) &&
      youngGenerationBytes() > this.opts.youngLimitBytes
    if (!garbage && !young) return false
    this.lastAt = now
    if (young) this.lastYoungAt = now
    gc()
    this.baseline = getHeapStatistics().used_heap_size
    this.opts.trims?.inc()
    if (this.opts.releaseC?.() === true) this.opts.releases?.inc()
    return true
  }
}
