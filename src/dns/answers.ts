// Pre-encoded answers: every (name, type) of a zone snapshot compiled to a complete response at build time, so
// answering a query is a map lookup, one copy and a few patched bytes (ID, RD/CD, the client's spelling of the
// question, an OPT record). Also the small responses built per query: NXDOMAIN (its SOA owner points into the
// question), truncated (TC), REFUSED, FORMERR/NOTIMP and BADVERS.

import {
  FLAG_AA,
  FLAG_QR,
  FLAG_TC,
  HEADER_LEN,
  MAX_MESSAGE,
  OPCODE_MASK,
  OPT_RR_LEN,
  Rcode,
  RRType,
  UDP_MAX_PAYLOAD,
} from './constants.js'
import { encodeRdataUncompressed, MessageWriter } from './encode.js'
import { nameFromWireKey, wireKey } from './names.js'
import { type ParsedQuery, questionKey } from './query.js'
import type { RRset } from './records.js'
import { WireMap, withType } from './wiremap.js'
import { additionalFor, lookup, type ZoneSnapshot } from './zone.js'

export interface Template {
  /** The whole response for one question, with header flags QR|AA(|TC)|rcode and every section. */
  readonly full: Uint8Array
  /** The same without the additional section, for when full does not fit; null when there is none to drop. */
  readonly lean: Uint8Array | null
}

interface NegativeTail {
  /** The SOA record after its owner: type, class, TTL, RDLENGTH, RDATA (names uncompressed). */
  readonly tail: Uint8Array
}

/** Type in the answer index for "the name itself": its NODATA answer. */
const NAME = -1

export class AnswerTable {
  /** (wire name, QTYPE) -> positive answer; (wire name, NAME) -> NODATA answer for the types it lacks. */
  private readonly index: WireMap<Template>
  /** wire apex name -> SOA tail for NXDOMAIN under that apex. */
  private readonly negative = new Map<string, NegativeTail>()

  constructor(readonly snapshot: ZoneSnapshot) {
    let count = 0
    for (const types of snapshot.names.values()) count += 1 + types.size
    this.index = new WireMap(count)
    for (const [name, types] of snapshot.names) {
      const key = wireKey(name)
      const apex = snapshot.apexes.get(findApexName(snapshot, name))
      if (apex) this.index.set(key, NAME, compile(name, 0, [], [], apex.negativeSoa, Rcode.NOERROR))
      for (const [type, set] of types) {
        this.index.set(key, type, compile(name, type, [set], additionalFor(snapshot, [set]), null, 0))
      }
    }
    for (const apex of snapshot.apexes.values()) {
      const soa = apex.negativeSoa
      const rdata = encodeRdataUncompressed(soa.records[0]!)
      const tail = new Uint8Array(10 + rdata.length)
      const dv = new DataView(tail.buffer)
      dv.setUint16(0, RRType.SOA)
      dv.setUint16(2, 1)
      dv.setUint32(4, soa.ttl)
      dv.setUint16(8, rdata.length)
      tail.set(rdata, 10)
      this.negative.set(wireKey(apex.name), { tail })
    }
  }

  /** Number of pre-encoded answers, positive and NODATA (for logs and tests). */
  get size(): number {
    return this.index.size
  }

  /**
   * The response to a parsed query, at most `limit` bytes; null when the name is outside every zone of ours (the
   * caller refuses or forwards).
   */
  respond(msg: Uint8Array, q: ParsedQuery, limit: number): Uint8Array | null {
    if (q.ednsVersion !== 0) return badVersion(msg, q)
    // The name as the client wrote it (no tuple: this is the per-query path).
    const src = q.question ?? msg
    const off = q.question === null ? HEADER_LEN : 0
    const len = q.nameLength
    if (q.qclass === 1) {
      const hit = this.index.get(withType(q.nameHash, q.qtype), q.qtype, src, off, len)
      if (hit !== undefined) return fill(msg, q, hit, limit)
    }
    const nd = this.index.get(q.nameHash, NAME, src, off, len)
    const nameKey = nd === undefined ? questionKey(msg, q) : ''
    const apexAt = nd === undefined ? this.apexOf(nameKey) : 0
    if (apexAt < 0) return null
    // Only class IN data lives here; zone transfers are not offered (nobody secondaries a mesh zone).
    if (q.qclass !== 1 || q.qtype === RRType.AXFR || q.qtype === RRType.IXFR)
      return simple(msg, q, Rcode.REFUSED, 0)
    if (nd === undefined)
      return nxdomain(msg, q, apexAt, this.negative.get(nameKey.slice(apexAt)) as NegativeTail, limit)
    if (q.qtype === RRType.ANY) {
      // Rare (debugging): compiled per query, not cached.
      const name = nameFromWireKey(questionKey(msg, q))
      const r = lookup(this.snapshot, name, RRType.ANY)
      if (r.kind === 'answer')
        return fill(msg, q, compile(name, RRType.ANY, r.answer, r.additional, null, 0), limit)
    }
    return fill(msg, q, nd, limit)
  }

