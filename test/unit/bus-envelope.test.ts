// The bus envelope codec and the frames around it: exact layouts, every rule the decoder enforces, and
// property tests (1,000 round trips; 10,000 random byte strings and 10,000 mutations of valid envelopes,
// each giving a value or a DecodeError and never another exception), also for batch and interest frames.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import {
  decodeEnvelope,
  decodeEnvelopeAt,
  decodeInterest,
  type Envelope,
  encodeBatch,
  encodeEnvelope,
  encodeInterest,
  envelopeCodec,
  envelopeSize,
  Flag,
  forEachInBatch,
  makeEnvelope,
  maxEnvelopeBytes,
} from '../../src/bus/index.js'
import { DecodeError, decodeWith, EncodeError, encodeWith } from '../../src/wire/index.js'
import { mutate, mutationsArb } from './mutations.js'

const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-:@/+=!~'.split('')
const nameArb = (min: number) =>
  fc.string({ unit: fc.constantFrom(...NAME_CHARS), minLength: min, maxLength: 64 })
const tokenArb = fc.string({ unit: fc.constantFrom(...NAME_CHARS), minLength: 1, maxLength: 12 })
const subjectArb = fc.array(tokenArb, { minLength: 1, maxLength: 8 }).map((t) => t.join('.'))

const envelopeArb: fc.Arbitrary<Envelope> = fc
  .record({
    kind: fc.constantFrom('data', 'request', 'reply', 'ack', 'error-reply', 'nack'),
    ackRequested: fc.boolean(),
    ttl: fc.integer({ min: 0, max: 255 }),
    priority: fc.integer({ min: 1, max: 10 }),
    epoch: fc.nat({ max: 0xffffffff }),
    seq: fc.nat({ max: 0xffffffff }),
    timestamp: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
    srcNode: nameArb(1),
    srcAgent: nameArb(0),
    to: fc.uniqueArray(nameArb(1), { minLength: 1, maxLength: 5 }),
    agent: nameArb(0),
    subject: fc.option(subjectArb, { nil: '' }),
    replyNode: nameArb(1),
    replyAgent: nameArb(0),
    corrEpoch: fc.nat({ max: 0xffffffff }),
    corrSeq: fc.nat({ max: 0xffffffff }),
    payload: fc.uint8Array({ maxLength: 300 }),
  })
  .map((v) => {
    let flags = 0
    if (v.kind === 'request') flags = Flag.REQUEST
    if (v.kind === 'reply') flags = Flag.REPLY
    if (v.kind === 'error-reply') flags = Flag.REPLY | Flag.ERROR
    if (v.kind === 'ack') flags = Flag.ACK
    if (v.kind === 'nack') flags = Flag.ACK | Flag.ERROR
    if (v.ackRequested && (flags & Flag.ACK) === 0) flags |= Flag.ACK_REQUESTED
    const answers = (flags & (Flag.ACK | Flag.REPLY)) !== 0
    const single = v.agent !== '' || v.subject === ''
    return makeEnvelope({
      ...v,
      flags,
      to: single ? v.to.slice(0, 1) : v.to,
      replyNode: (flags & Flag.REQUEST) !== 0 ? v.replyNode : '',
      replyAgent: (flags & Flag.REQUEST) !== 0 ? v.replyAgent : '',
      corrEpoch: answers ? v.corrEpoch : 0,
      corrSeq: answers ? v.corrSeq : 0,
    })
  })

function plain(e: Envelope): Record<string, unknown> {
  return { ...e, to: [...e.to], payload: [...e.payload] }
}

/** Decodes and asserts the only failure is a DecodeError. */
function decodeOrDecodeError(bytes: Uint8Array): void {
  try {
    decodeEnvelope(bytes)
  } catch (err) {
    assert.ok(err instanceof DecodeError, `expected DecodeError, got ${String(err)}`)
  }
}

