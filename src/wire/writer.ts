// A growable big-endian byte writer: the encoding half of every wire format in the router (peer-link
// frames, bus envelopes, records, Raft messages). It sits on the bus hot path, so it writes into one
// buffer that doubles when full and never allocates per byte. Values with no encoding (negative or
// fractional integers, strings with lone surrogates) throw EncodeError instead of being silently coerced,
// because a silently changed value would be signed and sent as if it were what the caller meant.

import { EncodeError } from './errors.js'

/** Largest integer a varint carries: 2^53-1, so every decoded value is an exact JS number. */
export const MAX_VARINT = Number.MAX_SAFE_INTEGER
/** Default cap for length-prefixed fields when the caller does not pass a tighter one. */
export const DEFAULT_MAX_LENGTH = 1024 * 1024

const MAX_U64 = (1n << 64n) - 1n
const EMPTY = new Uint8Array(0)
const encoder = new TextEncoder()

/** Bytes an unsigned LEB128 varint of `v` takes (1..8 for 0..2^53-1). */
export function varintLength(v: number): number {
  let n = 1
  while (v >= 128) {
    v = Math.floor(v / 128)
    n++
  }
  return n
}

function isWellFormed(s: string): boolean {
  // String.prototype.isWellFormed exists in Node 20 but not in the ES2023 lib typings.
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed()
}

/**
 * A plain Uint8Array of `n` bytes that need not be zeroed (only what is written is handed out): small ones
 * are views of Node's buffer pool, where a new Uint8Array would be a zero-filled allocation of its own per
 * encoded value (link frames, records), which showed in the daemon's profile on every message.
 */
function uninitialised(n: number): Uint8Array {
  const b = Buffer.allocUnsafe(n)
  return new Uint8Array(b.buffer, b.byteOffset, n)
}

export class Writer {
  private buf: Uint8Array
  private pos = 0

  constructor(initialCapacity = 64) {
    this.buf = initialCapacity > 0 ? uninitialised(initialCapacity) : EMPTY
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos
  }

  private reserve(n: number): void {
    const need = this.pos + n
    if (need <= this.buf.length) return
    let cap = Math.max(64, this.buf.length * 2)
    while (cap < need) cap *= 2
    const next = uninitialised(cap)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }

  u8(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new EncodeError(`u8 out of range: ${v}`)
    this.reserve(1)
    this.buf[this.pos++] = v
    return this
  }

  u16(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new EncodeError(`u16 out of range: ${v}`)
    this.reserve(2)
    this.buf[this.pos++] = v >>> 8
    this.buf[this.pos++] = v & 0xff
    return this
  }

  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new EncodeError(`u32 out of range: ${v}`)
    this.reserve(4)
    this.writeU32(v)
    return this
  }

  u64(v: bigint): this {
    if (typeof v !== 'bigint' || v < 0n || v > MAX_U64) throw new EncodeError(`u64 out of range: ${v}`)
    this.reserve(8)
    this.writeU32(Number(v >> 32n))
    this.writeU32(Number(v & 0xffffffffn))
    return this
  }

  private writeU32(v: number): void {
    const b = this.buf
    b[this.pos++] = v >>> 24
    b[this.pos++] = (v >>> 16) & 0xff
    b[this.pos++] = (v >>> 8) & 0xff
    b[this.pos++] = v & 0xff
  }

  /** Unsigned LEB128, 0..2^53-1, always the shortest form (the Reader rejects any other). */
  varint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new EncodeError(`varint out of range: ${v}`)
    this.reserve(8)
    this.writeVarint(v)
    return this
  }

  private writeVarint(v: number): void {
    const b = this.buf
    // Above 2^31 bitwise operators would truncate, so the high part uses division.
    while (v > 0x7fffffff) {
      b[this.pos++] = (v % 128) | 0x80
      v = Math.floor(v / 128)
    }
    while (v >= 0x80) {
      b[this.pos++] = (v & 0x7f) | 0x80
      v >>>= 7
    }
    b[this.pos++] = v
  }

  bool(v: boolean): this {
    this.reserve(1)
    this.buf[this.pos++] = v ? 1 : 0
    return this
  }

  /** Bytes with no length prefix: the reader must know the length (keys, signatures, hashes). */
  fixed(bytes: Uint8Array): this {
    this.reserve(bytes.length)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
    return this
  }

  /** Varint length, then the bytes. */
  bytes(bytes: Uint8Array): this {
    this.reserve(8 + bytes.length)
    this.writeVarint(bytes.length)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
    return this
  }

  /** Varint byte length, then UTF-8. Lone surrogates have no UTF-8 form and are refused. */
  string(s: string): this {
    if (!isWellFormed(s)) throw new EncodeError('string contains a lone surrogate and has no UTF-8 encoding')
    // Encode straight into the buffer after room for the longest possible prefix, then close the gap
    // if the real prefix is shorter; for strings under 43 code units the guess is always exact.
    const maxBytes = s.length * 3
    const guess = varintLength(maxBytes)
    this.reserve(guess + maxBytes)
    const start = this.pos + guess
    const { written } = encoder.encodeInto(s, this.buf.subarray(start, start + maxBytes))
    const head = varintLength(written)
    if (head !== guess) this.buf.copyWithin(this.pos + head, start, start + written)
    this.writeVarint(written)
    this.pos += written
    return this
  }

  /**
   * The encoded bytes. They are a view of the writer's buffer, handed over without a copy; the writer
   * starts a fresh buffer afterwards, so reusing it cannot overwrite what was returned.
   */
  finish(): Uint8Array {
    const out = this.buf.subarray(0, this.pos)
    this.buf = EMPTY
    this.pos = 0
    return out
  }
}
