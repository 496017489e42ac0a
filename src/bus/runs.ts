// Runs: consecutive publishes of one sender to one subject, carried as one frame with one envelope header.
// A fast publisher (a stream client) sends hundreds of messages to the same subject in every socket read;
// as separate envelopes each would be decoded, validated, routed, policy-checked, queued, encoded and, at the
// receiver, decoded into an object again, which in the `bus` suite's profiles was most of both routers' CPU.
// A run does the per-subject work once and leaves each message its payload bytes: the sending router queues
// one item for the run, the receiving router hands the run whole to a local subscriber that can take runs
// (a stream connection writes its MSG frames straight from the frame's bytes).
//
//   frame = u8 RUN (3) | varint h | h bytes: the head, an envelope (envelope.ts) with an empty payload
//           | varint n (1..MAX_RUN_COUNT) | n × (varint length | payload)
//
// Message i of the run is the head with sequence number seqAt(head.seq, i) and payload i: every message has
// its own id, so duplicate suppression and the counters see messages, not runs. Only plain publishes travel
// as runs (flags 0, a subject, no agent): requests, replies, acks and at-least-once messages stay envelopes.
// A router that has to forward a run (or deliver it to a receiver that takes single messages) expands it
// into envelopes; a run is an encoding, not a different kind of message.

import { DecodeError, EncodeError, varintLength } from '../wire/index.js'
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  decodeEnvelopeAt,
  type Envelope,
  type EnvelopeLimits,
  envelopeSize,
  envelopeWith,
  writeEnvelope,
} from './envelope.js'
import { FrameKind, LengthReader, MAX_BATCH_COUNT, putVarint } from './frames.js'

export const MAX_RUN_COUNT = MAX_BATCH_COUNT
const TWO_POW_32 = 2 ** 32

/** Sequence number of message `i` of a run starting at `first`, wrapping as BusRouter.nextSeq (never 0). */
export function seqAt(first: number, i: number): number {
  return ((first - 1 + i) % (TWO_POW_32 - 1)) + 1
}

/**
 * Messages sharing one head: payload i is `buf[offs[2i], offs[2i+1])`. As a link queue item the buffers are
 * the sender's (not copied until the frame is written); as a received run, views of the frame.
 */
export class Run {
  /** Encoded size of the whole frame. */
  readonly frameBytes: number
  /** Encoded size of the payloads with their lengths: what a run under another head keeps. */
  private readonly section: number

  constructor(
    readonly head: Envelope,
    readonly buf: Uint8Array,
    readonly offs: Int32Array,
    readonly count: number,
    /** For a subset of a received run: message i's place in the original (its sequence number). */
    readonly index: Int32Array | null = null,
    section?: number,
  ) {
    if (section === undefined) {
      section = 0
      for (let i = 0; i < count; i++) {
        const n = offs[2 * i + 1]! - offs[2 * i]!
        section += varintLength(n) + n
      }
    }
    this.section = section
    const h = envelopeSize(head)
    this.frameBytes = 1 + varintLength(h) + h + varintLength(count) + section
  }

  /** The run with another head (the same messages towards a subset of the destinations). */
  withHead(head: Envelope): Run {
    return new Run(head, this.buf, this.offs, this.count, this.index, this.section)
  }

  /**
   * The messages at indexes `keep` (ascending) under the same head. With `keepIds` they keep their sequence
   * numbers (a received run, delivered here); without, they are numbered from the head's afresh (a run not
   * yet sent: only a contiguous numbering can go on the wire).
   */
  subset(keep: readonly number[], keepIds: boolean): Run {
    const offs = new Int32Array(2 * keep.length)
    const index = keepIds ? new Int32Array(keep.length) : null
    for (let k = 0; k < keep.length; k++) {
      const i = keep[k]!
      offs[2 * k] = this.offs[2 * i]!
      offs[2 * k + 1] = this.offs[2 * i + 1]!
      if (index !== null) index[k] = this.index === null ? i : this.index[i]!
    }
    return new Run(this.head, this.buf, offs, keep.length, index)
  }

  /**
   * The messages `pass(i)` accepts, asked once each in order: this run when all pass, null when none does,
   * else their subset (`keepIds` as in subset).
   */
  filter(pass: (i: number) => boolean, keepIds: boolean): Run | null {
    let keep: number[] | null = null
    for (let i = 0; i < this.count; i++) {
      if (pass(i)) keep?.push(i)
      else if (keep === null) keep = Array.from({ length: i }, (_, k) => k)
    }
    if (keep === null) return this
    return keep.length === 0 ? null : this.subset(keep, keepIds)
  }

  /** Sequence number of message `i`. */
  seqOf(i: number): number {
    return seqAt(this.head.seq, this.index === null ? i : this.index[i]!)
  }

  /** Message `i` as an envelope (payload: a view, not a copy). */
  message(i: number): Envelope {
    const h = this.head
    return envelopeWith(h, this.seqOf(i), h.to, this.buf.subarray(this.offs[2 * i]!, this.offs[2 * i + 1]!))
  }
}

/**
 * The RUN frame for `run`, its head carrying hop count `ttl`, in a buffer of its own (the frame may be a view of
 * a slightly larger one). writeRunFrameInto writes it where it is to go.
 */
