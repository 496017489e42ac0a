// Unit tests for src/wire: exact encodings, every Reader bound, varint edge cases, strict UTF-8, and the
// text forms of bytes. Property tests live in wire-props.test.ts.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  arrayCodec,
  base32Decode,
  base32Encode,
  base64urlDecode,
  base64urlEncode,
  bytesEqualAt,
  type Codec,
  DecodeError,
  decodeWith,
  EncodeError,
  encodeWith,
  hexDecode,
  hexEncode,
  MAX_VARINT,
  Reader,
  utf8Decode,
  varintLength,
  Writer,
} from '../../src/wire/index.js'

function bytes(...v: number[]): Uint8Array {
  return Uint8Array.from(v)
}

function decodeErr(reason: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof DecodeError, `expected DecodeError, got ${String(err)}`)
    assert.equal(err.code, 'DECODE_ERROR')
    assert.equal(err.reason, reason)
    return true
  }
}

describe('Writer', () => {
  test('writes big-endian integers', () => {
    const out = new Writer().u8(0xab).u16(0x0102).u32(0xdeadbeef).u64(0x0102030405060708n).finish()
    assert.deepEqual(out, bytes(0xab, 1, 2, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8))
  })

  test('writes minimal LEB128 varints', () => {
    const cases: [number, number[]][] = [
      [0, [0]],
      [127, [0x7f]],
      [128, [0x80, 0x01]],
      [300, [0xac, 0x02]],
      [2 ** 31, [0x80, 0x80, 0x80, 0x80, 0x08]],
      [MAX_VARINT, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]],
    ]
    for (const [v, enc] of cases) {
      assert.deepEqual(new Writer().varint(v).finish(), Uint8Array.from(enc), `varint ${v}`)
      assert.equal(varintLength(v), enc.length)
    }
  })

  test('refuses values with no encoding', () => {
    const w = new Writer()
    for (const f of [
      () => w.u8(256),
      () => w.u8(-1),
      () => w.u16(0x10000),
      () => w.u32(2 ** 32),
      () => w.u32(1.5),
      () => w.u64(-1n),
      () => w.u64(1n << 64n),
      () => w.varint(-1),
      () => w.varint(MAX_VARINT + 1),
      () => w.varint(0.5),
      () => w.string('a\ud800b'),
    ]) {
      assert.throws(f, EncodeError)
    }
  })

  test('grows from a tiny buffer and hands over exactly the written bytes', () => {
    const w = new Writer(1)
    const big = new Uint8Array(10_000).map((_, i) => i & 0xff)
    w.bytes(big).string('é'.repeat(100))
    const out = w.finish()
    assert.equal(out.length, varintLength(10_000) + 10_000 + varintLength(200) + 200)
    const r = new Reader(out)
    assert.deepEqual(r.bytes(), big)
    assert.equal(r.string(), 'é'.repeat(100))
    r.end()
  })

  test('finish does not let later writes overwrite returned bytes', () => {
    const w = new Writer()
    const first = w.u8(1).finish()
    w.u8(2)
    assert.deepEqual(first, bytes(1))
    assert.deepEqual(w.finish(), bytes(2))
  })

  test('string prefix is correct when the byte length needs fewer prefix bytes than the guess', () => {
    // 50 ASCII chars: the guess (150 bytes max) takes a 2-byte prefix, the real length (50) takes 1.
    const s = 'x'.repeat(50)
    const out = new Writer().string(s).finish()
    assert.equal(out[0], 50)
    assert.equal(out.length, 51)
    assert.equal(new Reader(out).string(), s)
  })
})

