// Property tests for the wire primitives: random sequences of fields round-trip exactly; arbitrary bytes
// and mutated valid encodings, read back with a random schema, give values or a DecodeError and never any
// other exception; the varint reader agrees with a BigInt reference on every input.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { DecodeError, EncodeError, MAX_VARINT, Reader, Writer } from '../../src/wire/index.js'

// Full counts run everywhere (CI included); the whole file stays well under 20 s on a shared 2-core box.
const ROUND_TRIP_RUNS = 1_000
const ARBITRARY_RUNS = 10_000
const MUTATION_RUNS = 10_000

// Plain-prototype records, so decoded values compare equal with deepStrictEqual.
const rec = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }) => fc.record(model, { noNullPrototype: true })

type Field =
  | { t: 'u8'; v: number }
  | { t: 'u16'; v: number }
  | { t: 'u32'; v: number }
  | { t: 'u64'; v: bigint }
  | { t: 'varint'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'fixed'; v: Uint8Array }
  | { t: 'bytes'; v: Uint8Array }
  | { t: 'string'; v: string }

const fieldArb: fc.Arbitrary<Field> = fc.oneof(
  rec({ t: fc.constant('u8' as const), v: fc.integer({ min: 0, max: 0xff }) }),
  rec({ t: fc.constant('u16' as const), v: fc.integer({ min: 0, max: 0xffff }) }),
  rec({ t: fc.constant('u32' as const), v: fc.integer({ min: 0, max: 0xffffffff }) }),
  rec({ t: fc.constant('u64' as const), v: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
  rec({ t: fc.constant('varint' as const), v: fc.oneof(fc.nat(300), fc.maxSafeNat()) }),
  rec({ t: fc.constant('bool' as const), v: fc.boolean() }),
  rec({ t: fc.constant('fixed' as const), v: fc.uint8Array({ maxLength: 40 }) }),
  rec({ t: fc.constant('bytes' as const), v: fc.uint8Array({ maxLength: 300 }) }),
  rec({ t: fc.constant('string' as const), v: fc.string({ unit: 'binary', maxLength: 80 }) }),
)

function write(fields: Field[]): Uint8Array {
  const w = new Writer(8)
  for (const f of fields) {
    switch (f.t) {
      case 'u8':
        w.u8(f.v)
        break
      case 'u16':
        w.u16(f.v)
        break
      case 'u32':
        w.u32(f.v)
        break
      case 'u64':
        w.u64(f.v)
        break
      case 'varint':
        w.varint(f.v)
        break
      case 'bool':
        w.bool(f.v)
        break
      case 'fixed':
        w.fixed(f.v)
        break
      case 'bytes':
        w.bytes(f.v)
        break
      case 'string':
        w.string(f.v)
        break
    }
  }
  return w.finish()
}

/** Reads fields shaped like `schema` (values in the schema are ignored except fixed lengths). */
function read(schema: Field[], buf: Uint8Array, max = 1024): Field[] {
  const r = new Reader(buf)
  const out = schema.map((f): Field => {
    switch (f.t) {
      case 'u8':
        return { t: 'u8', v: r.u8() }
      case 'u16':
        return { t: 'u16', v: r.u16() }
      case 'u32':
        return { t: 'u32', v: r.u32() }
      case 'u64':
        return { t: 'u64', v: r.u64() }
      case 'varint':
        return { t: 'varint', v: r.varint() }
      case 'bool':
        return { t: 'bool', v: r.bool() }
      case 'fixed':
        return { t: 'fixed', v: r.fixed(f.v.length) }
      case 'bytes':
        return { t: 'bytes', v: r.bytes(max) }
      case 'string':
        return { t: 'string', v: r.string(max) }
      default:
        throw new Error('unknown field type')
    }
  })
  r.end()
  return out
}

function valueOrDecodeError<T>(fn: () => T): T | DecodeError {
  try {
    return fn()
  } catch (err) {
    if (err instanceof DecodeError) return err
    throw err
  }
}

// Mutations of a valid encoding: bit flips, truncation, inserted/deleted bytes, and a large value written
// over whatever is at a position (which, across many runs, lands on every length field).
const LARGE_PATTERNS = [
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f], // varint 2^53-1
  [0xff, 0xff, 0xff, 0x7f], // varint 2^28-1
  [0x80, 0x80, 0x40], // varint 1 MiB
  [0xff],
  [0xff, 0xff, 0xff, 0xff],
]
type Mutation =
  | { t: 'flip'; at: number; bit: number }
  | { t: 'truncate'; at: number }
  | { t: 'large'; at: number; pattern: number }
  | { t: 'insert'; at: number; byte: number }
  | { t: 'delete'; at: number }

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  rec({ t: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  rec({ t: fc.constant('truncate' as const), at: fc.nat() }),
  rec({ t: fc.constant('large' as const), at: fc.nat(), pattern: fc.nat(LARGE_PATTERNS.length - 1) }),
  rec({ t: fc.constant('insert' as const), at: fc.nat(), byte: fc.nat(255) }),
  rec({ t: fc.constant('delete' as const), at: fc.nat() }),
)

function mutate(input: Uint8Array, mutations: Mutation[]): Uint8Array {
  let b = Uint8Array.from(input)
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % b.length
    if (m.t === 'flip' && b.length > 0) b[at]! ^= 1 << m.bit
    else if (m.t === 'truncate') b = b.slice(0, at)
    else if (m.t === 'large') {
      const p = LARGE_PATTERNS[m.pattern]!
      const next = new Uint8Array(Math.max(b.length, at + p.length))
      next.set(b)
      next.set(p, at)
      b = next
    } else if (m.t === 'insert') b = Uint8Array.from([...b.subarray(0, at), m.byte, ...b.subarray(at)])
    else if (m.t === 'delete' && b.length > 0)
      b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1)])
  }
  return b
}

