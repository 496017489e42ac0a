// Writes to a socket that go straight to the kernel when nothing waits in the socket's queue. A net.Socket write
// passes through Node's Writable (write, writeOrBuffer, _write, _writeGeneric, a WriteWrap object made per write,
// afterWriteDispatched, and a process.nextTick to finish it), and in a bus router each request/reply hop ends in
// one such write; after the reads (os/direct-reads.ts) it was the largest share of Node's own code in a hop.
// Here a write is one write(2) on the socket's descriptor (fs.writeSync, a public API) when the socket is open,
// connected, not corked and holds nothing queued, so the bytes cannot overtake earlier ones. Whatever the kernel
// does not take at once (a full buffer: EAGAIN, or a partial write) and any error go the socket's usual way,
// socket.write, which queues the rest, waits for 'drain' and reports errors as it always does.
//
// Not Node's public API: the socket's `_handle` (null once destroyed) and its `fd`. Its descriptor is read once;
// each write checks that the handle is still the same (a closed descriptor's number is soon reused by another
// socket).

import { writeSync } from 'node:fs'
import type { Socket } from 'node:net'
import type { WriteSink } from './write-buffers.js'

interface HandleInternals {
  fd?: number
}

/** A WriteSink over `socket` whose writes go straight to the kernel while nothing is queued (see the header). */
export class DirectWriter implements WriteSink {
  private constructor(
    private readonly socket: Socket,
    private readonly handle: HandleInternals,
    private readonly fd: number,
  ) {}

  /** A direct writer for `socket`, or the socket itself when it has no descriptor of its own to write to. */
  static over(socket: Socket): WriteSink {
    const handle = (socket as unknown as { _handle?: HandleInternals | null })._handle
    const fd = handle?.fd
    if (handle === undefined || handle === null || typeof fd !== 'number' || fd < 0) return socket
    return new DirectWriter(socket, handle, fd)
  }

  get writableLength(): number {
    return this.socket.writableLength
  }

  /**
   * Writes `chunk`: true when it is all in the kernel now (`done`, if given, has run) or the socket's queue has
   * room for the rest; false: wait for the socket's 'drain' (socket.write's answer).
   */
  write(chunk: Buffer, done?: (err?: Error | null) => void): boolean {
    const s = this.socket
    let rest = chunk
    if (
      s.writableLength === 0 &&
      s.writableCorked === 0 &&
      s.writable &&
      !s.connecting &&
      (s as unknown as { _handle: HandleInternals | null })._handle === this.handle
    ) {
      let n = 0
      try {
        n = writeSync(this.fd, chunk)
      } catch {
        // EAGAIN (the kernel's buffer is full) or the connection's error: socket.write meets it again below.
      }
      if (n === chunk.length) {
        done?.()
        return true
      }
      if (n > 0) rest = chunk.subarray(n)
    }
    return s.write(rest, done)
  }
}
