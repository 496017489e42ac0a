// Output buffers reused across socket writes. A write the socket takes at once (nothing left queued after it: the
// kernel has the bytes, nothing holds the buffer) leaves its buffer free for the next output; a write that stays
// queued keeps its buffer until the socket's write callback, which gives it back here as a spare. So a steady
// stream of large writes allocates nothing per write. A new off-heap buffer per write, at the bus's full rate, was
// hundreds of MB/s of external memory, and V8 starts a full collection every 64 MB of that: every 100-150 ms in a
// router under the bus suite's throughput (the daemon collects on its main thread, --single-threaded-gc).
// Used by the stream sessions' and the client's frame output (agents/frames.ts FrameOut) and the lane's sealing
// buffer (transport/lane-direct.ts).

/** Where the buffers are written: a net.Socket, or anything that reports what it still holds the same way. */
export interface WriteSink {
  /** `done` runs once the sink no longer holds `chunk` (net.Socket's write callback). */
  write(chunk: Buffer, done?: (err?: Error | null) => void): boolean
  /** Bytes written but not yet handed to the kernel (net.Socket's writableLength). */
  readonly writableLength: number
}

/** Spare buffers kept at most: a few queued writes' worth. */
const MAX_SPARES = 4
/** Buffers up to this size are kept for reuse; a larger output gets a buffer of its own. */
const MAX_KEPT_BYTES = 1024 * 1024

export class WriteBuffers {
  private readonly spares: Buffer[] = []
  /** Whether the last write() was taken at once: its buffer may be written into again. */
  taken = false

  /**
   * The size new buffers get: `minBytes` at first, then the largest size asked for rounded up to a power of two
   * (at most MAX_KEPT_BYTES), so that spares fit what is written and buffers made before a growth drop out.
   * Sized by each request instead, an output a little larger than the last found the spare too small: a router
   * delivering bursts of 70-130 KiB to a client that read slower than it wrote made a new buffer for most writes.
   */
  private size: number

  constructor(minBytes: number) {
    this.size = minBytes
  }

  /** A buffer of at least `n` bytes: a spare a completed write gave back, or a new one. */
  fresh(n: number): Buffer {
    if (n > MAX_KEPT_BYTES) return Buffer.allocUnsafe(n)
    if (n > this.size) this.size = Math.min(MAX_KEPT_BYTES, 2 ** Math.ceil(Math.log2(n)))
    // A spare smaller than n is older than the last growth: it would not fit the next output either.
    for (let spare = this.spares.pop(); spare !== undefined; spare = this.spares.pop()) {
      if (spare.length >= n) return spare
    }
    return Buffer.allocUnsafe(this.size)
  }

  /**
   * Writes the first `n` bytes of `buf` to `sink`; returns what sink.write returned. Then `taken` says whether
   * `buf` is free again; if not, it comes back as a spare once its write is done.
   */
  write(sink: WriteSink, buf: Buffer, n: number): boolean {
    let queued = false
    const ok = sink.write(buf.subarray(0, n), () => {
      if (queued && this.spares.length < MAX_SPARES && buf.length <= MAX_KEPT_BYTES) this.spares.push(buf)
    })
    this.taken = ok && sink.writableLength === 0
    queued = !this.taken
    return ok
  }
}
