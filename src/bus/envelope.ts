// The bus envelope: the one wire format of a bus message between routers (and between a router and its
// local clients). It sits on the hot path, hundreds of thousands of times a second, so:
//   - a fixed 18-byte header first (version, flags, ttl, priority, id, timestamp) at fixed offsets: a
//     forwarding router patches the ttl byte of a copy instead of re-encoding;
//   - names and subjects are printable ASCII, checked byte by byte in place and interned through a small
//     direct-mapped cache, so decoding the same node ids and subjects again allocates no strings;
//   - the payload is the rest of the envelope and is returned as a view, never copied.
// writeEnvelope encodes straight into a link's batch frame (no buffer per message); encodeEnvelope checks
// and encodes into an exact-size buffer. The decoder is total: a value or a DecodeError.
//
//   off  0 u8   version (1)
//        1 u8   flags: 1 ACK_REQUESTED, 2 ACK, 4 REQUEST, 8 REPLY, 16 ERROR; other bits must be 0
//        2 u8   ttl: hops this envelope may still travel (each link crossing consumes one)
//        3 u8   priority 1 (lowest) .. 10 (highest)
//        4 u32  id epoch: random per router boot
//        8 u32  id sequence: per-router counter (wraps at 2^32)
//       12 u48  timestamp, ms since the Unix epoch on the origin's clock
//       18 name source node | name source agent ('' = the router itself)
//          u8 n (1..64) then n names: destination nodes (several only for a subject fan-out)
//          name destination agent ('' = none) | subject ('' = none; else a literal subject)
//          if REQUEST:     name reply node | name reply agent
//          if ACK | REPLY: u32 epoch, u32 sequence of the message answered
//          payload: every byte to the end
//   name = varint length, then that many bytes 0x21-0x7e (at most 64; subjects at most 256)
//
// Message id: (source node, epoch, sequence). A 64-bit counter scoped by the origin is unique without
// coordination, costs 8 fixed bytes instead of a 16-byte random id, and lets the receiver's duplicate cache
// key on numbers. The random epoch keeps ids of a restarted router apart from those of its previous life.

import {
  type Codec,
  DecodeError,
  type DecodeReason,
  EncodeError,
  type Reader,
  type Writer,
} from '../wire/index.js'
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  ENVELOPE_VERSION,
  type Envelope,
  type EnvelopeLimits,
  Flag,
  HEADER_BYTES,
  KNOWN_FLAGS,
  MAX_DESTINATIONS,
  MAX_PRIORITY,
  MAX_TIMESTAMP,
  MIN_PRIORITY,
} from './message.js'
import { intern, MAX_NAME_BYTES } from './names.js'
import { MAX_SUBJECT_BYTES, subjectBytesProblem } from './subjects.js'

export * from './message.js'

const TWO_POW_32 = 2 ** 32

/** Returns null if the flag combination and addressing make sense, else what is wrong. */
function semanticProblem(e: Envelope): string | null {
  const f = e.flags
  if ((f & Flag.ACK) !== 0 && (f & (Flag.REPLY | Flag.REQUEST | Flag.ACK_REQUESTED)) !== 0)
    return 'an ACK cannot also be a reply, a request or ask for an ack'
  if ((f & Flag.REPLY) !== 0 && (f & Flag.REQUEST) !== 0) return 'a reply cannot also be a request'
  if ((f & Flag.ERROR) !== 0 && (f & (Flag.ACK | Flag.REPLY)) === 0)
    return 'ERROR is only valid on an ack or reply'
  if ((e.agent !== '' || e.subject === '') && e.to.length !== 1)
    return 'a message to an agent or a node has exactly one destination node'
  return null
}

// ---- decoding ---------------------------------------------------------------------------------------

// A hand-written cursor rather than wire's Reader: Reader.string allocates a string per field, and here the
// same dozen names repeat millions of times. Length prefixes follow the same rule as Reader (minimal LEB128).
// Loops copy fields into locals: V8 keeps those in registers, not object slots.
class Cursor {
  pos: number

  constructor(
    readonly buf: Uint8Array,
    readonly base: number,
    readonly end: number,
  ) {
    this.pos = base
  }

  /** Offsets in errors are relative to the envelope's first byte. */
  fail(reason: DecodeReason, message: string, at = this.pos): never {
    throw new DecodeError(reason, `envelope: ${message}`, at - this.base)
  }

