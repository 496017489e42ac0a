// The join channel's codec: every message round-trips exactly; arbitrary bytes and mutated valid encodings give
// a message or a DecodeError (never another exception); JOINED without voters is the earlier encoding; the
// frame reader splits any chunking and refuses a length over its bound before buffering it.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import {
  decodeJoinMessage,
  encodeJoinMessage,
  frameJoinMessage,
  JoinFrameReader,
  type JoinMessage,
  MAX_JOIN_FRAME,
  REFUSAL_CODES,
} from '../../src/control/join-messages.js'
import { generateKeyPair, type SignedRevocation, signRevocation } from '../../src/identity/index.js'
import { DecodeError } from '../../src/wire/index.js'

const root = generateKeyPair()
const rev = signRevocation(
  { nodeId: 'node_abcdefghijklmnop', reason: 'lost', revokedAt: 1_700_000_000_000 },
  root,
)
const text = (max: number) => fc.string({ maxLength: max })
const bytes = (max: number) => fc.uint8Array({ maxLength: max })
const list = fc.array(text(40), { maxLength: 4 })

const message: fc.Arbitrary<JoinMessage> = fc.oneof(
  fc.record({
    type: fc.constant('hello' as const),
    rootPublicKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    federationId: text(30),
    certificate: bytes(300),
  }),
  fc.record({ type: fc.constant('join' as const), token: text(200), name: text(30), addresses: list }),
  fc.constant({ type: 'renew' as const }),
  fc.record({
    type: fc.constant('joined' as const),
    certificate: bytes(300),
    federation: fc.record({ id: text(30), name: text(30), createdAt: fc.nat() }),
    secret: bytes(64),
    revocations: fc.constantFrom<SignedRevocation[]>([], [rev]),
    ipv4: text(15),
    ipv6: text(39),
    controlPlane: list,
    bootstrap: list,
    staticPeers: list,
    voters: list,
  }),
  fc.record({ type: fc.constant('renewed' as const), certificate: bytes(300) }),
  fc.record({
    type: fc.constant('refused' as const),
    code: fc.constantFrom(...REFUSAL_CODES),
    message: text(100),
  }),
)

function total(b: Uint8Array): void {
  try {
    decodeJoinMessage(b)
  } catch (err) {
    assert.ok(err instanceof DecodeError, `not a DecodeError: ${String(err)}`)
  }
}

const norm = (m: JoinMessage) =>
  JSON.parse(JSON.stringify(m, (_k, v) => (v instanceof Uint8Array ? [...v] : v)))

test('every join message round-trips exactly', () => {
  fc.assert(
    fc.property(message, (m) => {
      const b = encodeJoinMessage(m)
      const back = decodeJoinMessage(b)
      assert.deepEqual(norm(back), norm(m))
      assert.deepEqual(encodeJoinMessage(back), b)
    }),
    { numRuns: 2000 },
  )
})

test('10,000 arbitrary inputs give a message or a DecodeError', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 2048 }), total), { numRuns: 10_000 })
})

test('10,000 mutated valid encodings give a message or a DecodeError', () => {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('max' as const), at: fc.nat() }),
  )
  let decodeErrors = 0
  fc.assert(
    fc.property(message, fc.array(mutation, { minLength: 1, maxLength: 3 }), (m, muts) => {
      let b = encodeJoinMessage(m).slice()
      for (const mu of muts) {
        if (b.length === 0) break
        const at = mu.at % b.length
        if (mu.kind === 'flip') b[at]! ^= 1 << mu.bit
        else if (mu.kind === 'cut') b = b.subarray(0, at)
        else
          b = Uint8Array.from([
            ...b.subarray(0, at),
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0x0f,
            ...b.subarray(at),
          ])
      }
      try {
        decodeJoinMessage(b)
      } catch (err) {
        assert.ok(err instanceof DecodeError, `not a DecodeError: ${String(err)}`)
        decodeErrors++
      }
    }),
    { numRuns: 10_000 },
  )
  // The mutations must actually reach the decoder's refusals, or this test would prove nothing.
  assert.ok(decodeErrors > 5000, `only ${decodeErrors} mutations were refused`)
})

