// Tests for revocations: only root-signed revocations enter a RevocationSet, serial and whole-node
// revocations both take effect, and the codecs round-trip.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  CONTROL_PLANE_CLUSTER,
  decodeRevocation,
  encodeRevocation,
  federationIdFromRootKey,
  generateKeyPair,
  issueCertificate,
  nodeIdFromPublicKey,
  RevocationSet,
  revocationListCodec,
  type SignedRevocation,
  signRevocation,
  TrustError,
  verifyCertificate,
  verifyRevocation,
} from '../../src/identity/index.js'
import { DecodeError, decodeWith, encodeWith } from '../../src/wire/index.js'

const root = generateKeyPair()
const nodeA = nodeIdFromPublicKey(generateKeyPair().publicKey)
const nodeB = nodeIdFromPublicKey(generateKeyPair().publicKey)
const T = Date.UTC(2025, 5, 1)

function badSig(err: unknown): boolean {
  assert.ok(err instanceof TrustError)
  assert.equal(err.code, 'BAD_SIGNATURE')
  return true
}

describe('revocations', () => {
  test('sign, encode, decode, verify; absent serial stays absent', () => {
    for (const rev of [
      { nodeId: nodeA, serial: 7, reason: 'key compromised', revokedAt: T },
      { nodeId: nodeB, reason: 'node decommissioned', revokedAt: T },
    ]) {
      const signed = signRevocation(rev, root)
      const back = decodeRevocation(encodeRevocation(signed))
      assert.deepStrictEqual(back, signed)
      assert.equal('serial' in back, 'serial' in rev)
      verifyRevocation(back, root.publicKey)
    }
  })

  test('tampering or another signer is BAD_SIGNATURE', () => {
    const signed = signRevocation({ nodeId: nodeA, serial: 7, reason: 'x', revokedAt: T }, root)
    assert.throws(() => verifyRevocation({ ...signed, serial: 8 }, root.publicKey), badSig)
    assert.throws(() => verifyRevocation({ ...signed, nodeId: nodeB }, root.publicKey), badSig)
    const { serial: _dropped, ...wholeNode } = signed
    assert.throws(() => verifyRevocation(wholeNode as SignedRevocation, root.publicKey), badSig)
    const rogue = generateKeyPair()
    assert.throws(
      () =>
        verifyRevocation(signRevocation({ nodeId: nodeA, reason: 'x', revokedAt: T }, rogue), root.publicKey),
      badSig,
    )
  })

  test('RevocationSet admits only root-signed entries and answers isRevoked', () => {
    const set = new RevocationSet(root.publicKey)
    const rogue = generateKeyPair()
    assert.throws(() => set.add(signRevocation({ nodeId: nodeA, reason: 'x', revokedAt: T }, rogue)), badSig)
    assert.equal(set.isRevoked({ nodeId: nodeA, serial: 1 }), false)

    assert.equal(
      set.add(signRevocation({ nodeId: nodeA, serial: 3, reason: 'rotated', revokedAt: T }, root)),
      true,
    )
    assert.equal(set.isRevoked({ nodeId: nodeA, serial: 3 }), true)
    assert.equal(set.isRevoked({ nodeId: nodeA, serial: 4 }), false)
    assert.equal(set.isRevoked({ nodeId: nodeB, serial: 3 }), false)

    assert.equal(set.add(signRevocation({ nodeId: nodeB, reason: 'removed', revokedAt: T }, root)), true)
    assert.equal(set.isRevoked({ nodeId: nodeB, serial: 99 }), true)

    assert.equal(
      set.add(signRevocation({ nodeId: nodeA, serial: 3, reason: 'again', revokedAt: T + 1 }, root)),
      false,
    )
    assert.equal(set.size, 2)
    assert.deepEqual(
      set.entries().map((r) => r.nodeId),
      [nodeA, nodeB],
    )
  })

  test('a revoked certificate fails verification with REVOKED', () => {
    const fedId = federationIdFromRootKey(root.publicKey)
    const node = generateKeyPair()
    const cert = issueCertificate(
      {
        federationId: fedId,
        publicKey: node.publicKey,
        name: 'pi-1',
        cluster: 'cluster_abc123',
        region: 'home',
        role: 'edge',
        addresses: {},
        labels: {},
        notBefore: T,
        notAfter: T + 1000,
        serial: 5,
      },
      root,
    )
    const set = new RevocationSet(root.publicKey)
    const opts = {
      rootPublicKey: root.publicKey,
      federationId: fedId,
      now: T,
      isRevoked: (c: typeof cert) => set.isRevoked(c),
    }
    verifyCertificate(cert, opts)
    set.add(signRevocation({ nodeId: cert.nodeId, serial: 5, reason: 'stolen', revokedAt: T }, root))
    assert.throws(
      () => verifyCertificate(cert, opts),
      (e) => e instanceof TrustError && e.code === 'REVOKED',
    )
  })

  test('list codec round-trips and decoder rejects bad node ids and truncation', () => {
    const list = [
      signRevocation({ nodeId: nodeA, serial: 1, reason: 'a', revokedAt: T }, root),
      signRevocation({ nodeId: nodeB, reason: 'b', revokedAt: T }, root),
    ]
    assert.deepStrictEqual(decodeWith(revocationListCodec, encodeWith(revocationListCodec, list)), list)
    assert.throws(() => signRevocation({ nodeId: 'node_X', reason: 'a', revokedAt: T }, root), TypeError)
    const enc = encodeRevocation(list[0]!)
    for (let n = 0; n < enc.length; n++)
      assert.throws(() => decodeRevocation(enc.subarray(0, n)), DecodeError)
  })
})

