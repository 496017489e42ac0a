// Tests for node certificates: issue/encode/decode round trips, the canonical encoding, and every
// TrustError code verifyCertificate and checkCertificateKey can give.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  CertBook,
  type CertificateRequest,
  CONTROL_PLANE_CLUSTER,
  certificateCodec,
  checkCertificateKey,
  decodeCertificate,
  decodeSignedRecord,
  encodeCertificate,
  encodeSignedRecord,
  federationIdFromRootKey,
  generateKeyPair,
  isIssuerCertificate,
  issueCertificate,
  issueDelegatedCertificate,
  type NodeCertificate,
  nodeIdFromPublicKey,
  RevocationSet,
  signRecord,
  signRevocation,
  TrustError,
  type VerifyCertificateOptions,
  verifyCertificate as verifyCert,
} from '../../src/identity/index.js'
import { DecodeError, decodeWith, encodeWith, Reader, Writer } from '../../src/wire/index.js'

const root = generateKeyPair()
const fedId = federationIdFromRootKey(root.publicKey)
const node = generateKeyPair()
const T0 = Date.UTC(2025, 0, 1)
const DAY = 86_400_000

function request(overrides: Partial<CertificateRequest> = {}): CertificateRequest {
  return {
    federationId: fedId,
    publicKey: node.publicKey,
    name: 'lucidia',
    cluster: 'cluster_abc123',
    region: 'us-west-2',
    role: 'edge',
    addresses: { ipv4: '100.64.0.7', ipv6: 'fd12:3456:789a::7' },
    labels: { gpu: 'none', arch: 'arm64', zone: 'rack-2' },
    notBefore: T0,
    notAfter: T0 + 30 * DAY,
    serial: 42,
    ...overrides,
  }
}

const opts = { rootPublicKey: root.publicKey, federationId: fedId, now: T0 + DAY }

/** Verifies against this file's federation at T0 + 1 day unless `extra` says otherwise. */
function verifyCertificate(cert: NodeCertificate, extra: Partial<VerifyCertificateOptions> = {}): void {
  verifyCert(cert, { ...opts, ...extra })
}

function trustErr(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof TrustError, `expected TrustError, got ${String(err)}`)
    assert.equal(err.code, code)
    assert.ok(err.message.length > 0)
    return true
  }
}