  length(max: number, what: string): number {
    const b = this.buf
    const p = this.pos
    if (p >= this.end) this.fail('truncated', `${what} length missing`)
    const b0 = b[p]!
    let n = b0
    let size = 1
    if (b0 >= 0x80) {
      if (p + 1 >= this.end) this.fail('truncated', `${what} length runs past the end`)
      const b1 = b[p + 1]!
      if (b1 === 0) this.fail('overlong-varint', `${what} length is not minimally encoded`)
      if (b1 >= 0x80) this.fail('length-exceeds-max', `${what} length exceeds ${max}`)
      n = (b0 & 0x7f) | (b1 << 7)
      size = 2
    }
    if (n > max) this.fail('length-exceeds-max', `${what} is ${n} bytes, more than ${max}`)
    if (p + size + n > this.end)
      this.fail('truncated', `${what} needs ${n} bytes, ${this.end - p - size} left`)
    this.pos = p + size
    return n
  }

  /** A name of 0..64 printable ASCII bytes; `required` rejects the empty name. */
  name(what: string, required: boolean): string {
    const n = this.length(MAX_NAME_BYTES, what)
    if (n === 0) {
      if (required) this.fail('invalid-value', `${what} is empty`)
      return ''
    }
    const b = this.buf
    const start = this.pos
    const stop = start + n
    let hash = 0x811c9dc5
    let bad = -1
    for (let i = start; i < stop; i++) {
      const c = b[i]!
      if (c < 0x21 || c > 0x7e) bad = i
      hash = Math.imul(hash ^ c, 0x01000193)
    }
    if (bad >= 0) this.fail('invalid-value', `${what} has character code ${b[bad]}`, bad)
    this.pos = stop
    return intern(b, start, stop, hash)
  }

  subject(): string {
    const n = this.length(MAX_SUBJECT_BYTES, 'subject')
    if (n === 0) return ''
    const b = this.buf
    const start = this.pos
    const stop = start + n
    const problem = subjectBytesProblem(b, start, stop, false)
    if (problem !== null) this.fail('invalid-value', `subject ${problem}`, start)
    let hash = 0x811c9dc5
    for (let i = start; i < stop; i++) hash = Math.imul(hash ^ b[i]!, 0x01000193)
    this.pos = stop
    return intern(b, start, stop, hash)
  }

  u32(p: number): number {
    const b = this.buf
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0
  }
}

/**
 * Decodes one envelope occupying all of `bytes`. Strings come from the intern cache; `payload` is a view of
 * `bytes`. Throws DecodeError (and nothing else) on any malformed input.
 */
export function decodeEnvelope(bytes: Uint8Array, limits?: EnvelopeLimits): Envelope {
  return decodeEnvelopeAt(bytes, 0, bytes.length, limits)
}