describe('revocations signed by an issuer', () => {
  const fedId = federationIdFromRootKey(root.publicKey)
  const issuerKey = generateKeyPair()
  const certFor = (key: typeof issuerKey, cluster: string, signer = root) =>
    issueCertificate(
      {
        federationId: fedId,
        publicKey: key.publicKey,
        name: 'cp',
        cluster,
        region: 'r',
        role: 'primary',
        addresses: {},
        labels: {},
        notBefore: T - 1000,
        notAfter: T + 86_400_000,
        serial: 3,
      },
      signer,
    )
  const issuer = certFor(issuerKey, CONTROL_PLANE_CLUSTER)

  test('version 2 round-trips with its issuer and enters a RevocationSet', () => {
    const signed = signRevocation({ nodeId: nodeA, reason: 'lost', revokedAt: T }, issuerKey, issuer)
    const back = decodeRevocation(encodeRevocation(signed))
    assert.deepStrictEqual(back, signed)
    assert.deepStrictEqual(back.issuer, issuer)
    verifyRevocation(back, root.publicKey)
    const set = new RevocationSet(root.publicKey)
    assert.equal(set.add(back), true)
    assert.equal(set.isRevoked({ nodeId: nodeA, serial: 1 }), true)
    assert.deepStrictEqual(decodeWith(revocationListCodec, encodeWith(revocationListCodec, [back])), [back])
  })

  test('refused: not an issuer, another signer, outside its validity, a revoked issuer, a rogue root', () => {
    const plainKey = generateKeyPair()
    const plain = certFor(plainKey, 'edge')
    assert.throws(
      () => signRevocation({ nodeId: nodeA, reason: 'x', revokedAt: T }, plainKey, plain),
      TypeError,
    )
    assert.throws(
      () => signRevocation({ nodeId: nodeA, reason: 'x', revokedAt: T }, plainKey, issuer),
      TypeError,
    )
    const good = signRevocation({ nodeId: nodeA, reason: 'x', revokedAt: T }, issuerKey, issuer)
    // Its issuer swapped for a non-issuer, or its signature made by another key: refused.
    assert.throws(() => verifyRevocation({ ...good, issuer: plain }, root.publicKey), badSig)
    const other = signRevocation({ nodeId: nodeA, reason: 'x', revokedAt: T }, root)
    assert.throws(() => verifyRevocation({ ...good, signature: other.signature }, root.publicKey), badSig)
    // Revoked after its issuer's certificate expired.
    const late = signRevocation(
      { nodeId: nodeA, reason: 'x', revokedAt: T + 2 * 86_400_000 },
      issuerKey,
      issuer,
    )
    assert.throws(() => verifyRevocation(late, root.publicKey), badSig)
    // An issuer this router has revoked no longer revokes others.
    const set = new RevocationSet(root.publicKey)
    set.add(signRevocation({ nodeId: issuer.nodeId, reason: 'compromised', revokedAt: T }, root))
    assert.throws(() => set.add(good), badSig)
    assert.equal(set.isRevoked({ nodeId: nodeA, serial: 1 }), false)
    // An issuer certificate from another root (same federation id claimed).
    const rogue = generateKeyPair()
    const rogueIssuer = certFor(issuerKey, CONTROL_PLANE_CLUSTER, rogue)
    const viaRogue = signRevocation({ nodeId: nodeA, reason: 'x', revokedAt: T }, issuerKey, rogueIssuer)
    assert.throws(() => verifyRevocation(viaRogue, root.publicKey), badSig)
  })
})