describe('node certificates', () => {
  test('issue -> encode -> decode -> verify', () => {
    const cert = issueCertificate(request(), root)
    assert.equal(cert.nodeId, nodeIdFromPublicKey(node.publicKey))
    assert.equal(cert.version, 1)
    const back = decodeCertificate(encodeCertificate(cert))
    assert.deepStrictEqual(back, cert)
    verifyCertificate(back)
    checkCertificateKey(back, node.publicKey)
  })

  test('optional addresses and empty labels round-trip', () => {
    for (const addresses of [{}, { ipv4: '100.64.1.1' }, { ipv6: '::1' }]) {
      const cert = issueCertificate(request({ addresses, labels: {} }), root)
      assert.deepStrictEqual(decodeCertificate(encodeCertificate(cert)), cert)
      verifyCertificate(cert)
    }
  })

  test('label order does not change the encoding; the decoder demands ascending keys', () => {
    const a = issueCertificate(request({ labels: { b: '2', a: '1' } }), root)
    const b = issueCertificate(request({ labels: { a: '1', b: '2' } }), root)
    assert.deepEqual(encodeCertificate(a), encodeCertificate(b))
    // Build a body with descending keys and sign it properly: still refused as non-canonical.
    const enc = Buffer.from(encodeCertificate(a))
    const rec = decodeSignedRecord(enc)
    const swapped = Buffer.from(rec.body)
    const at = swapped.indexOf(Buffer.from([1, 0x61, 1, 0x31, 1, 0x62, 1, 0x32]))
    assert.ok(at > 0)
    swapped.set([1, 0x62, 1, 0x32, 1, 0x61, 1, 0x31], at)
    const forged = encodeSignedRecord(signRecord('node-cert', swapped, root))
    assert.throws(
      () => decodeCertificate(forged),
      (e) => e instanceof DecodeError && e.reason === 'non-canonical',
    )
  })

  test('a label named __proto__ stays a plain label', () => {
    const labels = JSON.parse('{"__proto__":"x","ok":"y"}') as Record<string, string>
    const cert = issueCertificate(request({ labels }), root)
    const back = decodeCertificate(encodeCertificate(cert))
    assert.equal(Object.getPrototypeOf(back.labels), Object.prototype)
    assert.deepEqual(Object.keys(back.labels).sort(), ['__proto__', 'ok'])
    verifyCertificate(back)
  })

  test('the inline codec composes with other fields', () => {
    const cert = issueCertificate(request(), root)
    const w = new Writer().u8(9)
    certificateCodec.encode(w, cert)
    w.string('after')
    const r = new Reader(w.finish())
    assert.equal(r.u8(), 9)
    assert.deepStrictEqual(certificateCodec.decode(r), cert)
    assert.equal(r.string(), 'after')
    r.end()
    assert.deepStrictEqual(decodeWith(certificateCodec, encodeWith(certificateCodec, cert)), cert)
  })

  test('decoder rejects a record of another kind and every truncation', () => {
    const other = encodeSignedRecord(signRecord('revocation', new Uint8Array(3), root))
    assert.throws(() => decodeCertificate(other), DecodeError)
    const enc = encodeCertificate(issueCertificate(request(), root))
    for (let n = 0; n < enc.length; n++)
      assert.throws(() => decodeCertificate(enc.subarray(0, n)), DecodeError)
  })

  test('BAD_SIGNATURE: tampered fields, signature, or signed by another key', () => {
    const cert = issueCertificate(request(), root)
    assert.throws(() => verifyCertificate({ ...cert, name: 'impostor' }), trustErr('BAD_SIGNATURE'))
    assert.throws(
      () => verifyCertificate({ ...cert, labels: { ...cert.labels, gpu: 'a100' } }),
      trustErr('BAD_SIGNATURE'),
    )
    assert.throws(
      () => verifyCertificate({ ...cert, notAfter: cert.notAfter + DAY }),
      trustErr('BAD_SIGNATURE'),
    )
    const sig = Buffer.from(cert.signature)
    sig[0]! ^= 1
    assert.throws(() => verifyCertificate({ ...cert, signature: sig }), trustErr('BAD_SIGNATURE'))
    const rogue = generateKeyPair()
    assert.throws(() => verifyCertificate(issueCertificate(request(), rogue)), trustErr('BAD_SIGNATURE'))
  })

  test('EXPIRED and NOT_YET_VALID at the window edges, with optional skew', () => {
    const cert = issueCertificate(request(), root)
    verifyCertificate(cert, { now: cert.notBefore })
    verifyCertificate(cert, { now: cert.notAfter - 1 })
    assert.throws(() => verifyCertificate(cert, { now: cert.notAfter }), trustErr('EXPIRED'))
    assert.throws(() => verifyCertificate(cert, { now: cert.notBefore - 1 }), trustErr('NOT_YET_VALID'))
    verifyCertificate(cert, { now: cert.notBefore - 1000, clockSkewMs: 1000 })
    assert.throws(
      () => verifyCertificate(cert, { now: cert.notBefore - 1001, clockSkewMs: 1000 }),
      trustErr('NOT_YET_VALID'),
    )
  })

  test('OTHER_FEDERATION: a certificate from another federation', () => {
    const otherRoot = generateKeyPair()
    const foreign = issueCertificate(
      request({ federationId: federationIdFromRootKey(otherRoot.publicKey) }),
      otherRoot,
    )
    assert.throws(() => verifyCertificate(foreign), trustErr('OTHER_FEDERATION'))
  })

  test('MALFORMED: fields no root should have signed', () => {
    const cert = issueCertificate(request(), root)
    const cases: Partial<NodeCertificate>[] = [
      { nodeId: nodeIdFromPublicKey(generateKeyPair().publicKey) },
      { publicKey: Buffer.alloc(31) },
      { version: 2 },
      { name: '' },
      { role: 'leader' as never },
      { addresses: { ipv4: '300.1.1.1' } },
      { addresses: { ipv6: 'not-an-address' } },
      { notAfter: cert.notBefore },
      { serial: -1 },
      { federationId: 'fed_UPPER' },
      { name: 'bad\ud800' },
      { labels: { k: 'v\udc00' } },
      { labels: null as never },
      { addresses: null as never },
    ]
    for (const c of cases) {
      assert.throws(() => verifyCertificate({ ...cert, ...c }), trustErr('MALFORMED'), JSON.stringify(c))
    }
    assert.throws(
      () => issueCertificate(request({ nodeId: 'node_aaaaaaaaaaaaaaaa' }), root),
      trustErr('MALFORMED'),
    )
    assert.throws(() => issueCertificate(request({ notAfter: T0 - 1 }), root), trustErr('MALFORMED'))
  })

  test('REVOKED: the isRevoked hook is consulted only for otherwise valid certificates', () => {
    const cert = issueCertificate(request(), root)
    const seen: number[] = []
    const isRevoked = (c: NodeCertificate) => {
      seen.push(c.serial)
      return c.serial === 42
    }
    assert.throws(() => verifyCertificate(cert, { isRevoked }), trustErr('REVOKED'))
    verifyCertificate(issueCertificate(request({ serial: 43 }), root), { isRevoked })
    assert.deepEqual(seen, [42, 43])
  })

  test('KEY_MISMATCH: the link key must be the certified key', () => {
    const cert = issueCertificate(request(), root)
    assert.throws(() => checkCertificateKey(cert, generateKeyPair().publicKey), trustErr('KEY_MISMATCH'))
    checkCertificateKey(cert, new Uint8Array(node.publicKey))
  })
})