describe('Reader bounds', () => {
  test('every fixed-size read rejects a short buffer', () => {
    const reads: [string, (r: Reader) => unknown, number][] = [
      ['u8', (r) => r.u8(), 1],
      ['u16', (r) => r.u16(), 2],
      ['u32', (r) => r.u32(), 4],
      ['u64', (r) => r.u64(), 8],
      ['bool', (r) => r.bool(), 1],
      ['fixed', (r) => r.fixed(5), 5],
    ]
    for (const [name, read, size] of reads) {
      for (let n = 0; n < size; n++) {
        assert.throws(
          () => read(new Reader(new Uint8Array(n))),
          decodeErr('truncated'),
          `${name} from ${n} bytes`,
        )
      }
      const r = new Reader(new Uint8Array(size))
      read(r)
      r.end()
    }
  })

  test('reads integers back', () => {
    const r = new Reader(bytes(0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xfd, ...new Array(8).fill(0xff)))
    assert.equal(r.u8(), 255)
    assert.equal(r.u16(), 0xfffe)
    assert.equal(r.u32(), 0xfffffffd)
    assert.equal(r.u64(), (1n << 64n) - 1n)
    r.end()
  })

  test('varint: truncated, overlong and oversized encodings are rejected', () => {
    assert.throws(() => new Reader(bytes()).varint(), decodeErr('truncated'))
    assert.throws(() => new Reader(bytes(0x80)).varint(), decodeErr('truncated'))
    assert.throws(() => new Reader(bytes(0x80, 0x00)).varint(), decodeErr('overlong-varint'))
    assert.throws(() => new Reader(bytes(0xff, 0x80, 0x00)).varint(), decodeErr('overlong-varint'))
    assert.throws(
      () => new Reader(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10)).varint(),
      decodeErr('varint-too-large'),
    )
    assert.throws(
      () => new Reader(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x8f, 0x00)).varint(),
      decodeErr('varint-too-large'),
    )
    assert.equal(new Reader(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f)).varint(), MAX_VARINT)
    assert.equal(new Reader(bytes(0x00)).varint(), 0)
  })

  test('bool accepts only 0 and 1', () => {
    assert.equal(new Reader(bytes(0)).bool(), false)
    assert.equal(new Reader(bytes(1)).bool(), true)
    assert.throws(() => new Reader(bytes(2)).bool(), decodeErr('invalid-bool'))
  })

  test('length prefixes are capped by the caller maximum and by the remaining bytes', () => {
    const enc = new Writer().bytes(new Uint8Array(10)).finish()
    assert.throws(() => new Reader(enc).bytes(9), decodeErr('length-exceeds-max'))
    assert.equal(new Reader(enc).bytes(10).length, 10)
    assert.throws(() => new Reader(enc.subarray(0, 10)).bytes(), decodeErr('truncated'))
    // A huge forged length is rejected before anything is allocated.
    const forged = new Writer().varint(MAX_VARINT).finish()
    assert.throws(() => new Reader(forged).bytes(Number.MAX_SAFE_INTEGER), decodeErr('truncated'))
    assert.throws(() => new Reader(forged).bytes(), decodeErr('length-exceeds-max'))
    assert.throws(
      () => new Reader(new Writer().string('hello').finish()).string(4),
      decodeErr('length-exceeds-max'),
    )
  })

  test('count rejects element counts the input cannot hold', () => {
    assert.throws(() => new Reader(bytes(5, 1, 2)).count(10), decodeErr('truncated'))
    assert.throws(() => new Reader(bytes(2, 1, 2, 3)).count(10, 2), decodeErr('truncated'))
    assert.throws(() => new Reader(bytes(11)).count(10), decodeErr('length-exceeds-max'))
    assert.equal(new Reader(bytes(3, 1, 2, 3)).count(10), 3)
  })

  test('strings must be valid UTF-8, and a leading BOM is kept', () => {
    for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0x80], [0xf4, 0x90, 0x80, 0x80]]) {
      const enc = new Writer().bytes(Uint8Array.from(bad)).finish()
      assert.throws(() => new Reader(enc).string(), decodeErr('invalid-utf8'), `bytes ${bad}`)
    }
    for (const s of ['', 'plain', '\ufeffbom', 'héllo wörld ✓ 𝄞', '\u0000nul']) {
      const r = new Reader(new Writer().string(s).finish())
      assert.equal(r.string(), s)
      r.end()
    }
  })

  test('end rejects trailing bytes', () => {
    const r = new Reader(bytes(1, 2))
    r.u8()
    assert.throws(() => r.end(), decodeErr('trailing-bytes'))
    assert.equal(r.remaining, 1)
    assert.equal(r.offset, 1)
  })

  test('errors carry the offset of the bad field', () => {
    const r = new Reader(bytes(1, 2, 0x80))
    r.u16()
    try {
      r.varint()
      assert.fail('expected a DecodeError')
    } catch (err) {
      assert.ok(err instanceof DecodeError)
      assert.equal(err.offset, 2)
    }
  })
})