describe('envelope layout', () => {
  const e = makeEnvelope({
    flags: Flag.REQUEST | Flag.ACK_REQUESTED,
    ttl: 7,
    priority: 9,
    epoch: 0x01020304,
    seq: 0x0a0b0c0d,
    timestamp: 0x123456789abc,
    srcNode: 'na',
    srcAgent: 'ag',
    to: ['nb'],
    agent: '',
    subject: 'x.y',
    replyNode: 'na',
    replyAgent: '',
    payload: new Uint8Array([0xde, 0xad]),
  })

  test('is the documented byte layout', () => {
    const b = encodeEnvelope(e)
    assert.deepEqual(
      [...b],
      [
        1,
        5,
        7,
        9,
        1,
        2,
        3,
        4,
        10,
        11,
        12,
        13,
        0x12,
        0x34,
        0x56,
        0x78,
        0x9a,
        0xbc, // header
        2,
        110,
        97,
        2,
        97,
        103, // source node "na", source agent "ag"
        1,
        2,
        110,
        98, // one destination "nb"
        0,
        3,
        120,
        46,
        121, // no agent, subject "x.y"
        2,
        110,
        97,
        0, // reply to "na", router
        0xde,
        0xad, // payload
      ],
    )
    assert.equal(b.length, envelopeSize(e))
  })

  test('decodes back, payload as a view of the input', () => {
    const b = encodeEnvelope(e)
    const d = decodeEnvelope(b)
    assert.deepEqual(plain(d), plain(e))
    assert.equal(d.payload.buffer, b.buffer)
  })

  test('decodeEnvelopeAt reads an envelope in the middle of a buffer', () => {
    const b = encodeEnvelope(e)
    const big = new Uint8Array(b.length + 10)
    big.set(b, 4)
    assert.deepEqual(plain(decodeEnvelopeAt(big, 4, 4 + b.length)), plain(e))
  })

  test('names and subjects repeat as the same string (interned)', () => {
    const a = decodeEnvelope(encodeEnvelope(e))
    const b = decodeEnvelope(encodeEnvelope(e))
    assert.equal(a.subject, b.subject)
    assert.equal(a.srcNode, b.srcNode)
  })

  test('works as a wire Codec', () => {
    assert.deepEqual(plain(decodeWith(envelopeCodec, encodeWith(envelopeCodec, e))), plain(e))
  })
})

describe('envelope rules', () => {
  const base = makeEnvelope({ srcNode: 'a', to: ['b'], subject: 's', payload: new Uint8Array(12) })
  const good = encodeEnvelope(base)
  const patched = (i: number, v: number) => {
    const b = good.slice()
    b[i] = v
    return b
  }
  const reason = (bytes: Uint8Array) => {
    try {
      decodeEnvelope(bytes)
    } catch (err) {
      assert.ok(err instanceof DecodeError)
      return err.reason
    }
    return 'ok'
  }

  test('refuses unknown versions, flags, priorities', () => {
    assert.equal(reason(patched(0, 2)), 'unsupported-version')
    assert.equal(reason(patched(1, 0x20)), 'invalid-value')
    assert.equal(reason(patched(3, 0)), 'invalid-value')
    assert.equal(reason(patched(3, 11)), 'invalid-value')
  })

  test('refuses contradictory flags', () => {
    assert.equal(reason(patched(1, Flag.ACK | Flag.REPLY)), 'invalid-value')
    assert.equal(reason(patched(1, Flag.ERROR)), 'invalid-value')
  })

  test('refuses truncation anywhere in the header and names', () => {
    for (let n = 0; n < good.length - 12; n++)
      assert.notEqual(reason(good.subarray(0, n)), 'ok', `length ${n}`)
  })

  test('refuses names with spaces or non-ASCII, and wildcard subjects', () => {
    const bad = (f: Partial<Envelope>) => () => encodeEnvelope({ ...base, ...f })
    assert.throws(bad({ srcNode: 'a b' }), EncodeError)
    assert.throws(bad({ srcNode: 'é' }), EncodeError)
    assert.throws(bad({ to: [] }), EncodeError)
    assert.throws(bad({ to: ['x', 'x'] }), EncodeError)
    assert.throws(bad({ agent: 'w', to: ['x', 'y'] }), EncodeError)
    assert.throws(bad({ priority: 0 }), EncodeError)
    assert.throws(bad({ ttl: 256 }), EncodeError)
    const wild = encodeEnvelope({ ...base, subject: 'a.b' })
    wild[wild.length - 12 - 1] = 0x2a // 'b' -> '*'
    assert.equal(reason(wild), 'invalid-value')
  })

  test('enforces the payload limit', () => {
    const big = encodeEnvelope({ ...base, payload: new Uint8Array(1000) })
    assert.equal(decodeEnvelope(big).payload.length, 1000)
    assert.throws(
      () => decodeEnvelope(big, { maxPayloadBytes: 999 }),
      (e: unknown) => e instanceof DecodeError && e.reason === 'length-exceeds-max',
    )
    assert.ok(maxEnvelopeBytes(1000) > big.length)
  })

  test('refuses a destination listed twice', () => {
    const two = encodeEnvelope({ ...base, to: ['b', 'c'] })
    const i = two.indexOf(0x63) // 'c'
    two[i] = 0x62
    assert.equal(reason(two), 'invalid-value')
  })
})

