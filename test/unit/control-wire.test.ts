// The control plane's frames (src/control/wire.ts): signed single messages, signed batches and
// link-authenticated batches round-trip; a link-authenticated frame is refused unless it came over the
// sender's own link; signatures bind source, destination and body; a hello carries a signed "wants to vote"
// flag and nothing else; arbitrary bytes never throw.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { decodeControlFrame, encodeControlFrame, FrameKind, MAX_BATCH } from '../../src/control/wire.js'
import { generateKeyPair, sign, verify } from '../../src/identity/index.js'
import type { RaftMsg } from '../../src/protocols/raft/index.js'

const alice = generateKeyPair()
const mallory = generateKeyPair()
const signer = { sign: (m: Uint8Array) => sign(m, alice.secretKey) }
const verifier = (from: string, m: Uint8Array, s: Uint8Array) =>
  from === 'node_a' && verify(s, m, alice.publicKey)

const msgs: RaftMsg[] = [
  { type: 'heartbeat', term: 3, commit: 7, ctx: 1 },
  {
    type: 'append',
    term: 3,
    prevIndex: 7,
    prevTerm: 2,
    commit: 7,
    entries: [{ index: 8, term: 3, kind: 'command', data: new Uint8Array([1, 2, 3]) }],
  } as RaftMsg,
  { type: 'timeoutNow', term: 3 },
]

test('a signed batch round-trips and verifies only for its source and destination', () => {
  const bytes = encodeControlFrame({ kind: 'batch', msgs }, 'node_a', 'node_b', signer)
  assert.equal(bytes[1], FrameKind.batch)
  const d = decodeControlFrame(bytes, 'node_a', 'node_b', verifier)
  assert.ok(d.ok)
  assert.equal(d.frame.kind, 'batch')
  assert.deepEqual(d.frame.kind === 'batch' ? d.frame.msgs : null, msgs)
  // Replayed to another destination, or claimed by another source: the signature does not verify.
  assert.deepEqual(decodeControlFrame(bytes, 'node_a', 'node_c', verifier).ok, false)
  const other = decodeControlFrame(bytes, 'node_x', 'node_b', verifier)
  assert.equal(other.ok ? null : other.reason, 'bad_signature')
  const forged = encodeControlFrame({ kind: 'batch', msgs }, 'node_a', 'node_b', {
    sign: (m) => sign(m, mallory.secretKey),
  })
  const f = decodeControlFrame(forged, 'node_a', 'node_b', verifier)
  assert.equal(f.ok ? null : f.reason, 'bad_signature')
})

test("a link-authenticated batch is taken only over the sender's own link", () => {
  const bytes = encodeControlFrame({ kind: 'batch', msgs }, 'node_a', 'node_b', null)
  assert.equal(bytes[1], FrameKind.linkBatch)
  assert.ok(bytes.length < encodeControlFrame({ kind: 'batch', msgs }, 'node_a', 'node_b', signer).length)
  const relayed = decodeControlFrame(bytes, 'node_a', 'node_b', verifier, false)
  assert.equal(relayed.ok ? null : relayed.reason, 'unauthenticated')
  const direct = decodeControlFrame(bytes, 'node_a', 'node_b', () => false, true)
  assert.ok(direct.ok)
  assert.deepEqual(direct.frame.kind === 'batch' ? direct.frame.msgs : null, msgs)
  assert.throws(() => encodeControlFrame({ kind: 'hello' }, 'node_a', 'node_b', null), /only a batch/)
})

test('a single signed message and a hello still decode (frames of routers not yet batching)', () => {
  const one = encodeControlFrame({ kind: 'raft', msg: msgs[0]! }, 'node_a', 'node_b', signer)
  const d = decodeControlFrame(one, 'node_a', 'node_b', verifier)
  assert.ok(d.ok && d.frame.kind === 'raft')
  const hello = encodeControlFrame({ kind: 'hello' }, 'node_a', 'node_b', signer)
  const h = decodeControlFrame(hello, 'node_a', 'node_b', verifier, true)
  assert.ok(h.ok && h.frame.kind === 'hello')
})

