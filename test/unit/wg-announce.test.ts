// WireGuard key announcements and mesh addresses: a rotation record is accepted only from the node's own key,
// only when newer than the last, and survives the wire; mesh IPv6 addresses are stable per federation and key.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import {
  candidateIpv4,
  decodeSignedRecord,
  encodeSignedRecord,
  generateKeyPair,
  generateX25519KeyPair,
  isMeshIpv4,
  meshIpv6,
  meshIpv6Prefix,
  signRecord,
} from '../../src/identity/index.js'
import { DecodeError } from '../../src/wire/index.js'
import { signWgKeyAnnouncement, WgKeyBook } from '../../src/wireguard/announce.js'

test('a rotation record from the node is accepted once; replays, stale and foreign records are refused', () => {
  const node = generateKeyPair()
  const other = generateKeyPair()
  const book = new WgKeyBook()
  const k1 = generateX25519KeyPair().publicKey
  const k2 = generateX25519KeyPair().publicKey
  const r1 = signWgKeyAnnouncement({ publicKey: k1, listenPort: 51820, seq: 1, issuedAt: 1000 }, node)
  const r2 = signWgKeyAnnouncement({ publicKey: k2, listenPort: 51820, seq: 2, issuedAt: 2000 }, node)
  assert.deepEqual(book.accept('n', node.publicKey, r1).ok, true)
  const wire = decodeSignedRecord(encodeSignedRecord(r2))
  const v2 = book.accept('n', node.publicKey, wire)
  assert.ok(v2.ok)
  assert.deepEqual(Buffer.from(v2.announcement.publicKey), Buffer.from(k2))
  assert.deepEqual(
    book.accept('n', node.publicKey, r1),
    { ok: false, reason: 'stale' },
    'old sequence refused',
  )
  assert.deepEqual(book.accept('n', node.publicKey, r2), { ok: false, reason: 'stale' }, 'replay refused')
  const forged = signWgKeyAnnouncement({ publicKey: k1, listenPort: 1, seq: 99, issuedAt: 3000 }, other)
  assert.deepEqual(book.accept('n', node.publicKey, forged), { ok: false, reason: 'wrong-signer' })
  const tampered = {
    ...r2,
    signer: node.publicKey,
    body: Uint8Array.from(r2.body, (b, i) => (i === 5 ? b ^ 1 : b)),
  }
  assert.deepEqual(new WgKeyBook().accept('n', node.publicKey, tampered), {
    ok: false,
    reason: 'bad-signature',
  })
  const wrongKind = signRecord('link-state', r2.body, node)
  assert.deepEqual(new WgKeyBook().accept('n', node.publicKey, wrongKind), {
    ok: false,
    reason: 'bad-signature',
  })
  assert.equal(book.get('n')?.seq, 2)
})

test('malformed bodies signed by the right key are refused as malformed, never thrown', () => {
  const node = generateKeyPair()
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (body) => {
      const v = new WgKeyBook().accept('n', node.publicKey, signRecord('wg-key', body, node))
      if (!v.ok) assert.ok(v.reason === 'malformed')
    }),
    { numRuns: 2000 },
  )
  assert.ok(DecodeError)
})

test('mesh addresses: IPv6 stable per federation and key, inside the federation /48; IPv4 candidates in 100.64/10', () => {
  const a = generateKeyPair().publicKey
  const b = generateKeyPair().publicKey
  const p = meshIpv6Prefix('fed_abc')
  assert.match(p, /^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/48$/)
  assert.notEqual(p, meshIpv6Prefix('fed_abd'))
  assert.equal(meshIpv6('fed_abc', a), meshIpv6('fed_abc', a))
  assert.notEqual(meshIpv6('fed_abc', a), meshIpv6('fed_abc', b))
  assert.ok(meshIpv6('fed_abc', a).startsWith(p.replace('::/48', ':0:')))
  for (let i = 0; i < 200; i++) {
    const v4 = candidateIpv4(generateKeyPair().publicKey, i % 3)
    assert.ok(isMeshIpv4(v4), v4)
    assert.ok(!v4.endsWith('.0') && !v4.endsWith('.255'))
  }
  assert.equal(isMeshIpv4('100.128.0.1'), false)
})
