// The query parser of the fast path: reads the header, the question (lower-casing the name into a lookup key as
// it goes) and walks every record after it, checking the OPT record (RFC 6891). Total: for any bytes it returns a
// ParsedQuery or a DnsDecodeError, and it never throws, never allocates per label, and never reads past the input.

import { HEADER_LEN, MAX_NAME_WIRE, OPCODE_MASK, RRType, UDP_MIN_PAYLOAD } from './constants.js'
import { DnsDecodeError, type MalformedReason } from './errors.js'
import { HASH_SEED, hashByte } from './wiremap.js'

export interface ParsedQuery {
  id: number
  /** The query's flags word (RD and CD are copied into the response). */
  flags: number
  qtype: number
  qclass: number
  /** FNV-1a hash of the lower-cased wire-form name: the answer table looks the query up by it (see wiremap). */
  nameHash: number
  /** Wire length of the question name (expanded). */
  nameLength: number
  /** Offset just past the question in the packet. */
  questionEnd: number
  /**
   * The question as the client wrote it (name in its case, expanded, then QTYPE and QCLASS) when the name used
   * compression; null when it did not, in which case it is packet[12, questionEnd).
   */
  question: Uint8Array | null
  /** EDNS: the requester's UDP payload size (at least 512), or 0 when the query had no OPT record. */
  ednsSize: number
  ednsVersion: number
  /** The DO bit (RFC 3225), copied into our OPT record. */
  dnssecOk: boolean
}

// Scratch space for a compressed name; the parser is synchronous, so one module-wide buffer serves every call.
const caseScratch = new Uint8Array(MAX_NAME_WIRE)

// Results of scanName, in module state so the hot loop allocates nothing.
let scanEnd = 0
let scanLength = 0
let scanCompressed = false
let scanHash = 0

/**
 * Walks the name at `start`. On success returns null and sets scanEnd (offset after the name where it was
 * written), scanLength (expanded wire length) and scanCompressed; with `copy`, also scanHash (of the lower-cased
 * name) and the name as written in caseScratch. Pointers must point before the start of the part of the
 * name being read, so each jump goes strictly backwards and loops cannot exist (RFC 9267 2).
 */
function scanName(msg: Uint8Array, start: number, copy: boolean): MalformedReason | null {
  const n = msg.length
  let pos = start
  let limit = start
  let end = -1
  let len = 0
  let h = HASH_SEED
  scanCompressed = false
  for (;;) {
    if (pos >= n) return 'truncated'
    const b = msg[pos]!
    if (b === 0) {
      len += 1
      if (end < 0) end = pos + 1
      break
    }
    const kind = b & 0xc0
    if (kind === 0xc0) {
      if (pos + 1 >= n) return 'truncated'
      const target = ((b & 0x3f) << 8) | msg[pos + 1]!
      if (end < 0) end = pos + 2
      if (target >= n) return 'bad-pointer'
      if (target >= limit) return 'compression-loop'
      scanCompressed = true
      pos = target
      limit = target
      continue
    }
    if (kind !== 0) return 'label-too-long'
    if (pos + 1 + b > n) return 'truncated'
    // +1 for this length byte, and the root byte still to come must fit too.
    if (len + 1 + b + 1 > MAX_NAME_WIRE) return 'name-too-long'
    if (copy) {
      caseScratch[len] = b
      h = hashByte(h, b)
      for (let i = 1; i <= b; i++) {
        const c = msg[pos + i]!
        caseScratch[len + i] = c
        h = hashByte(h, c >= 0x41 && c <= 0x5a ? c | 0x20 : c)
      }
    }
    len += 1 + b
    pos += 1 + b
  }
  if (copy) {
    caseScratch[len - 1] = 0
    scanHash = hashByte(h, 0)
  }
  scanEnd = end
  scanLength = len
  return null
}

function fail(reason: MalformedReason, msg: Uint8Array, offset: number): DnsDecodeError {
  const header =
    msg.length >= HEADER_LEN ? { id: (msg[0]! << 8) | msg[1]!, flags: (msg[2]! << 8) | msg[3]! } : null
  // The reason and offset say everything; a stack trace would only make a flood of bad packets cost more.
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return new DnsDecodeError(reason, `malformed DNS query: ${reason}`, header, offset)
  } finally {
    Error.stackTraceLimit = limit
  }
}

