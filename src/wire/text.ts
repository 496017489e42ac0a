// Text forms of bytes: base64url (tokens, key files, JSON), hex (logs, debugging) and lowercase base32
// (ids people read and type: node_, fed_, cluster_). Decoders are strict, because these strings are
// parsed from files and tokens an attacker may write: one string per byte sequence, no padding, no
// whitespace, no mixed alphabets, and non-zero leftover bits are an error rather than silently dropped.

import { DecodeError } from './errors.js'

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const B32 = 'abcdefghijklmnopqrstuvwxyz234567'
const HEX = '0123456789abcdef'

function reverseTable(alphabet: string, caseInsensitive = false): Int8Array {
  const t = new Int8Array(128).fill(-1)
  for (let i = 0; i < alphabet.length; i++) {
    const c = alphabet.charCodeAt(i)
    t[c] = i
    if (caseInsensitive) t[alphabet[i]!.toUpperCase().charCodeAt(0)] = i
  }
  return t
}

const B64URL_REV = reverseTable(B64URL)
const B32_REV = reverseTable(B32)
const HEX_REV = reverseTable(HEX, true)
const HEX_PAIRS: string[] = Array.from({ length: 256 }, (_, i) => HEX[i >> 4]! + HEX[i & 15]!)

function digit(
  table: Int8Array,
  s: string,
  i: number,
  reason: 'invalid-base64url' | 'invalid-base32' | 'invalid-hex',
): number {
  const c = s.charCodeAt(i)
  const v = c < 128 ? table[c]! : -1
  if (v < 0) throw new DecodeError(reason, `invalid character ${JSON.stringify(s[i])} at position ${i}`)
  return v
}

/** RFC 4648 §5 base64url without padding. */
export function base64urlEncode(bytes: Uint8Array): string {
  let out = ''
  const n = bytes.length
  let i = 0
  for (; i + 3 <= n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!
    out += B64URL[v >> 18]! + B64URL[(v >> 12) & 63]! + B64URL[(v >> 6) & 63]! + B64URL[v & 63]!
  }
  if (n - i === 1) {
    const v = bytes[i]!
    out += B64URL[v >> 2]! + B64URL[(v & 3) << 4]!
  } else if (n - i === 2) {
    const v = (bytes[i]! << 8) | bytes[i + 1]!
    out += B64URL[v >> 10]! + B64URL[(v >> 4) & 63]! + B64URL[(v & 15) << 2]!
  }
  return out
}

/** Strict inverse of base64urlEncode: rejects padding, '+', '/', whitespace and non-canonical tails. */
export function base64urlDecode(s: string): Uint8Array {
  const rem = s.length % 4
  if (rem === 1) throw new DecodeError('invalid-base64url', `base64url length ${s.length} is impossible`)
  const out = new Uint8Array(Math.floor(s.length / 4) * 3 + (rem === 0 ? 0 : rem - 1))
  const t = B64URL_REV
  let o = 0
  let i = 0
  const full = s.length - rem
  for (; i < full; i += 4) {
    const v =
      (digit(t, s, i, 'invalid-base64url') << 18) |
      (digit(t, s, i + 1, 'invalid-base64url') << 12) |
      (digit(t, s, i + 2, 'invalid-base64url') << 6) |
      digit(t, s, i + 3, 'invalid-base64url')
    out[o++] = v >> 16
    out[o++] = (v >> 8) & 0xff
    out[o++] = v & 0xff
  }
  if (rem === 2) {
    const a = digit(t, s, i, 'invalid-base64url')
    const b = digit(t, s, i + 1, 'invalid-base64url')
    if (b & 15) throw new DecodeError('invalid-base64url', 'base64url has non-zero trailing bits')
    out[o++] = (a << 2) | (b >> 4)
  } else if (rem === 3) {
    const a = digit(t, s, i, 'invalid-base64url')
    const b = digit(t, s, i + 1, 'invalid-base64url')
    const c = digit(t, s, i + 2, 'invalid-base64url')
    if (c & 3) throw new DecodeError('invalid-base64url', 'base64url has non-zero trailing bits')
    out[o++] = (a << 2) | (b >> 4)
    out[o++] = ((b & 15) << 4) | (c >> 2)
  }
  return out
}

/** Lowercase hex. */
export function hexEncode(bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i++) out += HEX_PAIRS[bytes[i]!]!
  return out
}

/** Hex of either case; odd lengths and non-hex characters are a DecodeError. */
export function hexDecode(s: string): Uint8Array {
  if (s.length % 2 !== 0) throw new DecodeError('invalid-hex', `hex length ${s.length} is odd`)
  const out = new Uint8Array(s.length / 2)
  for (let i = 0; i < out.length; i++) {
    out[i] = (digit(HEX_REV, s, 2 * i, 'invalid-hex') << 4) | digit(HEX_REV, s, 2 * i + 1, 'invalid-hex')
  }
  return out
}

/** RFC 4648 base32, lowercase, no padding: for identifiers people read aloud and type. */
export function base32Encode(bytes: Uint8Array): string {
  let out = ''
  let acc = 0
  let bits = 0
  for (let i = 0; i < bytes.length; i++) {
    acc = ((acc << 8) | bytes[i]!) & 0xfff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += B32[(acc >> bits) & 31]!
    }
  }
  if (bits > 0) out += B32[(acc << (5 - bits)) & 31]!
  return out
}

/** Strict inverse of base32Encode (lowercase only, no padding, zero leftover bits). */
export function base32Decode(s: string): Uint8Array {
  const rem = s.length % 8
  // Only these tail lengths arise from whole bytes (1..4 leftover bytes -> 2, 4, 5, 7 characters).
  if (rem === 1 || rem === 3 || rem === 6) {
    throw new DecodeError('invalid-base32', `base32 length ${s.length} is impossible`)
  }
  const out = new Uint8Array(Math.floor((s.length * 5) / 8))
  let acc = 0
  let bits = 0
  let o = 0
  for (let i = 0; i < s.length; i++) {
    acc = ((acc << 5) | digit(B32_REV, s, i, 'invalid-base32')) & 0xfff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[o++] = (acc >> bits) & 0xff
    }
  }
  if (acc & ((1 << bits) - 1)) throw new DecodeError('invalid-base32', 'base32 has non-zero trailing bits')
  return out
}

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export function utf8Encode(s: string): Uint8Array {
  return utf8Encoder.encode(s)
}

/** Strict UTF-8 decode: invalid sequences are a DecodeError, never replacement characters. */
export function utf8Decode(bytes: Uint8Array): string {
  try {
    return utf8Decoder.decode(bytes)
  } catch {
    throw new DecodeError('invalid-utf8', 'bytes are not valid UTF-8')
  }
}
