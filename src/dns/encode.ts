// Writes DNS messages: header, question and records, with name compression (RFC 1035 4.1.4) for owner names and
// for the RDATA names RFC 3597 allows it in (NS, PTR, SOA). SRV targets are written in full (RFC 2782). Used at
// zone build time to pre-encode every answer, so it favours clarity over speed.

import { CLASS_IN, HEADER_LEN, MAX_MESSAGE, RRType } from './constants.js'
import { ipv4Bytes, ipv6Bytes } from './names.js'
import type { Rdata, RRset } from './records.js'

/** Compression pointers carry 14 bits of offset. */
const MAX_POINTER_TARGET = 0x3fff

// One spare 64 KiB buffer: zone builds write thousands of small messages one after another, and a fresh
// zeroed 64 KiB each time would cost more than the encoding.
let spare: Uint8Array | null = null

/** Writes one message. Use each writer for one message; finish() returns a copy and recycles the buffer. */
export class MessageWriter {
  private buf: Uint8Array
  private pos = 0
  /** Normalized suffix -> offset where it was written, for compression. */
  private readonly suffixes = new Map<string, number>()
  /** Suffixes in the order they were added, so a record that does not fit can take its own back. */
  private readonly journal: string[] = []

  constructor(private readonly limit: number = MAX_MESSAGE) {
    if (spare !== null && spare.length >= limit) {
      this.buf = spare
      spare = null
    } else {
      this.buf = new Uint8Array(Math.max(limit, MAX_MESSAGE))
    }
  }

  get length(): number {
    return this.pos
  }

  /** Writes a header; counts can be patched later with setCount. */
  header(flags: number, qd: number, an: number, ns: number, ar: number): void {
    this.pos = 0
    this.u16(0)
    this.u16(flags)
    this.u16(qd)
    this.u16(an)
    this.u16(ns)
    this.u16(ar)
  }

  /** Section counts live at offsets 4 (qd), 6 (an), 8 (ns), 10 (ar). */
  setCount(section: 'qd' | 'an' | 'ns' | 'ar', n: number): void {
    const at = { qd: 4, an: 6, ns: 8, ar: 10 }[section]
    this.buf[at] = n >> 8
    this.buf[at + 1] = n & 0xff
  }

  setFlags(flags: number): void {
    this.buf[2] = flags >> 8
    this.buf[3] = flags & 0xff
  }

  question(name: string, type: number): void {
    this.name(name, true)
    this.u16(type)
    this.u16(CLASS_IN)
  }

  /** Appends one record; false (and nothing written) when it would not fit in the limit. */
  record(set: RRset, rd: Rdata, ttl: number = set.ttl): boolean {
    const mark = this.pos
    const journalMark = this.journal.length
    try {
      this.name(set.name, true)
      this.u16(set.type)
      this.u16(CLASS_IN)
      this.u32(ttl)
      const lenAt = this.pos
      this.u16(0)
      this.rdata(rd)
      const len = this.pos - lenAt - 2
      this.buf[lenAt] = len >> 8
      this.buf[lenAt + 1] = len & 0xff
      return true
    } catch (err) {
      if (!(err instanceof WriterFull)) throw err
      this.pos = mark
      for (const k of this.journal.splice(journalMark)) this.suffixes.delete(k)
      return false
    }
  }

  /** Raw bytes (an OPT record, a pre-encoded tail). */
  bytes(b: Uint8Array): void {
    this.need(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  /** A copy of what was written; the writer is done after this. */
  finish(): Uint8Array {
    const out = this.buf.slice(0, this.pos)
    spare = this.buf
    this.buf = new Uint8Array(0)
    this.pos = 0
    return out
  }

  name(name: string, compress: boolean): void {
    // Label by label from the left; each suffix is the rest of the string (a slice, not a join of labels: the
    // long reverse names, 34 labels under ip6.arpa, made the joins most of a zone build's time).
    let start = 0
    while (start < name.length) {
      const suffix = start === 0 ? name : name.slice(start)
      const at = compress ? this.suffixes.get(suffix) : undefined
      if (at !== undefined) {
        this.u16(0xc000 | at)
        return
      }
      if (compress && this.pos <= MAX_POINTER_TARGET && this.pos >= HEADER_LEN) {
        this.suffixes.set(suffix, this.pos)
        this.journal.push(suffix)
      }
      let end = name.indexOf('.', start)
      if (end < 0) end = name.length
      this.need(1 + end - start)
      this.buf[this.pos++] = end - start
      for (let j = start; j < end; j++) this.buf[this.pos++] = name.charCodeAt(j)
      start = end + 1
    }
    this.u8(0)
  }

  /** RDATA; `compress` false writes every name in full (for bytes that will move to another offset). */
  rdata(r: Rdata, compress = true): void {
    switch (r.type) {
      case RRType.A:
        this.bytes(ipv4Bytes(r.address) ?? new Uint8Array(4))
        return
      case RRType.AAAA:
        this.bytes(ipv6Bytes(r.address) ?? new Uint8Array(16))
        return
      case RRType.NS:
        this.name(r.host, compress)
        return
      case RRType.PTR:
        this.name(r.target, compress)
        return
      case RRType.TXT:
        for (const s of r.strings) {
          const b = Buffer.from(s, 'utf8').subarray(0, 255)
          this.u8(b.length)
          this.bytes(b)
        }
        return
      case RRType.SRV:
        this.u16(r.priority)
        this.u16(r.weight)
        this.u16(r.port)
        this.name(r.target, false)
        return
      case RRType.SOA:
        this.name(r.mname, compress)
        this.name(r.rname, compress)
        for (const v of [r.serial, r.refresh, r.retry, r.expire, r.minimum]) this.u32(v)
        return
    }
  }

  private need(n: number): void {
    if (this.pos + n > this.limit) throw new WriterFull()
  }

  u8(v: number): void {
    this.need(1)
    this.buf[this.pos++] = v
  }

  u16(v: number): void {
    this.need(2)
    this.buf[this.pos++] = (v >> 8) & 0xff
    this.buf[this.pos++] = v & 0xff
  }

  u32(v: number): void {
    this.need(4)
    this.buf[this.pos++] = (v >>> 24) & 0xff
    this.buf[this.pos++] = (v >>> 16) & 0xff
    this.buf[this.pos++] = (v >>> 8) & 0xff
    this.buf[this.pos++] = v & 0xff
  }
}

/** Internal signal that a write would pass the writer's limit; never escapes this module's record(). */
class WriterFull extends Error {}

/** RDATA alone, uncompressed (for the per-query NXDOMAIN tail, whose owner offset changes with each query). */
export function encodeRdataUncompressed(rd: Rdata): Uint8Array {
  const w = new MessageWriter(MAX_MESSAGE)
  w.rdata(rd, false)
  return w.finish()
}
