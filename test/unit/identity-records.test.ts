// Tests for signed records: domain separation between kinds, signer pinning, tamper detection and the
// wire codec's exact layout.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  decodeSignedRecord,
  encodeSignedRecord,
  generateKeyPair,
  recordSigningMessage,
  type SignedRecord,
  signRecord,
  TrustError,
  verify,
  verifyRecord,
} from '../../src/identity/index.js'
import { DecodeError, Reader } from '../../src/wire/index.js'

function trustErr(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof TrustError, `expected TrustError, got ${String(err)}`)
    assert.equal(err.code, code)
    return true
  }
}

describe('signed records', () => {
  const kp = generateKeyPair()
  const body = Buffer.from('link-state seq=7')

  test('a record verifies for its kind and signer and returns its body', () => {
    const rec = signRecord('link-state', body, kp)
    assert.deepEqual(verifyRecord(rec, 'link-state', kp.publicKey), body)
    assert.deepEqual(verifyRecord(rec, 'link-state'), body)
  })

  test('the signature covers the domain-separated message, not the bare body', () => {
    const rec = signRecord('wg-key', body, kp)
    const msg = recordSigningMessage('wg-key', body)
    assert.ok(Buffer.from(msg).toString('latin1').startsWith('blackroad/v1/'))
    assert.equal(verify(rec.signature, msg, kp.publicKey), true)
    assert.equal(verify(rec.signature, body, kp.publicKey), false)
  })

  test('a signature for one kind never verifies as another', () => {
    const rec = signRecord('wg-key', body, kp)
    assert.throws(() => verifyRecord(rec, 'node-cert'), trustErr('WRONG_KIND'))
    // Relabelling the record does not help: the kind is inside the signed message.
    assert.throws(() => verifyRecord({ ...rec, kind: 'node-cert' }, 'node-cert'), trustErr('BAD_SIGNATURE'))
    // Moving bytes between kind and body does not either (length prefixes keep the split unambiguous).
    const shifted: SignedRecord = {
      ...signRecord('ab', Buffer.from('c'), kp),
      kind: 'a',
      body: Buffer.from('bc'),
    }
    assert.throws(() => verifyRecord(shifted, 'a'), trustErr('BAD_SIGNATURE'))
  })

  test('tampered body, signature or signer is rejected', () => {
    const rec = signRecord('link-state', body, kp)
    const tamperedBody = Buffer.from(body)
    tamperedBody[0]! ^= 1
    assert.throws(() => verifyRecord({ ...rec, body: tamperedBody }, 'link-state'), trustErr('BAD_SIGNATURE'))
    const tamperedSig = Buffer.from(rec.signature)
    tamperedSig[63]! ^= 0x80
    assert.throws(
      () => verifyRecord({ ...rec, signature: tamperedSig }, 'link-state'),
      trustErr('BAD_SIGNATURE'),
    )
    const other = generateKeyPair()
    assert.throws(() => verifyRecord(rec, 'link-state', other.publicKey), trustErr('UNTRUSTED_SIGNER'))
    assert.throws(
      () => verifyRecord({ ...rec, signer: other.publicKey }, 'link-state'),
      trustErr('BAD_SIGNATURE'),
    )
  })

  test('signRecord refuses invalid kinds', () => {
    for (const kind of ['', 'Node', 'a b', 'x'.repeat(65), '-lead']) {
      assert.throws(() => signRecord(kind, body, kp), TypeError, kind)
    }
  })

  test('codec layout: version, kind, body, signer, signature; round-trips', () => {
    const rec = signRecord('node-cert', body, kp)
    const enc = encodeSignedRecord(rec)
    const r = new Reader(enc)
    assert.equal(r.u8(), 1)
    assert.equal(r.string(), 'node-cert')
    assert.deepEqual(r.bytes(), new Uint8Array(body))
    assert.deepEqual(r.fixed(32), new Uint8Array(kp.publicKey))
    assert.deepEqual(r.fixed(64), new Uint8Array(rec.signature))
    r.end()
    const back = decodeSignedRecord(enc)
    assert.deepEqual(back.body, new Uint8Array(body))
    assert.equal(back.kind, rec.kind)
    assert.deepEqual(back.signer, rec.signer)
    assert.deepEqual(back.signature, rec.signature)
    verifyRecord(back, 'node-cert', kp.publicKey)
  })

  test('decoded records do not alias the input buffer', () => {
    const enc = encodeSignedRecord(signRecord('node-cert', body, kp))
    const back = decodeSignedRecord(enc)
    enc.fill(0)
    verifyRecord(back, 'node-cert', kp.publicKey)
  })

  test('decoder rejects other versions, bad kinds and truncation', () => {
    const enc = encodeSignedRecord(signRecord('node-cert', body, kp))
    const v2 = Uint8Array.from(enc)
    v2[0] = 2
    assert.throws(
      () => decodeSignedRecord(v2),
      (e) => e instanceof DecodeError && e.reason === 'unsupported-version',
    )
    const badKind = Uint8Array.from(enc)
    badKind[2] = 'N'.charCodeAt(0)
    assert.throws(
      () => decodeSignedRecord(badKind),
      (e) => e instanceof DecodeError && e.reason === 'invalid-value',
    )
    for (let n = 0; n < enc.length; n++) {
      assert.throws(() => decodeSignedRecord(enc.subarray(0, n)), DecodeError)
    }
  })
})
