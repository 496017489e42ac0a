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

export class WriteBuffers {
  private readonly spares: Buffer[] = []
  /** Whether the last write() was taken at once: its buffer may be written into again. */
  taken = false

  /** `minBytes`: the size of a new buffer (larger when a larger one is asked for). */
  constructor(private readonly minBytes: number) {}

  /** A buffer of at least `n` bytes: a spare a completed write gave back, or a new one. */
  fresh(n: number): Buffer {
    const spare = this.spares.pop()
    return spare !== undefined && spare.length >= n ? spare : Buffer.allocUnsafe(Math.max(this.minBytes, n))
  }

  /**
   * Writes the first `n` bytes of `buf` to `sink`; returns what sink.write returned. Then `taken` says whether
   * `buf` is free again; if not, it comes back as a spare once its write is done.
   */
  write(sink: WriteSink, buf: Buffer, n: number): boolean {
    let queued = false
    const ok = sink.write(buf.subarray(0, n), () => {
      if (queued && this.spares.length < MAX_SPARES) this.spares.push(buf)
    })
    this.taken = ok && sink.writableLength === 0
    queued = !this.taken
    return ok
  }
}