const arbitraryBytes = fc.oneof(
  fc.uint8Array({ maxLength: 2048, size: 'max' }),
  fc.uint8Array({ maxLength: 64 }),
)

/** Reference varint decoder in BigInt arithmetic: the value, or null for any invalid encoding. */
function referenceVarint(b: Uint8Array): { value: number; used: number } | null {
  let value = 0n
  for (let i = 0; i < b.length; i++) {
    const byte = b[i]!
    value |= BigInt(byte & 0x7f) << BigInt(7 * i)
    if (byte < 0x80) {
      if (byte === 0 && i > 0) return null
      return value > BigInt(MAX_VARINT) ? null : { value: Number(value), used: i + 1 }
    }
    if (i >= 7) return null
  }
  return null
}

describe('wire properties', () => {
  test('field sequences round-trip exactly', () => {
    fc.assert(
      fc.property(fc.array(fieldArb, { maxLength: 20 }), (fields) => {
        const enc = write(fields)
        assert.deepStrictEqual(read(fields, enc), fields)
      }),
      { numRuns: ROUND_TRIP_RUNS },
    )
  })

  test('arbitrary bytes read with a random schema give values or a DecodeError', () => {
    fc.assert(
      fc.property(fc.array(fieldArb, { maxLength: 12 }), arbitraryBytes, (schema, buf) => {
        const res = valueOrDecodeError(() => read(schema, buf))
        // Whatever decodes must be exactly what those bytes encode.
        if (!(res instanceof DecodeError)) assert.deepEqual(write(res), buf)
      }),
      { numRuns: ARBITRARY_RUNS },
    )
  })

  test('mutated encodings give values or a DecodeError', () => {
    fc.assert(
      fc.property(
        fc.array(fieldArb, { minLength: 1, maxLength: 12 }),
        fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
        (fields, muts) => {
          const buf = mutate(write(fields), muts)
          const res = valueOrDecodeError(() => read(fields, buf))
          if (!(res instanceof DecodeError)) assert.deepEqual(write(res), buf)
        },
      ),
      { numRuns: MUTATION_RUNS },
    )
  })

  test('varint reader agrees with a BigInt reference on arbitrary bytes', () => {
    const varintish = fc.oneof(
      fc.uint8Array({ maxLength: 10 }),
      fc
        .array(fc.integer({ min: 0x80, max: 0xff }), { maxLength: 9 })
        .chain((head) => fc.nat(0x7f).map((last) => Uint8Array.from([...head, last]))),
    )
    fc.assert(
      fc.property(varintish, (b) => {
        const r = new Reader(b)
        const got = valueOrDecodeError(() => r.varint())
        const want = referenceVarint(b)
        if (want === null) assert.ok(got instanceof DecodeError)
        else {
          assert.equal(got, want.value)
          assert.equal(r.offset, want.used)
        }
      }),
      { numRuns: ARBITRARY_RUNS },
    )
  })

  test('strings with lone surrogates are refused by the writer', () => {
    const lone = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c))
    fc.assert(
      fc.property(fc.string({ maxLength: 5 }), lone, fc.string({ maxLength: 5 }), (a, s, b) => {
        assert.throws(() => new Writer().string(a + s + b), EncodeError)
      }),
      { numRuns: ROUND_TRIP_RUNS },
    )
  })
})
