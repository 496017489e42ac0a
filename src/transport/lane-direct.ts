// The lane's direct path: once a lane carries only bulk frames, they are sealed and opened with the secret
// stream's own secretstream states and go straight to and from its TCP socket, without the streamx Duplex the
// secret stream wraps them in. Same bytes on the wire (uint24le length | secretstream ciphertext, the format
// @hyperswarm/secret-stream writes and reads), so a peer that still uses the stream path reads them unchanged.
//
// Why: a request/reply round trip crosses each router's lane twice, and every crossing went through streamx's
// queue, a microtask and an event on each side (write: Writable.write -> update -> _write; read: push -> queue
// -> microtask -> 'data'), on top of Node's own socket stream. The profile of the bus suite's daemons put that
// among the larger shares of their per-message time.
//
// It uses four fields of the pinned secret-stream (6.9) that are not its public API: `_encrypt` (the
// secretstream Push state, `next(plain, cipher)`), `_writableState.buffered` / `_readableState.buffered` (streamx:
// bytes queued), the instance's `push` (which its decrypting reader calls once per message) and that reader,
// `_onrawdata` (its TCP socket's 'data' listener, called here with the socket's reads directly). directPath()
// checks that they are there and have the expected shapes, and returns null otherwise: the lane then stays on the
// stream path, as it does with test doubles.

import type { Socket } from 'node:net'
import sodium from 'sodium-native'
import { readDirect } from '../os/direct-reads.js'
import { DirectWriter } from '../os/direct-writes.js'
import { beginBurst, burstItems, endBurst } from '../os/turn.js'
import { WriteBuffers } from '../os/write-buffers.js'

/** Bytes a secretstream message adds (tag + MAC). */
const ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
/** The largest ciphertext a uint24 length prefix can carry. */
const MAX_MESSAGE = 0xffffff
/** Frames up to this size get a buffer of their own from Node's pool (small, no off-heap churn to speak of). */
const SCRATCH_MIN = 4096
/** The sealing buffer's size (bus batch frames are up to 64 KiB). */
const SCRATCH_BYTES = 80 * 1024

interface StreamxState {
  buffered: number
}

/** The parts of a NoiseSecretStream the direct path touches (see the header). */
interface SecretStreamInternals {
  rawStream: Socket
  _encrypt: { next(message: Uint8Array, cipher: Uint8Array): unknown } | null
  _writableState: StreamxState | null
  _readableState: StreamxState | null
  push(data: Uint8Array | null): boolean
  /** Its reader: parses and decrypts what the TCP socket read (its 'data' listener). */
  _onrawdata(data: Uint8Array): void
  destroyed: boolean
}

export interface DirectPath {
  /** Seals `frame` as one message and writes it to the socket; false = its buffer is full ('drain' follows). */
  write(frame: Uint8Array): boolean
  /**
   * As write, for the frame `head` + a body of `n` bytes that `fill` writes at `out[at]` (it may use up to `room`
   * bytes there as working space): the body is built where it is sealed, without a buffer of its own.
   */
  writeWith(head: Uint8Array, n: number, room: number, fill: (out: Buffer, at: number) => void): boolean
  /** Nothing is queued in the stream's writer: direct writes now keep the order of everything written before. */
  writerIdle(): boolean
  /** Nothing is queued in the stream's reader: messages handed over directly from now on keep their order. */
  readerIdle(): boolean
  /** From now on every message the stream decrypts goes to `deliver` at once instead of into the stream. */
  takeReads(deliver: (message: Uint8Array) => void): void
  /** The TCP socket, for its 'drain'. */
  readonly socket: Socket
}

/** The direct path over `conn`, or null when conn is not a secret stream of the expected shape. */
export function directPath(conn: unknown): DirectPath | null {
  const s = conn as Partial<SecretStreamInternals> | null
  if (s === null || typeof s !== 'object') return null
  const raw = s.rawStream
  const enc = s._encrypt
  if (
    raw === undefined ||
    raw === null ||
    typeof (raw as Partial<Socket>).write !== 'function' ||
    enc === undefined ||
    enc === null ||
    typeof enc.next !== 'function' ||
    typeof s._writableState?.buffered !== 'number' ||
    typeof s._readableState?.buffered !== 'number' ||
    typeof s.push !== 'function' ||
    typeof s._onrawdata !== 'function'
  ) {
    return null
  }
  const stream = s as SecretStreamInternals
  // Where the next frame is sealed: kept from write to write while the socket takes each write at once; when one
  // stays queued, the next frame is sealed in a spare a completed write gave back, or a new buffer
  // (os/write-buffers.ts). A new buffer per frame made a router collect every 100-150 ms under bus throughput.
  const buffers = new WriteBuffers(SCRATCH_BYTES)
  // Sealed frames go straight to the kernel while the socket holds nothing queued (os/direct-writes.ts).
  const sink = DirectWriter.over(raw)
  let scratch: Buffer | null = null
  // Seals head + the n bytes `fill` writes (none without one) as one message and writes it to the socket.
  const seal = (
    head: Uint8Array,
    n: number,
    room: number,
    fill: ((out: Buffer, at: number) => void) | null,
  ): boolean => {
    const h = head.byteLength
    const total = h + n
    if (total + ABYTES > MAX_MESSAGE) throw new RangeError(`lane frame of ${total} bytes is too large`)
    // uint24le(ciphertext length) | ciphertext; the plaintext is written one byte past the tag's place and
    // sealed in place, as secret-stream does.
    const size = 3 + ABYTES + total
    const space = size + room - n
    const pooled = space > SCRATCH_MIN
    if (pooled && (scratch === null || scratch.length < space)) scratch = buffers.fresh(space)
    const out = pooled ? scratch! : Buffer.allocUnsafe(space)
    const len = total + ABYTES
    out[0] = len & 0xff
    out[1] = (len >>> 8) & 0xff
    out[2] = len >>> 16
    out.set(head, 4)
    fill?.(out, 4 + h)
    enc.next(out.subarray(4, 4 + total), out.subarray(3, size))
    if (!pooled) return sink.write(out.length === size ? out : out.subarray(0, size))
    const ok = buffers.write(sink, scratch!, size)
    if (!buffers.taken) scratch = null
    return ok
  }
  return {
    socket: raw,
    write: (frame) => seal(frame, 0, 0, null),
    writeWith(head, n, room, fill) {
      return seal(head, n, Math.max(n, room), fill)
    },
    writerIdle: () => stream._writableState !== null && stream._writableState.buffered === 0,
    readerIdle: () => stream._readableState !== null && stream._readableState.buffered === 0,
    takeReads(deliver) {
      // Each socket read is one burst (os/turn.ts): what its messages make the router send goes out when the
      // secret stream has handed over every message of the chunk. The socket's reads go to the stream's reader
      // directly (os/direct-reads.ts), or, where that is not possible, through 'data' (the stream's listener
      // came first).
      const onrawdata = stream._onrawdata.bind(stream)
      const direct = readDirect(raw, (chunk) => {
        beginBurst()
        try {
          onrawdata(chunk)
        } finally {
          endBurst()
        }
      })
      if (!direct) {
        raw.prependListener('data', beginBurst)
        raw.on('data', endBurst)
      }
      const push = stream.push.bind(stream)
      stream.push = (data) => {
        // The end of the stream (and anything after a destroy) still goes the stream's way.
        if (data === null || stream.destroyed) return push(data)
        burstItems()
        deliver(data)
        return true
      }
    },
  }
}
