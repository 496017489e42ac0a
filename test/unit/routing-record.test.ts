// Link-state record format: canonical body codec, signed envelope, and the sequence allocator. Property
// tests feed the decoders arbitrary and mutated bytes: they must answer with a DecodeError or with a record
// whose canonical encoding is exactly the input, and a mutated signed record must never verify.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  encodeSignedRecord,
  keyPairFromSeed,
  nodeIdFromPublicKey,
  signRecord,
} from '../../src/identity/index.js'
import {
  decodeRecordBody,
  encodeRecordBody,
  formatCidr,
  type LinkStateRecord,
  normalizeRecord,
  openLinkState,
  RoutingError,
  SequenceAllocator,
  sealLinkState,
  verifyLinkState,
} from '../../src/routing/index.js'
import { DecodeError } from '../../src/wire/index.js'

const keyA = keyPairFromSeed(Buffer.alloc(32, 1))
const keyB = keyPairFromSeed(Buffer.alloc(32, 2))
const A = nodeIdFromPublicKey(keyA.publicKey)
const B = nodeIdFromPublicKey(keyB.publicKey)
const C = 'node_cccccccccccccccc'

function sample(over: Partial<LinkStateRecord> = {}): LinkStateRecord {
  return {
    origin: A,
    seq: 1_732_000_000_000_000,
    issuedAt: 1_732_000_000_000,
    links: [
      { peer: C, rttMicros: 40_000, lossPermille: 3, up: true },
      { peer: B, rttMicros: 10_250, lossPermille: 0, up: false },
    ],
    addresses: ['fd5e:0:0::7/128', '100.64.0.7'],
    ...over,
  }
}

const isDecodeError = (e: unknown) => e instanceof DecodeError && e.code === 'DECODE_ERROR'

// ---- arbitraries ------------------------------------------------------------------------------------

const B32 = 'abcdefghijklmnopqrstuvwxyz234567'.split('')
const arbNodeId = fc
  .string({ unit: fc.constantFrom(...B32), minLength: 16, maxLength: 16 })
  .map((s) => `node_${s}`)

function masked(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes)
  for (let bit = prefix; bit < out.length * 8; bit++) out[bit >>> 3]! &= ~(0x80 >>> (bit & 7))
  return out
}
const arbPrefix = fc.oneof(
  fc
    .tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 1, max: 32 }))
    .map(([b, p]) => formatCidr({ family: 4, bytes: masked(b, p), prefix: p })),
  fc
    .tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 1, max: 128 }))
    .map(([b, p]) => formatCidr({ family: 6, bytes: masked(b, p), prefix: p })),
)
const arbRecord: fc.Arbitrary<LinkStateRecord> = fc
  .record({
    origin: arbNodeId,
    seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    issuedAt: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    links: fc.uniqueArray(
      fc.record({
        peer: arbNodeId,
        rttMicros: fc.nat({ max: 0xffff_ffff }),
        lossPermille: fc.nat({ max: 1000 }),
        up: fc.boolean(),
      }),
      { selector: (l) => l.peer, maxLength: 12 },
    ),
    addresses: fc.uniqueArray(arbPrefix, { maxLength: 6 }),
  })
  .map((r) => ({ ...r, links: r.links.filter((l) => l.peer !== r.origin) }))

// ---- body codec ------------------------------------------------------------------------------------

describe('link-state body codec', () => {
  it('round trips and normalises order and prefix spelling', () => {
    const body = encodeRecordBody(sample())
    const back = decodeRecordBody(body)
    assert.deepEqual(
      back.links.map((l) => l.peer),
      [B, C].sort(),
    )
    assert.deepEqual(back.addresses, ['100.64.0.7/32', 'fd5e::7/128'])
    assert.deepEqual(back, normalizeRecord(sample()))
  })

  it('refuses records it cannot sign honestly', () => {
    const bad: Array<[string, Partial<LinkStateRecord>]> = [
      ['origin', { origin: 'A' }],
      ['seq', { seq: 0 }],
      ['loss', { links: [{ peer: C, rttMicros: 1, lossPermille: 1001, up: true }] }],
      ['self link', { links: [{ peer: A, rttMicros: 1, lossPermille: 0, up: true }] }],
      ['twice', { links: [sample().links[0]!, sample().links[0]!] }],
      ['address', { addresses: ['10.0.0.1/8'] }],
      ['address twice', { addresses: ['10.0.0.1', '10.0.0.1/32'] }],
    ]
    for (const [what, over] of bad) {
      assert.throws(
        () => encodeRecordBody(sample(over)),
        (e: unknown) => e instanceof RoutingError && e.code === 'INVALID_RECORD',
        what,
      )
    }
  })

  it('property: decode(encode(r)) = normalise(r), and the encoding is canonical', () => {
    fc.assert(
      fc.property(arbRecord, (r) => {
        const bytes = encodeRecordBody(r)
        const back = decodeRecordBody(bytes)
        assert.deepEqual(back, normalizeRecord(r))
        assert.deepEqual(encodeRecordBody(back), bytes)
      }),
      { numRuns: 300 },
    )
  })

  it('property: arbitrary bytes give a DecodeError or a record that re-encodes to exactly them', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          const r = decodeRecordBody(bytes)
          assert.deepEqual(encodeRecordBody(r), bytes)
        } catch (e) {
          assert.ok(isDecodeError(e), String(e))
        }
      }),
      { numRuns: 1000 },
    )
  })

  it('property: mutated encodings give a DecodeError or a canonical record', () => {
    const arbMutation = fc.tuple(
      arbRecord,
      fc.nat(),
      fc.nat({ max: 255 }),
      fc.constantFrom('flip', 'cut', 'insert'),
    )
    fc.assert(
      fc.property(arbMutation, ([r, pos, byte, kind]) => {
        const good = encodeRecordBody(r)
        const i = pos % good.length
        let bytes: Uint8Array
        if (kind === 'flip') {
          bytes = Uint8Array.from(good)
          bytes[i] = byte
        } else if (kind === 'cut') bytes = good.subarray(0, i)
        else bytes = Uint8Array.from([...good.subarray(0, i), byte, ...good.subarray(i)])
        try {
          assert.deepEqual(encodeRecordBody(decodeRecordBody(bytes)), bytes)
        } catch (e) {
          assert.ok(isDecodeError(e), String(e))
        }
      }),
      { numRuns: 1000 },
    )
  })

  it('rejects a forged count before looping over it', () => {
    const body = encodeRecordBody(sample({ links: [], addresses: [] }))
    const head = body.subarray(0, body.length - 2) // up to nLinks = 0, nAddrs = 0
    const withCount = (varint: number[]) => Uint8Array.from([...head, ...varint, 0])
    const reason = (bytes: Uint8Array) => {
      try {
        decodeRecordBody(bytes)
        return 'decoded'
      } catch (e) {
        return e instanceof DecodeError ? e.reason : String(e)
      }
    }
    assert.equal(reason(withCount([0xf4, 0x03])), 'truncated', '500 links cannot fit in one byte')
    assert.equal(reason(withCount([0xa0, 0x8d, 0x06])), 'length-exceeds-max', '100000 links')
  })
})

