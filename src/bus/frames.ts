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

let cursor = 0

/** A minimal LEB128 length at `cursor` (at most 4 bytes, at most `max`); advances `cursor`. */
function readLength(frame: Uint8Array, max: number): number {
  let value = 0
  let shift = 0
  const start = cursor
  for (let i = 0; i < 4; i++) {
    if (cursor >= frame.length) throw new DecodeError('truncated', 'batch: length runs past the end', start)
    const b = frame[cursor++]!
    value |= (b & 0x7f) << shift
    if (b < 0x80) {
      if (b === 0 && i > 0) throw new DecodeError('overlong-varint', 'batch: length not minimal', start)
      if (value > max)
        throw new DecodeError('length-exceeds-max', `batch: length ${value} exceeds ${max}`, start)
      return value
    }
    shift += 7
  }
  throw new DecodeError('length-exceeds-max', 'batch: length too large', start)
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
  cursor = 1
  const n = readLength(frame, MAX_BATCH_COUNT)
  if (n === 0) throw new DecodeError('invalid-value', 'empty envelope batch', 1)
  const first = cursor
  // Pass 1 checks the framing, pass 2 hands out: both are short loops over a few length bytes.
  for (let i = 0; i < n; i++) {
    const len = readLength(frame, maxEnvelopeBytes)
    if (len > frame.length - cursor)
      throw new DecodeError('truncated', `batch: envelope of ${len} bytes runs past the end`, cursor)
    cursor += len
  }
  if (cursor !== frame.length)
    throw new DecodeError('trailing-bytes', 'batch: bytes after the last envelope', cursor)
  cursor = first
  for (let i = 0; i < n; i++) {
    const len = readLength(frame, maxEnvelopeBytes)
    const start = cursor
    cursor += len
    // `each` may re-enter (a handler that publishes and a loopback link); keep our place across the call.
    const resume = cursor
    each(frame, start, start + len)
    cursor = resume
  }
}