describe('envelope properties', () => {
  test('1,000 random envelopes round-trip exactly', () => {
    fc.assert(
      fc.property(envelopeArb, (e) => {
        const b = encodeEnvelope(e)
        assert.equal(b.length, envelopeSize(e))
        assert.deepEqual(plain(decodeEnvelope(b)), plain(e))
      }),
      { numRuns: 1_000 },
    )
  })

  test('10,000 random byte strings give a value or a DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, headed) => {
        // Half of the inputs start with a plausible header, so the fuzzing reaches the later fields.
        if (headed && bytes.length > 4) {
          bytes[0] = 1
          bytes[1]! &= 31
          bytes[3] = 1 + (bytes[3]! % 10)
        }
        decodeOrDecodeError(bytes)
      }),
      { numRuns: 10_000 },
    )
  })

  test('10,000 mutations of valid envelopes give a value or a DecodeError', () => {
    fc.assert(
      fc.property(envelopeArb, mutationsArb, (e, muts) => {
        const b = mutate(encodeEnvelope(e), muts)
        decodeOrDecodeError(b)
      }),
      { numRuns: 10_000 },
    )
  })
})

describe('batch frames', () => {
  const items = [new Uint8Array([1, 2, 3]), new Uint8Array(200).fill(7), new Uint8Array(0)]
  const collect = (frame: Uint8Array) => {
    const out: number[][] = []
    forEachInBatch(frame, 1 << 20, (buf, s, e) => out.push([...buf.subarray(s, e)]))
    return out
  }

  test('round-trip and hand out views in order', () => {
    assert.deepEqual(
      collect(encodeBatch(items, 3)),
      items.map((i) => [...i]),
    )
  })

  test('a damaged frame is refused whole before any envelope is handed out', () => {
    const f = encodeBatch(items, 3)
    let handed = 0
    assert.throws(() => forEachInBatch(f.subarray(0, f.length - 1), 1 << 20, () => handed++), DecodeError)
    assert.equal(handed, 0)
    assert.throws(() => forEachInBatch(Uint8Array.from([...f, 0]), 1 << 20, () => handed++), DecodeError)
    assert.throws(() => forEachInBatch(f, 100, () => handed++), DecodeError)
    assert.equal(handed, 0)
  })

  test('10,000 random frames give envelopes or a DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        if (bytes.length > 0) bytes[0] = 1
        try {
          forEachInBatch(bytes, 1 << 20, (buf, s, e) => {
            try {
              decodeEnvelopeAt(buf, s, e)
            } catch (err) {
              assert.ok(err instanceof DecodeError)
            }
          })
        } catch (err) {
          assert.ok(err instanceof DecodeError, String(err))
        }
      }),
      { numRuns: 10_000 },
    )
  })
})

describe('interest frames', () => {
  test('round-trip', () => {
    const rec = { node: 'node_a', version: 1234567890123, patterns: ['a.*', 'b.>', 'c'] }
    assert.deepEqual(decodeInterest(encodeInterest(rec)), rec)
  })

  test('refuse invalid patterns and random bytes with DecodeError only', () => {
    const f = encodeInterest({ node: 'n', version: 1, patterns: ['a.>'] })
    f[f.length - 1] = 0x2e // 'a..'
    assert.throws(() => decodeInterest(f), DecodeError)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        if (bytes.length > 0) bytes[0] = 2
        try {
          decodeInterest(bytes)
        } catch (err) {
          assert.ok(err instanceof DecodeError, String(err))
        }
      }),
      { numRuns: 10_000 },
    )
  })
})