  /** Offset in the wire name where its closest enclosing apex starts, or -1 when outside every zone. */
  private apexOf(nameKey: string): number {
    let off = 0
    while (off < nameKey.length) {
      if (this.negative.has(nameKey.slice(off))) return off
      const len = nameKey.charCodeAt(off)
      if (len === 0) break
      off += 1 + len
    }
    return -1
  }
}

export function compileAnswers(snapshot: ZoneSnapshot): AnswerTable {
  return new AnswerTable(snapshot)
}

function findApexName(snap: ZoneSnapshot, name: string): string {
  let n = name
  for (;;) {
    if (snap.apexes.has(n)) return n
    const dot = n.indexOf('.')
    if (dot < 0) return ''
    n = n.slice(dot + 1)
  }
}

/**
 * Encodes one response. Room for an OPT record is kept, so any template can grow by one. An answer RRset too big
 * for even a TCP message is cut at a record boundary and flagged TC (it would take about 2,000 SRV records).
 */
function compile(
  qname: string,
  qtype: number,
  answer: readonly RRset[],
  additional: readonly RRset[],
  authority: RRset | null,
  rcode: number,
): Template {
  const w = new MessageWriter(MAX_MESSAGE - OPT_RR_LEN)
  let flags = FLAG_QR | FLAG_AA | rcode
  w.header(flags, 1, 0, 0, 0)
  w.question(qname, qtype)
  let an = 0
  let full = true
  for (const set of answer) {
    for (const rd of set.records) {
      if (!w.record(set, rd)) {
        full = false
        break
      }
      an++
    }
    if (!full) break
  }
  w.setCount('an', an)
  if (authority !== null && w.record(authority, authority.records[0]!)) w.setCount('ns', 1)
  const leanLength = w.length
  let ar = 0
  if (full) {
    outer: for (const set of additional) {
      for (const rd of set.records) {
        if (!w.record(set, rd)) break outer
        ar++
      }
    }
  }
  w.setCount('ar', ar)
  if (!full) flags |= FLAG_TC
  w.setFlags(flags)
  const bytes = w.finish()
  let lean: Uint8Array | null = null
  if (ar > 0) {
    lean = bytes.slice(0, leanLength)
    lean[10] = 0
    lean[11] = 0
  }
  return { full: bytes, lean }
}

/** Copies the question as the client wrote it over the template's, so the answer keeps the client's case. */
function copyQuestion(out: Uint8Array, msg: Uint8Array, q: ParsedQuery): void {
  if (q.question !== null) {
    out.set(q.question, HEADER_LEN)
    return
  }
  for (let i = HEADER_LEN; i < q.questionEnd; i++) out[i] = msg[i]!
}

/** ID from the query; QR, AA, TC, rcode from the template; RD and CD copied (RFC 1035 4.1.1, RFC 4035 3.2.2). */
function patchHeader(out: Uint8Array, msg: Uint8Array): void {
  out[0] = msg[0]!
  out[1] = msg[1]!
  out[2] = out[2]! | (msg[2]! & 0x01)
  out[3] = out[3]! | (msg[3]! & 0x10)
}

/** Appends our OPT record at `at` and counts it: payload size we accept, extended rcode, version 0, DO echoed. */
function writeOpt(out: Uint8Array, at: number, q: ParsedQuery, extendedRcode = 0): void {
  out[at] = 0
  out[at + 1] = 0
  out[at + 2] = RRType.OPT
  out[at + 3] = UDP_MAX_PAYLOAD >> 8
  out[at + 4] = UDP_MAX_PAYLOAD & 0xff
  out[at + 5] = extendedRcode
  out[at + 6] = 0
  out[at + 7] = q.dnssecOk ? 0x80 : 0
  out[at + 8] = 0
  out[at + 9] = 0
  out[at + 10] = 0
  const ar = ((out[10]! << 8) | out[11]!) + 1
  out[10] = ar >> 8
  out[11] = ar & 0xff
}