test('a hello may say "wants to vote"; the flag is signed; any other hello body is undecodable', () => {
  const plain = encodeControlFrame({ kind: 'hello' }, 'node_a', 'node_b', signer)
  const p = decodeControlFrame(plain, 'node_a', 'node_b', verifier)
  assert.ok(p.ok && p.frame.kind === 'hello' && p.frame.wantsVote !== true)
  const wants = encodeControlFrame({ kind: 'hello', wantsVote: true }, 'node_a', 'node_b', signer)
  assert.equal(wants.length, plain.length + 1)
  const w = decodeControlFrame(wants, 'node_a', 'node_b', verifier)
  assert.ok(w.ok && w.frame.kind === 'hello' && w.frame.wantsVote === true)
  // A relay cannot add or strip the flag: the signature covers the body.
  const stripped = decodeControlFrame(wants.subarray(0, plain.length), 'node_a', 'node_b', verifier)
  assert.equal(stripped.ok ? null : stripped.reason, 'bad_signature')
  const added = decodeControlFrame(Uint8Array.from([...plain, 1]), 'node_a', 'node_b', verifier)
  assert.equal(added.ok ? null : added.reason, 'bad_signature')
  assert.throws(
    () => encodeControlFrame({ kind: 'hello', wantsVote: true }, 'node_a', 'node_b', null),
    /only a batch/,
  )
  // Well signed but malformed: other bodies are refused (counted as undecodable), never guessed at.
  const anySig = () => true
  const header = [1, FrameKind.hello, ...new Uint8Array(64)]
  for (const body of [[0], [2], [1, 1], [1, 0, 0]]) {
    const d = decodeControlFrame(Uint8Array.from([...header, ...body]), 'node_a', 'node_b', anySig)
    assert.equal(d.ok ? null : d.reason, 'undecodable', `hello body ${body}`)
  }
  // An unsigned (link-authenticated) hello does not exist.
  const linkHello = decodeControlFrame(
    Uint8Array.from([1, FrameKind.hello]),
    'node_a',
    'node_b',
    anySig,
    true,
  )
  assert.equal(linkHello.ok ? null : linkHello.reason, 'undecodable')
})

test('a batch longer than MAX_BATCH, unknown kinds and truncations are refused as undecodable', () => {
  const many = Array.from({ length: MAX_BATCH + 1 }, () => msgs[0]!)
  const bytes = encodeControlFrame({ kind: 'batch', msgs: many }, 'node_a', 'node_b', null)
  const d = decodeControlFrame(bytes, 'node_a', 'node_b', verifier, true)
  assert.equal(d.ok ? null : d.reason, 'undecodable')
  const unknown = decodeControlFrame(new Uint8Array([1, 9, 0]), 'node_a', 'node_b', verifier, true)
  assert.equal(unknown.ok ? null : unknown.reason, 'undecodable')
  const good = encodeControlFrame({ kind: 'batch', msgs }, 'node_a', 'node_b', null)
  const cut = decodeControlFrame(good.subarray(0, good.length - 2), 'node_a', 'node_b', verifier, true)
  assert.equal(cut.ok ? null : cut.reason, 'undecodable')
})

test('arbitrary bytes and mutated frames never throw', () => {
  const good = encodeControlFrame({ kind: 'batch', msgs }, 'node_a', 'node_b', null)
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, overLink) => {
      decodeControlFrame(bytes, 'node_a', 'node_b', verifier, overLink)
    }),
    { numRuns: 10_000 },
  )
  fc.assert(
    fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
      const m = good.slice()
      m[at]! ^= x
      decodeControlFrame(m, 'node_a', 'node_b', verifier, true)
    }),
    { numRuns: 10_000 },
  )
})