describe('codecs', () => {
  const point: Codec<{ x: number; label: string }> = {
    encode(w, v) {
      w.varint(v.x).string(v.label)
    },
    decode(r) {
      return { x: r.varint(), label: r.string(16) }
    },
  }

  test('encodeWith/decodeWith round-trip and decodeWith rejects trailing bytes', () => {
    const v = { x: 1234, label: 'north' }
    const enc = encodeWith(point, v)
    assert.deepEqual(decodeWith(point, enc), v)
    const longer = new Uint8Array(enc.length + 1)
    longer.set(enc)
    assert.throws(() => decodeWith(point, longer), decodeErr('trailing-bytes'))
  })

  test('arrayCodec caps the count', () => {
    const list = arrayCodec(point, 2)
    const items = [
      { x: 1, label: 'a' },
      { x: 2, label: 'b' },
    ]
    assert.deepEqual(decodeWith(list, encodeWith(list, items)), items)
    const three = encodeWith(arrayCodec(point, 3), [...items, { x: 3, label: 'c' }])
    assert.throws(() => decodeWith(list, three), decodeErr('length-exceeds-max'))
  })
})

describe('text forms', () => {
  test('base64url matches RFC 4648 vectors and Node', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'Zg'],
      ['fo', 'Zm8'],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg'],
      ['fooba', 'Zm9vYmE'],
      ['foobar', 'Zm9vYmFy'],
    ]
    for (const [plain, enc] of vectors) {
      assert.equal(base64urlEncode(Buffer.from(plain)), enc)
      assert.equal(Buffer.from(base64urlDecode(enc)).toString(), plain)
    }
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    assert.equal(base64urlEncode(all), Buffer.from(all).toString('base64url'))
  })

  test('base64url decoding is strict', () => {
    for (const bad of ['Zg==', 'Zm9v+', 'Zm/v', 'Z', 'Zm9vY', 'Zh', 'Zm9', ' Zm9v', 'Zm9v\n', 'Zm9vÿ']) {
      assert.throws(() => base64urlDecode(bad), decodeErr('invalid-base64url'), bad)
    }
  })

  test('hex round-trips, accepts either case and rejects bad input', () => {
    assert.equal(hexEncode(bytes(0, 0xab, 0xff)), '00abff')
    assert.deepEqual(hexDecode('00ABff'), bytes(0, 0xab, 0xff))
    for (const bad of ['0', 'zz', '0g', 'ab c'])
      assert.throws(() => hexDecode(bad), decodeErr('invalid-hex'), bad)
  })

  test('base32 matches RFC 4648 vectors (lowercase, unpadded) and is strict', () => {
    const vectors: [string, string][] = [
      ['f', 'my'],
      ['fo', 'mzxq'],
      ['foo', 'mzxw6'],
      ['foob', 'mzxw6yq'],
      ['fooba', 'mzxw6ytb'],
      ['foobar', 'mzxw6ytboi'],
    ]
    for (const [plain, enc] of vectors) {
      assert.equal(base32Encode(Buffer.from(plain)), enc)
      assert.equal(Buffer.from(base32Decode(enc)).toString(), plain)
    }
    for (const bad of ['m', 'MY', 'mz', 'my=', 'mzx', 'm1'])
      assert.throws(() => base32Decode(bad), decodeErr('invalid-base32'), bad)
  })

  test('utf8Decode is strict', () => {
    assert.throws(() => utf8Decode(bytes(0xe2, 0x82)), decodeErr('invalid-utf8'))
    assert.equal(utf8Decode(Buffer.from('ok ✓')), 'ok ✓')
  })
})

test('bytesEqualAt compares ranges in place, and a range past either end is not equal', () => {
  const a = Uint8Array.of(1, 2, 3, 4, 5)
  const b = Uint8Array.of(9, 3, 4, 5)
  assert.equal(bytesEqualAt(a, 2, b, 1, 3), true)
  assert.equal(bytesEqualAt(a, 1, b, 1, 3), false)
  assert.equal(bytesEqualAt(a, 2, b, 1, 4), false, 'runs past b')
  assert.equal(bytesEqualAt(a, -1, b, 0, 1), false)
  assert.equal(bytesEqualAt(a, 0, a, 0, 0), true, 'empty ranges are equal')
  assert.equal(bytesEqualAt(a, 1, a, 1, 4), true, 'one buffer, same range')
})