function fill(msg: Uint8Array, q: ParsedQuery, t: Template, limit: number): Uint8Array {
  const opt = q.ednsSize > 0 ? OPT_RR_LEN : 0
  let body = t.full
  if (body.length + opt > limit) {
    // Dropping additional data needs no TC (RFC 2181 9); only a cut into the answer section does.
    if (t.lean !== null && t.lean.length + opt <= limit) body = t.lean
    else return truncated(msg, q, t.full[3]! & 0x0f)
  }
  const out = Buffer.allocUnsafe(body.length + opt)
  out.set(body)
  copyQuestion(out, msg, q)
  patchHeader(out, msg)
  if (opt) writeOpt(out, body.length, q)
  return out
}

/** Header, question and OPT: for small replies without records (REFUSED, TC). */
function simple(
  msg: Uint8Array,
  q: ParsedQuery,
  rcode: number,
  extraFlags: number,
  extendedRcode = 0,
): Uint8Array {
  const qlen = q.nameLength + 4
  const opt = q.ednsSize > 0 ? OPT_RR_LEN : 0
  const out = Buffer.alloc(HEADER_LEN + qlen + opt)
  out[2] = (FLAG_QR | extraFlags) >> 8
  out[3] = rcode
  out[5] = 1
  copyQuestion(out, msg, q)
  patchHeader(out, msg)
  if (opt) writeOpt(out, HEADER_LEN + qlen, q, extendedRcode)
  return out
}

/** The answer did not fit: question only, TC set, so the client retries over TCP (RFC 7766 5). */
function truncated(msg: Uint8Array, q: ParsedQuery, rcode: number): Uint8Array {
  return simple(msg, q, rcode, FLAG_AA | FLAG_TC)
}

/** RFC 6891 6.1.3: an EDNS version we don't implement gets BADVERS (extended rcode 16) and our version, 0. */
function badVersion(msg: Uint8Array, q: ParsedQuery): Uint8Array {
  return simple(msg, q, 0, 0, Rcode.BADVERS >> 4)
}

export function refused(msg: Uint8Array, q: ParsedQuery): Uint8Array {
  return simple(msg, q, Rcode.REFUSED, 0)
}

export function servfail(msg: Uint8Array, q: ParsedQuery): Uint8Array {
  return simple(msg, q, Rcode.SERVFAIL, 0)
}

/** NXDOMAIN with the apex SOA in the authority section, its owner a pointer to the apex inside the question. */
function nxdomain(
  msg: Uint8Array,
  q: ParsedQuery,
  apexAt: number,
  neg: NegativeTail,
  limit: number,
): Uint8Array {
  const qend = HEADER_LEN + q.nameLength + 4
  const opt = q.ednsSize > 0 ? OPT_RR_LEN : 0
  const len = qend + 2 + neg.tail.length
  if (len + opt > limit) return truncated(msg, q, Rcode.NXDOMAIN)
  const out = Buffer.allocUnsafe(len + opt)
  out[2] = (FLAG_QR | FLAG_AA) >> 8
  out[3] = Rcode.NXDOMAIN
  out[4] = 0
  out[5] = 1
  out[6] = 0
  out[7] = 0
  out[8] = 0
  out[9] = 1
  out[10] = 0
  out[11] = 0
  copyQuestion(out, msg, q)
  const ptr = HEADER_LEN + apexAt
  out[qend] = 0xc0 | (ptr >> 8)
  out[qend + 1] = ptr & 0xff
  out.set(neg.tail, qend + 2)
  patchHeader(out, msg)
  if (opt) writeOpt(out, len, q)
  return out
}

/**
 * FORMERR (or NOTIMP for an unknown opcode) for a packet whose header we could read: the ID and opcode echoed,
 * RD copied, no sections (we cannot trust anything after the header).
 */
export function headerOnlyError(id: number, flags: number, rcode: number): Uint8Array {
  const out = new Uint8Array(HEADER_LEN)
  out[0] = id >> 8
  out[1] = id & 0xff
  const f = FLAG_QR | (flags & OPCODE_MASK) | (flags & 0x0100) | rcode
  out[2] = f >> 8
  out[3] = f & 0xff
  return out
}