// ---- signed envelope -------------------------------------------------------------------------------

describe('signed link-state records', () => {
  it('seals with the origin key, opens and verifies', () => {
    const s = sealLinkState(sample(), keyA)
    const opened = openLinkState(s.bytes)
    assert.deepEqual(opened.record, normalizeRecord(sample()))
    assert.equal(verifyLinkState(opened, keyA.publicKey), true)
    assert.equal(verifyLinkState(opened, keyB.publicKey), false, 'not with another key')
  })

  it('refuses to seal with a key that is not the origin’s', () => {
    assert.throws(
      () => sealLinkState(sample(), keyB),
      (e: unknown) => e instanceof RoutingError,
    )
  })

  it('refuses an envelope of another kind, and never verifies one signed by a key not the origin’s', () => {
    const body = encodeRecordBody(sample())
    const otherKind = encodeSignedRecord(signRecord('revocation', body, keyA))
    assert.throws(() => openLinkState(otherKind), isDecodeError)
    const forged = openLinkState(encodeSignedRecord(signRecord('link-state', body, keyB)))
    assert.equal(verifyLinkState(forged, keyA.publicKey), false)
  })

  it('property: no single-byte change of a sealed record verifies', () => {
    const sealed = sealLinkState(sample(), keyA)
    fc.assert(
      fc.property(fc.nat(sealed.bytes.length - 1), fc.integer({ min: 1, max: 255 }), (i, delta) => {
        const bytes = Uint8Array.from(sealed.bytes)
        bytes[i] = (bytes[i]! + delta) & 0xff
        let opened: ReturnType<typeof openLinkState>
        try {
          opened = openLinkState(bytes)
        } catch (e) {
          assert.ok(isDecodeError(e), String(e))
          return
        }
        assert.equal(verifyLinkState(opened, keyA.publicKey), false)
      }),
      { numRuns: 500 },
    )
  })

  it('property: arbitrary bytes never open into anything but a DecodeError or a record', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        try {
          openLinkState(bytes)
        } catch (e) {
          assert.ok(isDecodeError(e), String(e))
        }
      }),
      { numRuns: 1000 },
    )
  })
})

// ---- sequence numbers -----------------------------------------------------------------------------

describe('SequenceAllocator', () => {
  it('is strictly increasing, even when the clock stands still or steps back', () => {
    const seq = new SequenceAllocator()
    const a = seq.next(1000)
    const b = seq.next(1000)
    const c = seq.next(500)
    assert.ok(a < b && b < c)
    assert.equal(a, 1_000_000)
  })

  it('continues from the persisted value, and jumps past it by the clock after a lost counter', () => {
    const before = new SequenceAllocator()
    let last = 0
    for (let t = 0; t < 50; t++) last = before.next(1_732_000_000_000 + t)
    assert.equal(new SequenceAllocator(last).next(1_732_000_000_000), last + 1)
    assert.ok(
      new SequenceAllocator().next(1_732_000_000_050) > last,
      'restart without the counter, 1 ms later',
    )
  })

  it('goes past a sequence seen in the federation', () => {
    const seq = new SequenceAllocator(10)
    seq.observe(5_000_000)
    assert.equal(seq.next(0), 5_000_001)
    seq.observe(Number.NaN)
    assert.equal(seq.last, 5_000_001)
  })

  it('validates the persisted value', () => {
    assert.throws(
      () => new SequenceAllocator(-1),
      (e: unknown) => e instanceof RoutingError && e.code === 'INVALID_OPTIONS',
    )
  })
})