/** decodeEnvelope of bytes [start, stop) of `bytes`, without making a view of them first (batch frames). */
export function decodeEnvelopeAt(
  bytes: Uint8Array,
  start: number,
  stop: number,
  limits?: EnvelopeLimits,
): Envelope {
  if (!(start >= 0 && stop <= bytes.length && start <= stop))
    throw new DecodeError('invalid-value', 'envelope: bad range')
  const c = new Cursor(bytes, start, stop)
  const maxPayload = limits?.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES
  const buf = bytes
  const base = start
  if (stop - base < HEADER_BYTES)
    c.fail('truncated', `${stop - base} bytes is shorter than the ${HEADER_BYTES}-byte header`, base)
  const version = buf[base]!
  if (version !== ENVELOPE_VERSION)
    throw new DecodeError('unsupported-version', `envelope version ${version}`, 0)
  const flags = buf[base + 1]!
  if ((flags & ~KNOWN_FLAGS) !== 0) c.fail('invalid-value', `unknown flags 0x${flags.toString(16)}`, base + 1)
  const ttl = buf[base + 2]!
  const priority = buf[base + 3]!
  if (priority < MIN_PRIORITY || priority > MAX_PRIORITY)
    c.fail('invalid-value', `priority ${priority}`, base + 3)
  const epoch = c.u32(base + 4)
  const seq = c.u32(base + 8)
  const timestamp = ((buf[base + 12]! << 8) | buf[base + 13]!) * TWO_POW_32 + c.u32(base + 14)
  c.pos = base + HEADER_BYTES
  const srcNode = c.name('source node', true)
  const srcAgent = c.name('source agent', false)
  if (c.pos >= stop) c.fail('truncated', 'destination count missing')
  const count = buf[c.pos++]!
  if (count === 0 || count > MAX_DESTINATIONS)
    c.fail('invalid-value', `destination count ${count}`, c.pos - 1)
  const to: string[] = new Array(count)
  for (let i = 0; i < count; i++) {
    const node = c.name('destination node', true)
    for (let j = 0; j < i; j++) if (to[j] === node) c.fail('invalid-value', 'destination node listed twice')
    to[i] = node
  }
  const agent = c.name('destination agent', false)
  const subject = c.subject()
  let replyNode = ''
  let replyAgent = ''
  if ((flags & Flag.REQUEST) !== 0) {
    replyNode = c.name('reply node', true)
    replyAgent = c.name('reply agent', false)
  }
  let corrEpoch = 0
  let corrSeq = 0
  if ((flags & (Flag.ACK | Flag.REPLY)) !== 0) {
    if (stop - c.pos < 8) c.fail('truncated', 'answered id needs 8 bytes')
    corrEpoch = c.u32(c.pos)
    corrSeq = c.u32(c.pos + 4)
    c.pos += 8
  }
  if (stop - c.pos > maxPayload)
    c.fail('length-exceeds-max', `payload of ${stop - c.pos} bytes exceeds ${maxPayload}`)
  const payload = buf.subarray(c.pos, stop)
  const env: Envelope = {
    flags,
    ttl,
    priority,
    epoch,
    seq,
    timestamp,
    srcNode,
    srcAgent,
    to,
    agent,
    subject,
    replyNode,
    replyAgent,
    corrEpoch,
    corrSeq,
    payload,
  }
  const problem = semanticProblem(env)
  if (problem !== null) c.fail('invalid-value', problem, base + 1)
  return env
}

// ---- encoding ---------------------------------------------------------------------------------------

function nameSize(s: string, what: string, required: boolean, max = MAX_NAME_BYTES): number {
  const n = s.length
  if (n > max) throw new EncodeError(`${what} is ${n} characters, more than ${max}`)
  if (n === 0 && required) throw new EncodeError(`${what} is empty`)
  return (n < 0x80 ? 1 : 2) + n
}

/** Exact encoded size of `e`; throws EncodeError for lengths the format cannot carry. */
export function envelopeSize(e: Envelope): number {
  if (e.to.length === 0 || e.to.length > MAX_DESTINATIONS)
    throw new EncodeError(`destination count ${e.to.length} is outside 1..${MAX_DESTINATIONS}`)
  let n =
    HEADER_BYTES + nameSize(e.srcNode, 'source node', true) + nameSize(e.srcAgent, 'source agent', false)
  n += 1
  for (let i = 0; i < e.to.length; i++) n += nameSize(e.to[i]!, 'destination node', true)
  n +=
    nameSize(e.agent, 'destination agent', false) + nameSize(e.subject, 'subject', false, MAX_SUBJECT_BYTES)
  if ((e.flags & Flag.REQUEST) !== 0)
    n += nameSize(e.replyNode, 'reply node', true) + nameSize(e.replyAgent, 'reply agent', false)
  if ((e.flags & (Flag.ACK | Flag.REPLY)) !== 0) n += 8
  return n + e.payload.length
}

function checkU32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v >= TWO_POW_32) throw new EncodeError(`${what} ${v} is not a u32`)
}

function checkChars(s: string, what: string): void {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x21 || c > 0x7e) throw new EncodeError(`${what} has character code ${c} (printable ASCII only)`)
  }
}

/**
 * Throws EncodeError unless `e` has an encoding: numbers in range, names of printable ASCII, no
 * destination twice, consistent flags. A subject must also have been validated (validateSubject).
 */
