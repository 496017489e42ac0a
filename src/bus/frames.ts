// Bus frames: what the bus puts in one peer-link message. A frame either carries a batch of envelopes
// (several per link write when the link is busy, which is what lets the bus keep up with a fast publisher:
// one encryption and one syscall per batch instead of per message) or an interest announcement (see
// interest.ts). The type byte comes first so the receiver dispatches without decoding further.
//
//   frame     = u8 type, then by type:
//   ENVELOPES 1 = varint n (1..MAX_BATCH_COUNT) | n × (varint length | envelope, see envelope.ts)
//   INTEREST  2 = interest records (interest.ts)
//   RUN       3 = messages of one sender to one subject under one header (runs.ts)

import { DecodeError, varintLength } from '../wire/index.js'
import { type Envelope, writeEnvelope } from './envelope.js'

export const FrameKind = { ENVELOPES: 1, INTEREST: 2, RUN: 3 } as const
export const MAX_BATCH_COUNT = 4096

/**
 * Encodes a batch frame from `items[0..count)` (encoded envelopes). Allocates one buffer of the exact size,
 * every byte written: Buffer.allocUnsafe (small frames come from Node's pool; a new Uint8Array would be a
 * zero-filled allocation of its own each time, which showed as a tenth of a request's cost in the router).
 */
export function encodeBatch(items: readonly Uint8Array[], count: number): Uint8Array {
  let size = 1 + varintLength(count)
  for (let i = 0; i < count; i++) {
    const n = items[i]!.length
    size += varintLength(n) + n
  }
  const out = Buffer.allocUnsafe(size)
  out[0] = FrameKind.ENVELOPES
  let p = putVarint(out, 1, count)
  for (let i = 0; i < count; i++) {
    const item = items[i]!
    p = putVarint(out, p, item.length)
    out.set(item, p)
    p += item.length
  }
  return out
}

/**
 * A batch frame from queue items: raw envelopes (forwarded bytes, ttl already decremented) and envelopes
 * not yet encoded, written straight into the frame with one hop of ttl consumed. `sizes[i]` is the item's
 * encoded size. One allocation for the whole frame (as encodeBatch), no per-message buffer.
 */
export function writeBatch(
  items: readonly (Uint8Array | Envelope)[],
  sizes: readonly number[],
  count: number,
): Uint8Array {
  let size = 1 + varintLength(count)
  for (let i = 0; i < count; i++) size += varintLength(sizes[i]!) + sizes[i]!
  const out = Buffer.allocUnsafe(size)
  out[0] = FrameKind.ENVELOPES
  let p = putVarint(out, 1, count)
  for (let i = 0; i < count; i++) {
    const item = items[i]!
    p = putVarint(out, p, sizes[i]!)
    if (item instanceof Uint8Array) {
      out.set(item, p)
      p += item.length
    } else p = writeEnvelope(out, p, item, item.ttl - 1)
  }
  return out
}

/** Writes `v` as a minimal LEB128 varint at `out[p]`; returns the offset after it. */
export function putVarint(out: Uint8Array, p: number, v: number): number {
  while (v >= 0x80) {
    out[p++] = (v & 0x7f) | 0x80
    v >>>= 7
  }
  out[p++] = v
  return p
}

/**
 * Reads the minimal LEB128 lengths (at most 4 bytes) of a frame from `pos` on: batch frames here, run frames
 * (runs.ts). Errors name the frame kind (`what`) and the field, with the offset of the length.
 */
export class LengthReader {
  constructor(
    readonly frame: Uint8Array,
    public pos: number,
    private readonly what: string,
  ) {}

  /** The length at `pos` (at most `max`); advances `pos` past it. */
  next(max: number, field: string): number {
    const frame = this.frame
    let value = 0
    let shift = 0
    const start = this.pos
    let p = start
    for (let i = 0; i < 4; i++) {
      if (p >= frame.length)
        throw new DecodeError('truncated', `${this.what}: ${field} runs past the end`, start)
      const b = frame[p++]!
      value |= (b & 0x7f) << shift
      if (b < 0x80) {
        if (b === 0 && i > 0)
          throw new DecodeError('overlong-varint', `${this.what}: ${field} not minimal`, start)
        if (value > max)
          throw new DecodeError('length-exceeds-max', `${this.what}: ${field} ${value} exceeds ${max}`, start)
        this.pos = p
        return value
      }
      shift += 7
    }
    throw new DecodeError('length-exceeds-max', `${this.what}: ${field} too large`, start)
  }
}

/**
 * Calls `each(buf, start, end)` for every envelope in a batch frame, in order, without copying. Framing
 * errors (bad count, a length running past the end, trailing bytes) throw DecodeError before any envelope
 * is handed out, so a damaged frame is refused whole; envelope contents are the callback's business.
 */
export function forEachInBatch(
  frame: Uint8Array,
  maxEnvelopeBytes: number,
  each: (buf: Uint8Array, start: number, end: number) => void,
): void {
  if (frame.length === 0) throw new DecodeError('truncated', 'empty frame', 0)
  if (frame[0] !== FrameKind.ENVELOPES) throw new DecodeError('unknown-tag', 'not an envelope batch frame', 0)
  const r = new LengthReader(frame, 1, 'batch')
  const n = r.next(MAX_BATCH_COUNT, 'length')
  if (n === 0) throw new DecodeError('invalid-value', 'empty envelope batch', 1)
  const first = r.pos
  // Pass 1 checks the framing, pass 2 hands out: both are short loops over a few length bytes.
  for (let i = 0; i < n; i++) {
    const len = r.next(maxEnvelopeBytes, 'length')
    if (len > frame.length - r.pos)
      throw new DecodeError('truncated', `batch: envelope of ${len} bytes runs past the end`, r.pos)
    r.pos += len
  }
  if (r.pos !== frame.length)
    throw new DecodeError('trailing-bytes', 'batch: bytes after the last envelope', r.pos)
  r.pos = first
  for (let i = 0; i < n; i++) {
    const len = r.next(maxEnvelopeBytes, 'length')
    const start = r.pos
    r.pos += len
    // The reader is this call's own: `each` may re-enter (a handler that publishes, a loopback link).
    each(frame, start, start + len)
  }
}