const u16 = (m: Uint8Array, at: number): number => (m[at]! << 8) | m[at + 1]!

/** Parses one query packet (UDP payload, or a TCP frame without its length prefix). Never throws. */
export function parseQuery(msg: Uint8Array): ParsedQuery | DnsDecodeError {
  const n = msg.length
  if (n < HEADER_LEN) return fail('short-header', msg, 0)
  const flags = u16(msg, 2)
  if (flags & 0x8000) return fail('qr-set', msg, 2)
  if ((flags & OPCODE_MASK) !== 0) return fail('opcode', msg, 2)
  if (u16(msg, 4) !== 1) return fail('qdcount', msg, 4)
  const records = u16(msg, 6) + u16(msg, 8) + u16(msg, 10)
  const additionalFrom = u16(msg, 6) + u16(msg, 8)

  const bad = scanName(msg, HEADER_LEN, true)
  if (bad !== null) return fail(bad, msg, HEADER_LEN)
  const nameLength = scanLength
  const compressed = scanCompressed
  const nameHash = scanHash
  let pos = scanEnd
  if (pos + 4 > n) return fail('truncated', msg, pos)
  const qtype = u16(msg, pos)
  const qclass = u16(msg, pos + 2)
  if (qtype === RRType.OPT) return fail('bad-qtype', msg, pos)
  pos += 4
  const questionEnd = pos
  let question: Uint8Array | null = null
  if (compressed) {
    question = new Uint8Array(nameLength + 4)
    question.set(caseScratch.subarray(0, nameLength))
    question.set(msg.subarray(questionEnd - 4, questionEnd), nameLength)
  }

  let ednsSize = 0
  let ednsVersion = 0
  let dnssecOk = false
  for (let i = 0; i < records; i++) {
    const owner = pos
    const badName = scanName(msg, pos, false)
    if (badName !== null) return fail(badName, msg, pos)
    pos = scanEnd
    if (pos + 10 > n) return fail('truncated', msg, pos)
    const type = u16(msg, pos)
    const rdlength = u16(msg, pos + 8)
    const rdata = pos + 10
    if (rdata + rdlength > n) return fail('truncated', msg, rdata)
    if (type === RRType.OPT) {
      // RFC 6891 6.1.1: one OPT, in the additional section, owned by the root.
      if (i < additionalFrom || ednsSize !== 0 || msg[owner] !== 0) return fail('bad-edns', msg, owner)
      ednsSize = Math.max(UDP_MIN_PAYLOAD, u16(msg, pos + 2))
      ednsVersion = msg[pos + 5]!
      dnssecOk = (msg[pos + 6]! & 0x80) !== 0
      // Options are (code, length, data) and must fill the RDATA exactly.
      let o = rdata
      while (o < rdata + rdlength) {
        if (o + 4 > rdata + rdlength) return fail('bad-edns', msg, o)
        o += 4 + u16(msg, o + 2)
      }
      if (o !== rdata + rdlength) return fail('bad-edns', msg, o)
    }
    pos = rdata + rdlength
  }
  if (pos !== n) return fail('trailing-bytes', msg, pos)
  return {
    id: u16(msg, 0),
    flags,
    qtype,
    qclass,
    nameHash,
    nameLength,
    questionEnd,
    question,
    ednsSize,
    ednsVersion,
    dnssecOk,
  }
}

/** The question name as the client wrote it: bytes, offset and length (expanded when it was compressed). */
export function questionName(msg: Uint8Array, q: ParsedQuery): [Uint8Array, number, number] {
  return q.question === null ? [msg, HEADER_LEN, q.nameLength] : [q.question, 0, q.nameLength]
}

/** The lower-cased wire-form name as a latin1 string (names.wireKey form), for the slow paths. */
export function questionKey(msg: Uint8Array, q: ParsedQuery): string {
  const [src, off, len] = questionName(msg, q)
  let out = ''
  for (let i = 0; i < len; i++) {
    const c = src[off + i]!
    out += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c | 0x20 : c)
  }
  return out
}