export function checkEnvelope(e: Envelope): void {
  if (!Number.isInteger(e.flags) || e.flags < 0 || (e.flags & ~KNOWN_FLAGS) !== 0)
    throw new EncodeError(`flags ${e.flags}`)
  if (!Number.isInteger(e.ttl) || e.ttl < 0 || e.ttl > 255)
    throw new EncodeError(`ttl ${e.ttl} is not 0..255`)
  if (!Number.isInteger(e.priority) || e.priority < MIN_PRIORITY || e.priority > MAX_PRIORITY)
    throw new EncodeError(`priority ${e.priority} is not ${MIN_PRIORITY}..${MAX_PRIORITY}`)
  checkU32(e.epoch, 'epoch')
  checkU32(e.seq, 'seq')
  checkU32(e.corrEpoch, 'corrEpoch')
  checkU32(e.corrSeq, 'corrSeq')
  if (!Number.isInteger(e.timestamp) || e.timestamp < 0 || e.timestamp > MAX_TIMESTAMP)
    throw new EncodeError(`timestamp ${e.timestamp} is not a u48`)
  const problem = semanticProblem(e)
  if (problem !== null) throw new EncodeError(problem)
  envelopeSize(e)
  checkChars(e.srcNode, 'source node')
  checkChars(e.srcAgent, 'source agent')
  for (let i = 0; i < e.to.length; i++) {
    checkChars(e.to[i]!, 'destination node')
    for (let j = 0; j < i; j++)
      if (e.to[j] === e.to[i]) throw new EncodeError(`destination ${e.to[i]} listed twice`)
  }
  checkChars(e.agent, 'destination agent')
  checkChars(e.subject, 'subject')
  checkChars(e.replyNode, 'reply node')
  checkChars(e.replyAgent, 'reply agent')
}

function putU32(out: Uint8Array, p: number, v: number): void {
  out[p] = v >>> 24
  out[p + 1] = (v >>> 16) & 0xff
  out[p + 2] = (v >>> 8) & 0xff
  out[p + 3] = v & 0xff
}

function putName(out: Uint8Array, p: number, s: string): number {
  const n = s.length
  if (n < 0x80) out[p++] = n
  else {
    out[p++] = (n & 0x7f) | 0x80
    out[p++] = n >>> 7
  }
  for (let i = 0; i < n; i++) out[p++] = s.charCodeAt(i)
  return p
}

/**
 * Writes `e` at `out[p]` with hop count `ttl` and returns the offset after it. No checks: the hot path
 * (link batches) writes envelopes whose fields the router already validated; anything else goes through
 * encodeEnvelope. `out` must have envelopeSize(e) bytes from `p`.
 */
export function writeEnvelope(out: Uint8Array, p: number, e: Envelope, ttl = e.ttl): number {
  out[p] = ENVELOPE_VERSION
  out[p + 1] = e.flags
  out[p + 2] = ttl
  out[p + 3] = e.priority
  putU32(out, p + 4, e.epoch)
  putU32(out, p + 8, e.seq)
  const hi = Math.floor(e.timestamp / TWO_POW_32)
  out[p + 12] = hi >>> 8
  out[p + 13] = hi & 0xff
  putU32(out, p + 14, e.timestamp >>> 0)
  p = putName(out, p + HEADER_BYTES, e.srcNode)
  p = putName(out, p, e.srcAgent)
  out[p++] = e.to.length
  for (let i = 0; i < e.to.length; i++) p = putName(out, p, e.to[i]!)
  p = putName(out, p, e.agent)
  p = putName(out, p, e.subject)
  if ((e.flags & Flag.REQUEST) !== 0) {
    p = putName(out, p, e.replyNode)
    p = putName(out, p, e.replyAgent)
  }
  if ((e.flags & (Flag.ACK | Flag.REPLY)) !== 0) {
    putU32(out, p, e.corrEpoch)
    putU32(out, p + 4, e.corrSeq)
    p += 8
  }
  out.set(e.payload, p)
  return p + e.payload.length
}

/** Checks and encodes `e` into a new buffer of exactly the right size (EncodeError: no encoding). */
export function encodeEnvelope(e: Envelope): Uint8Array {
  checkEnvelope(e)
  const out = new Uint8Array(envelopeSize(e))
  writeEnvelope(out, 0, e)
  return out
}

/**
 * The same format as a wire Codec, for composing with other codecs. The envelope runs to the end of its
 * input (the payload has no length prefix), so decode consumes everything the Reader has left.
 */
export const envelopeCodec: Codec<Envelope> = {
  encode(w: Writer, e: Envelope) {
    w.fixed(encodeEnvelope(e))
  },
  decode(r: Reader) {
    return decodeEnvelope(r.fixed(r.remaining))
  },
}

/** Largest envelope a payload limit allows: header, every name at its maximum, 64 destinations. */
export function maxEnvelopeBytes(maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES): number {
  const name = 1 + MAX_NAME_BYTES
  return HEADER_BYTES + (5 + MAX_DESTINATIONS) * name + 1 + 2 + MAX_SUBJECT_BYTES + 8 + maxPayloadBytes
}