describe('delegated certificates (issuers)', () => {
  const issuerKey = generateKeyPair()
  /** A control-plane node's certificate: root-signed for the control-plane cluster, so an issuer. */
  const issuerOf = (overrides: Partial<CertificateRequest> = {}, signer = root) =>
    issueCertificate(
      request({
        publicKey: issuerKey.publicKey,
        name: 'cp-2',
        cluster: CONTROL_PLANE_CLUSTER,
        serial: 7,
        ...overrides,
      }),
      signer,
    )
  const issuer = issuerOf()

  test('an issuer signs: version 2, its certificate inside, round trip, verifies against the root', () => {
    assert.ok(isIssuerCertificate(issuer))
    const cert = issueDelegatedCertificate(request(), issuerKey, issuer)
    assert.equal(cert.version, 2)
    assert.ok(cert.signer.equals(Buffer.from(issuerKey.publicKey)))
    const back = decodeCertificate(encodeCertificate(cert))
    assert.deepStrictEqual(back, cert)
    assert.deepStrictEqual(back.issuer, issuer)
    verifyCertificate(back)
    checkCertificateKey(back, node.publicKey)
    // A delegated certificate, even for the control-plane cluster, does not make another issuer.
    const cpLeaf = issueDelegatedCertificate(request({ cluster: CONTROL_PLANE_CLUSTER }), issuerKey, issuer)
    assert.equal(isIssuerCertificate(cpLeaf), false)
    assert.throws(() => issueDelegatedCertificate(request(), node, cpLeaf), trustErr('MALFORMED'))
  })

  test("validity ends no later than the issuer's", () => {
    const short = issuerOf({ notAfter: T0 + 3 * DAY })
    const cert = issueDelegatedCertificate(request({ notAfter: T0 + 30 * DAY }), issuerKey, short)
    assert.equal(cert.notAfter, T0 + 3 * DAY)
    verifyCertificate(cert)
    // Hand-built with a longer validity and signed by the issuer: refused as malformed.
    const forged = { ...cert, notAfter: T0 + 30 * DAY }
    assert.throws(() => verifyCertificate(forged), trustErr('MALFORMED'))
  })

  test('only a root-signed control-plane certificate issues', () => {
    const plain = issueCertificate(request({ publicKey: issuerKey.publicKey }), root)
    assert.equal(isIssuerCertificate(plain), false)
    assert.throws(() => issueDelegatedCertificate(request(), issuerKey, plain), trustErr('MALFORMED'))
    assert.throws(() => issueDelegatedCertificate(request(), node, issuer), trustErr('MALFORMED'))
    // A certificate claiming a non-issuer as its issuer, even correctly signed by that node's key.
    const real = issueDelegatedCertificate(request(), issuerKey, issuer)
    assert.throws(() => verifyCertificate({ ...real, issuer: plain }), trustErr('MALFORMED'))
  })

  test('a chain of two is not decoded', () => {
    const leaf = issueDelegatedCertificate(request({ cluster: CONTROL_PLANE_CLUSTER }), issuerKey, issuer)
    const nested = { ...leaf, issuer: leaf }
    assert.throws(
      () => decodeCertificate(encodeCertificate(nested)),
      (e) => e instanceof DecodeError && e.reason === 'invalid-value',
    )
  })

  test('BAD_SIGNATURE: the leaf not signed by the issuer it carries, or the issuer not by the root', () => {
    const cert = issueDelegatedCertificate(request(), issuerKey, issuer)
    const other = generateKeyPair()
    const byOther = issueDelegatedCertificate(request(), other, issuerOf({ publicKey: other.publicKey }))
    assert.throws(
      () => verifyCertificate({ ...cert, signature: byOther.signature }),
      trustErr('BAD_SIGNATURE'),
    )
    const rogueRoot = generateKeyPair()
    const rogueIssuer = issuerOf({}, rogueRoot)
    const viaRogue = issueDelegatedCertificate(request(), issuerKey, rogueIssuer)
    assert.throws(
      () => verifyCertificate(viaRogue),
      (e) => trustErr('BAD_SIGNATURE')(e) && /issuer/.test((e as Error).message),
    )
  })

  test('a certificate book drops a delegated certificate once its issuer is revoked', () => {
    const revocations = new RevocationSet(root.publicKey)
    const book = new CertBook({
      rootPublicKey: root.publicKey,
      federationId: fedId,
      revocations,
      now: () => T0 + DAY,
    })
    const leaf = issueDelegatedCertificate(request(), issuerKey, issuer)
    assert.equal(book.addCert(leaf).ok, true)
    assert.deepStrictEqual(book.get(leaf.nodeId), leaf)
    revocations.add(signRevocation({ nodeId: issuer.nodeId, reason: 'compromised', revokedAt: T0 }, root))
    assert.equal(book.get(leaf.nodeId), undefined)
    assert.deepEqual(book.prune(), [leaf.nodeId])
    assert.equal(book.addCert(leaf).ok, false, 'and refuses it again')
  })

  test("the issuer's validity and revocation count: NOT_YET_VALID, EXPIRED, REVOKED", () => {
    const late = issuerOf({ notBefore: T0 + 2 * DAY })
    const cert = issueDelegatedCertificate(request(), issuerKey, late)
    assert.throws(() => verifyCertificate(cert, { now: T0 + DAY }), trustErr('NOT_YET_VALID'))
    verifyCertificate(cert, { now: T0 + 3 * DAY })
    const good = issueDelegatedCertificate(request(), issuerKey, issuer)
    assert.throws(() => verifyCertificate(good, { now: T0 + 31 * DAY }), trustErr('EXPIRED'))
    const revokedIssuer = (c: NodeCertificate) => c.nodeId === issuer.nodeId
    assert.throws(
      () => verifyCertificate(good, { isRevoked: revokedIssuer }),
      (e) => trustErr('REVOKED')(e) && (e as Error).message.includes(issuer.nodeId),
    )
    const revokedLeaf = (c: NodeCertificate) => c.nodeId === good.nodeId
    assert.throws(() => verifyCertificate(good, { isRevoked: revokedLeaf }), trustErr('REVOKED'))
  })
})
