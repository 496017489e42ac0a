// A bounded reader mirroring Writer. Every read checks the bytes are there, length prefixes are capped
// by a caller-chosen maximum and by what remains (so a forged length can never make us allocate or loop
// beyond the input), varints must be minimal and at most 2^53-1, booleans must be 0 or 1 and strings
// valid UTF-8. Strictness is deliberate: one value has exactly one encoding, which is what lets signed
// records be re-encoded and verified, and what makes fuzzing meaningful.

import { DecodeError } from './errors.js'
import { DEFAULT_MAX_LENGTH } from './writer.js'

// ignoreBOM: a leading U+FEFF is content, not a marker to strip; stripping it would break round trips.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
// 2^53 split at the 8th varint byte: 7 groups of 7 bits carry 49 bits, the 8th may add only 4 more.
const LAST_VARINT_BYTE_MAX = 0x0f

export class Reader {
  private pos = 0

  constructor(private readonly buf: Uint8Array) {}

  /** Bytes consumed so far. */
  get offset(): number {
    return this.pos
  }

  get remaining(): number {
    return this.buf.length - this.pos
  }

  private need(n: number, what: string): void {
    if (this.buf.length - this.pos < n) {
      throw new DecodeError(
        'truncated',
        `${what} needs ${n} bytes, ${this.buf.length - this.pos} left`,
        this.pos,
      )
    }
  }

  u8(): number {
    this.need(1, 'u8')
    return this.buf[this.pos++]!
  }

  u16(): number {
    this.need(2, 'u16')
    const b = this.buf
    const v = (b[this.pos]! << 8) | b[this.pos + 1]!
    this.pos += 2
    return v
  }

  u32(): number {
    this.need(4, 'u32')
    return this.readU32()
  }

  u64(): bigint {
    this.need(8, 'u64')
    const hi = this.readU32()
    const lo = this.readU32()
    return (BigInt(hi) << 32n) | BigInt(lo)
  }

  private readU32(): number {
    const b = this.buf
    const p = this.pos
    this.pos += 4
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0
  }

  /** Unsigned LEB128; rejects encodings longer than needed and values above 2^53-1. */
  varint(): number {
    const b = this.buf
    const start = this.pos
    let value = 0
    let scale = 1
    for (let i = 0; i < 8; i++) {
      if (this.pos >= b.length) throw new DecodeError('truncated', 'varint runs past the end', start)
      const byte = b[this.pos++]!
      if (i === 7 && byte > LAST_VARINT_BYTE_MAX) {
        throw new DecodeError('varint-too-large', 'varint exceeds 2^53-1', start)
      }
      value += (byte & 0x7f) * scale
      if (byte < 0x80) {
        // A zero final group after the first byte means a shorter encoding existed.
        if (byte === 0 && i > 0)
          throw new DecodeError('overlong-varint', 'varint is not minimally encoded', start)
        return value
      }
      scale *= 128
    }
    throw new DecodeError('varint-too-large', 'varint exceeds 2^53-1', start)
  }

  bool(): boolean {
    this.need(1, 'bool')
    const v = this.buf[this.pos]!
    if (v > 1) throw new DecodeError('invalid-bool', `bool must be 0 or 1, got ${v}`, this.pos)
    this.pos++
    return v === 1
  }

  /**
   * `n` bytes with no prefix. The result is a view of the input, not a copy (decoders on the hot path
   * should not pay for copies); copy it if you keep it beyond the input buffer's life.
   */
  fixed(n: number): Uint8Array {
    if (!Number.isInteger(n) || n < 0)
      throw new RangeError(`fixed length must be a non-negative integer, got ${n}`)
    this.need(n, `${n} fixed bytes`)
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  /** A length prefix, checked against `max` and against the bytes that remain. */
  length(max: number = DEFAULT_MAX_LENGTH): number {
    const start = this.pos
    const n = this.varint()
    if (n > max) throw new DecodeError('length-exceeds-max', `length ${n} exceeds maximum ${max}`, start)
    if (n > this.remaining) {
      throw new DecodeError('truncated', `length ${n} exceeds the ${this.remaining} bytes left`, start)
    }
    return n
  }

  /**
   * An element count for an array that follows. Each element takes at least `minElementSize` bytes, so a
   * count the remaining input cannot hold is rejected before the caller allocates or loops.
   */
  count(max: number, minElementSize = 1): number {
    const start = this.pos
    const n = this.varint()
    if (n > max) throw new DecodeError('length-exceeds-max', `count ${n} exceeds maximum ${max}`, start)
    if (n * minElementSize > this.remaining) {
      throw new DecodeError('truncated', `count ${n} cannot fit in the ${this.remaining} bytes left`, start)
    }
    return n
  }

  /** Length-prefixed bytes (a view of the input, see `fixed`). */
  bytes(max: number = DEFAULT_MAX_LENGTH): Uint8Array {
    const n = this.length(max)
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  /** Length-prefixed UTF-8; `maxBytes` caps the encoded length, not the number of characters. */
  string(maxBytes: number = DEFAULT_MAX_LENGTH): string {
    const n = this.length(maxBytes)
    const start = this.pos
    const b = this.buf
    this.pos += n
    // Short ASCII strings (names, subjects, ids) are the common case; skip TextDecoder's call overhead.
    if (n <= 32) {
      let ascii = true
      for (let i = start; i < start + n; i++) {
        if (b[i]! >= 0x80) {
          ascii = false
          break
        }
      }
      if (ascii) return String.fromCharCode.apply(null, b.subarray(start, start + n) as unknown as number[])
    }
    try {
      return decoder.decode(b.subarray(start, start + n))
    } catch {
      throw new DecodeError('invalid-utf8', 'string is not valid UTF-8', start)
    }
  }

  /** Asserts the whole input was consumed: trailing bytes mean a different format or a forgery. */
  end(): void {
    if (this.pos !== this.buf.length) {
      throw new DecodeError(
        'trailing-bytes',
        `${this.buf.length - this.pos} unexpected trailing bytes`,
        this.pos,
      )
    }
  }
}