test('an unknown refusal code, a wrong version and trailing bytes are refused', () => {
  const good = encodeJoinMessage({ type: 'refused', code: 'EXPIRED', message: 'x' })
  const badCode = encodeJoinMessage({ type: 'refused', code: 'EXPIRED', message: 'x' }).slice()
  badCode[3] = 'F'.charCodeAt(0) // "EXPIRED" -> "FXPIRED"
  assert.throws(
    () => decodeJoinMessage(badCode),
    (e: unknown) => e instanceof DecodeError && e.reason === 'invalid-value',
  )
  const v2 = good.slice()
  v2[1] = 2
  assert.throws(
    () => decodeJoinMessage(v2),
    (e: unknown) => e instanceof DecodeError && e.reason === 'unsupported-version',
  )
  assert.throws(
    () => decodeJoinMessage(Uint8Array.from([...good, 0])),
    (e: unknown) => e instanceof DecodeError && e.reason === 'trailing-bytes',
  )
})

test("JOINED's voters ride as an optional trailing list: without them the bytes are an earlier server's", () => {
  const base: Extract<JoinMessage, { type: 'joined' }> = {
    type: 'joined',
    certificate: new Uint8Array([1, 2, 3]),
    federation: { id: 'fed_x', name: 'lab', createdAt: 5 },
    secret: new Uint8Array(32),
    revocations: [rev],
    ipv4: '100.64.0.2',
    ipv6: 'fd00::2',
    controlPlane: ['10.0.0.1:7443'],
    bootstrap: [],
    staticPeers: [],
    voters: [],
  }
  const old = encodeJoinMessage(base)
  // What a server before the voters wrote: the same fields, nothing after the static peers (an empty list).
  assert.equal(old[old.length - 1], 0)
  assert.deepEqual(decodeJoinMessage(old), base)
  const withVoters = encodeJoinMessage({
    ...base,
    voters: ['node_aaaaaaaaaaaaaaaa', 'node_bbbbbbbbbbbbbbbb'],
  })
  assert.deepEqual(withVoters.subarray(0, old.length), old, 'the voters only append')
  const back = decodeJoinMessage(withVoters)
  assert.equal(back.type, 'joined')
  assert.deepEqual(back.type === 'joined' ? back.voters : null, [
    'node_aaaaaaaaaaaaaaaa',
    'node_bbbbbbbbbbbbbbbb',
  ])
  // An explicit empty list would be a second encoding of the same message; bytes after the voters are trailing.
  assert.throws(
    () => decodeJoinMessage(Uint8Array.from([...old, 0])),
    (e: unknown) => e instanceof DecodeError && e.reason === 'invalid-value',
  )
  assert.throws(
    () => decodeJoinMessage(Uint8Array.from([...withVoters, 0])),
    (e: unknown) => e instanceof DecodeError && e.reason === 'trailing-bytes',
  )
})

test('the frame reader reassembles any chunking and refuses oversized lengths', () => {
  const msgs: JoinMessage[] = [
    { type: 'renew' },
    { type: 'join', token: 't'.repeat(500), name: 'pi', addresses: ['10.0.0.1:1'] },
  ]
  const stream = Buffer.concat(msgs.map(frameJoinMessage))
  fc.assert(
    fc.property(fc.array(fc.nat(stream.length), { maxLength: 6 }), (cuts) => {
      const points = [...new Set([0, ...cuts, stream.length])].sort((a, b) => a - b)
      const r = new JoinFrameReader()
      const got: JoinMessage[] = []
      for (let i = 1; i < points.length; i++) got.push(...r.push(stream.subarray(points[i - 1]!, points[i]!)))
      assert.deepEqual(got, msgs)
    }),
    { numRuns: 500 },
  )
  const huge = Buffer.alloc(4)
  huge.writeUInt32BE(MAX_JOIN_FRAME + 1)
  assert.throws(
    () => new JoinFrameReader().push(huge),
    (e: unknown) => e instanceof DecodeError && e.reason === 'length-exceeds-max',
  )
})