export function writeRunFrame(run: Run, ttl: number): Uint8Array {
  const out = Buffer.allocUnsafe(runFrameRoom(run))
  writeRunFrameInto(run, ttl, out, 0)
  return out.length === run.frameBytes ? out : out.subarray(0, run.frameBytes)
}

/**
 * Where a run's frame puts things, from the frame's start: the payloads' region (run.buf[lo, hi)) is copied in
 * at `base`, behind the head's `headBytes` and the count.
 */
function runLayout(run: Run): { headBytes: number; base: number; lo: number; hi: number } {
  if (run.index !== null) throw new EncodeError('a subset of a received run has no contiguous numbering')
  const { offs, count } = run
  const lo = offs[0]!
  const headBytes = envelopeSize(run.head)
  const base = 1 + varintLength(headBytes) + headBytes + varintLength(count) + varintLength(offs[1]! - lo)
  return { headBytes, base, lo, hi: offs[2 * count - 1]! }
}

/**
 * Bytes writeRunFrameInto needs at its offset: the frame, or more when the payloads' region as the sender
 * framed it is longer (it is copied in whole before the payloads are moved into place).
 */
export function runFrameRoom(run: Run): number {
  const { base, lo, hi } = runLayout(run)
  return Math.max(run.frameBytes, base + hi - lo)
}

/**
 * Writes the RUN frame for `run` (run.frameBytes bytes; runFrameRoom(run) of space used) at `out[at]`, its head
 * carrying hop count `ttl`. No object or view per message: the region of `run.buf` holding the payloads is
 * copied in once, at the first payload's place (a sender's framing between payloads is longer than the length
 * prefixes between them here, so every payload then lies at or after its place), and each payload is moved
 * down to its place within the frame, first to last, behind its length.
 */
export function writeRunFrameInto(run: Run, ttl: number, out: Buffer, at: number): void {
  const { buf, offs, count } = run
  const layout = runLayout(run)
  const { headBytes, lo, hi } = layout
  const base = at + layout.base
  out[at] = FrameKind.RUN
  let p = putVarint(out, at + 1, headBytes)
  p = writeEnvelope(out, p, run.head, ttl)
  p = putVarint(out, p, count)
  // In place only while no payload's copy-in place lies before its final place (gaps never shorter
  // than the length prefixes); otherwise one copy per payload.
  let inPlace = true
  for (let i = 1; i < count && inPlace; i++) if (offs[2 * i]! - offs[2 * i - 1]! < 4) inPlace = false
  if (inPlace) out.set(new Uint8Array(buf.buffer, buf.byteOffset + lo, hi - lo), base)
  const from = inPlace ? null : new Uint8Array(buf.buffer, buf.byteOffset, buf.length)
  for (let i = 0; i < count; i++) {
    const s = offs[2 * i]!
    const n = offs[2 * i + 1]! - s
    p = putVarint(out, p, n)
    if (from !== null) out.set(from.subarray(s, s + n), p)
    else if (i > 0) out.copyWithin(p, base + s - lo, base + s - lo + n)
    p += n
  }
  if (p - at !== run.frameBytes)
    throw new EncodeError(`run frame of ${p - at} bytes, ${run.frameBytes} expected`)
}

/**
 * Decodes a RUN frame: the head (a plain publish with an empty payload) and the payloads' places, as views of
 * `frame`. Throws DecodeError (and nothing else) on anything malformed, before anything is handed out.
 */
export function decodeRun(frame: Uint8Array, limits?: EnvelopeLimits): Run {
  if (frame.length === 0 || frame[0] !== FrameKind.RUN)
    throw new DecodeError('unknown-tag', 'not a run frame', 0)
  const maxPayload = limits?.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES
  const r = new LengthReader(frame, 1, 'run')
  const h = r.next(frame.length, 'head length')
  if (h > frame.length - r.pos) throw new DecodeError('truncated', 'run: head runs past the end', r.pos)
  const head = decodeEnvelopeAt(frame, r.pos, r.pos + h, limits)
  if (head.payload.length !== 0) throw new DecodeError('invalid-value', 'run: the head has a payload', r.pos)
  if (head.flags !== 0 || head.subject === '' || head.agent !== '')
    throw new DecodeError('invalid-value', 'run: only plain publishes travel as runs', r.pos)
  r.pos += h
  const n = r.next(MAX_RUN_COUNT, 'count')
  if (n === 0) throw new DecodeError('invalid-value', 'run: no messages', r.pos - 1)
  const offs = new Int32Array(2 * n)
  const section = r.pos
  for (let i = 0; i < n; i++) {
    const len = r.next(maxPayload, 'payload length')
    if (len > frame.length - r.pos)
      throw new DecodeError('truncated', `run: payload ${i} runs past the end`, r.pos)
    offs[2 * i] = r.pos
    r.pos += len
    offs[2 * i + 1] = r.pos
  }
  if (r.pos !== frame.length)
    throw new DecodeError('trailing-bytes', 'run: bytes after the last payload', r.pos)
  // The payloads with their lengths are the rest of the frame: the Run need not count them again.
  return new Run(head, frame, offs, n, null, frame.length - section)
}
