// Property tests for every identity decoder: signed records, node certificates, revocations and join
// tokens. For each: valid values round-trip; arbitrary input and mutated valid encodings give a value or
// the layer's typed error (DecodeError / TokenError) and nothing else; and whatever survives decoding
// still only verifies if it is exactly what was signed.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import {
  type CertificateRequest,
  CONTROL_PLANE_CLUSTER,
  createJoinToken,
  decodeCertificate,
  decodeJoinTokenUnverified,
  decodeRevocation,
  decodeSignedRecord,
  encodeCertificate,
  encodeRevocation,
  encodeSignedRecord,
  federationIdFromRootKey,
  fingerprint,
  generateKeyPair,
  issueCertificate,
  issueDelegatedCertificate,
  type JoinTokenClaims,
  keyPairFromSeed,
  NODE_ROLES,
  nodeIdFromPublicKey,
  type Revocation,
  signRecord,
  signRevocation,
  TokenError,
  TrustError,
  verifyCertificate,
  verifyJoinToken,
  verifyRecord,
  verifyRevocation,
} from '../../src/identity/index.js'
import { base64urlEncode, DecodeError } from '../../src/wire/index.js'

// Full counts run everywhere (CI included); the file stays under 20 s on a shared 2-core machine.
const ROUND_TRIP_RUNS = 1_000
const ARBITRARY_RUNS = 10_000
const MUTATION_RUNS = 10_000

const root = generateKeyPair()
const fedId = federationIdFromRootKey(root.publicKey)

// ---- shared fuzz machinery -------------------------------------------------------------------------

function valueOr<E>(errorClass: abstract new (...a: never[]) => E, fn: () => unknown): unknown {
  try {
    return fn()
  } catch (err) {
    if (err instanceof errorClass) return err
    throw err
  }
}

const arbitraryBytes = fc.oneof(
  fc.uint8Array({ maxLength: 2048, size: 'max' }),
  fc.uint8Array({ maxLength: 64 }),
)

const LARGE_PATTERNS = [
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f], // varint 2^53-1 over a length field
  [0xff, 0xff, 0xff, 0x7f],
  [0x80, 0x80, 0x40], // 1 MiB
  [0xff],
]
type Mutation = { t: 'flip' | 'truncate' | 'large' | 'insert' | 'delete'; at: number; arg: number }
const mutationArb: fc.Arbitrary<Mutation> = fc.record(
  { t: fc.constantFrom('flip', 'truncate', 'large', 'insert', 'delete'), at: fc.nat(), arg: fc.nat(255) },
  { noNullPrototype: true },
)
const mutationsArb = fc.array(mutationArb, { minLength: 1, maxLength: 3 })

function mutate(input: Uint8Array, mutations: Mutation[]): Uint8Array {
  let b = Uint8Array.from(input)
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % b.length
    if (m.t === 'flip' && b.length > 0) b[at]! ^= 1 << (m.arg % 8)
    else if (m.t === 'truncate') b = b.slice(0, at)
    else if (m.t === 'large') {
      const p = LARGE_PATTERNS[m.arg % LARGE_PATTERNS.length]!
      const next = new Uint8Array(Math.max(b.length, at + p.length))
      next.set(b)
      next.set(p, at)
      b = next
    } else if (m.t === 'insert') b = Uint8Array.from([...b.subarray(0, at), m.arg, ...b.subarray(at)])
    else if (m.t === 'delete' && b.length > 0)
      b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1)])
  }
  return b
}

const B64URL_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ '
function mutateText(input: string, mutations: Mutation[]): string {
  let s = input
  for (const m of mutations) {
    const at = s.length === 0 ? 0 : m.at % s.length
    const c = B64URL_CHARS[m.arg % B64URL_CHARS.length]!
    if (m.t === 'flip' || m.t === 'large') s = s.slice(0, at) + c + s.slice(at + 1)
    else if (m.t === 'truncate') s = s.slice(0, at)
    else if (m.t === 'insert') s = s.slice(0, at) + c + s.slice(at)
    else s = s.slice(0, at) + s.slice(at + 1)
  }
  return s
}

// ---- generators of valid values --------------------------------------------------------------------

const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 })
const text = (min: number, max: number) => fc.string({ unit: 'binary', minLength: min, maxLength: max })

const certRequestArb: fc.Arbitrary<CertificateRequest> = fc
  .record(
    {
      seed: seedArb,
      name: text(1, 40),
      cluster: text(1, 16),
      region: text(1, 16),
      role: fc.constantFrom(...NODE_ROLES),
      ipv4: fc.option(fc.ipV4(), { nil: undefined }),
      ipv6: fc.option(fc.ipV6(), { nil: undefined }),
      labels: fc.dictionary(text(1, 15), text(0, 30), { maxKeys: 8, noNullPrototype: true }),
      notBefore: fc.integer({ min: 0, max: 4e15 }),
      span: fc.integer({ min: 1, max: 4e15 }),
      serial: fc.maxSafeNat(),
    },
    { noNullPrototype: true },
  )
  .map((v) => {
    const addresses: CertificateRequest['addresses'] = {}
    if (v.ipv4 !== undefined) addresses.ipv4 = v.ipv4
    if (v.ipv6 !== undefined) addresses.ipv6 = v.ipv6
    return {
      federationId: fedId,
      publicKey: keyPairFromSeed(v.seed).publicKey,
      name: v.name,
      cluster: v.cluster,
      region: v.region,
      role: v.role,
      addresses,
      labels: v.labels,
      notBefore: v.notBefore,
      notAfter: v.notBefore + v.span,
      serial: v.serial,
    }
  })

const certOpts = (at: number) => ({ rootPublicKey: root.publicKey, federationId: fedId, now: at })

const claimsArb: fc.Arbitrary<JoinTokenClaims> = fc
  .record(
    {
      fed_name: text(1, 30),
      cluster: fc.stringMatching(/^cluster_[a-z0-9]{6,10}$/),
      cluster_name: text(1, 30),
      region: text(0, 20),
      capacity: fc.maxSafeNat(),
      role: fc.constantFrom(...NODE_ROLES),
      nbf: fc.integer({ min: 0, max: 2e9 }),
      span: fc.integer({ min: 1, max: 1e9 }),
      jti: fc.uint8Array({ minLength: 16, maxLength: 16 }).map(base64urlEncode),
      cp: fc.array(text(0, 40), { maxLength: 4 }),
    },
    { noNullPrototype: true },
  )
  .map((v) => ({
    iss: fedId,
    fed_name: v.fed_name,
    cluster: v.cluster,
    cluster_name: v.cluster_name,
    region: v.region,
    capacity: v.capacity,
    role: v.role,
    iat: v.nbf,
    nbf: v.nbf,
    exp: v.nbf + v.span,
    jti: v.jti,
    cp: v.cp,
    rfp: fingerprint(root.publicKey),
  }))

// An issuer (a root-signed control-plane certificate) valid over every time the arbitraries produce.
const issuerKey = generateKeyPair()
const issuerCert = issueCertificate(
  {
    federationId: fedId,
    publicKey: issuerKey.publicKey,
    name: 'cp-1',
    cluster: CONTROL_PLANE_CLUSTER,
    region: 'eu',
    role: 'primary',
    addresses: { ipv4: '100.64.0.2' },
    labels: {},
    notBefore: 0,
    notAfter: 8.64e15,
    serial: 1,
  },
  root,
)
const delegate = (r: CertificateRequest) => issueDelegatedCertificate(r, issuerKey, issuerCert)

// A fixed valid sample of each encoding for the mutation tests (varied enough through fc.constantFrom):
// root-signed certificates and certificates signed by the issuer (which carry the issuer's inside).
const sampleCerts = [
  ...fc.sample(certRequestArb, 20).map((r) => encodeCertificate(issueCertificate(r, root))),
  ...fc.sample(certRequestArb, 20).map((r) => encodeCertificate(delegate(r))),
]
const sampleTokens = [
  ...fc.sample(claimsArb, 20).map((c) => createJoinToken(c, root)),
  // Signed by the issuer, its certificate in the header.
  ...fc.sample(claimsArb, 20).map((c) => createJoinToken(c, issuerKey, issuerCert)),
]

// ---- properties --------------------------------------------------------------------------------------

describe('signed record codec properties', () => {
  const recordArb = fc.record(
    {
      kind: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
      body: fc.uint8Array({ maxLength: 300 }),
      seed: seedArb,
    },
    { noNullPrototype: true },
  )

  test('round trip', () => {
    fc.assert(
      fc.property(recordArb, ({ kind, body, seed }) => {
        const kp = keyPairFromSeed(seed)
        const back = decodeSignedRecord(encodeSignedRecord(signRecord(kind, body, kp)))
        assert.equal(back.kind, kind)
        assert.deepEqual(back.body, body)
        verifyRecord(back, kind, kp.publicKey)
      }),
      { numRuns: ROUND_TRIP_RUNS },
    )
  })

  test('arbitrary bytes: a record or a DecodeError', () => {
    fc.assert(
      fc.property(arbitraryBytes, (b) => {
        const rec = valueOr(DecodeError, () => decodeSignedRecord(b))
        if (!(rec instanceof DecodeError)) assert.deepEqual(encodeSignedRecord(rec as never), b)
      }),
      { numRuns: ARBITRARY_RUNS },
    )
  })

  test('mutations: a DecodeError, or a record that verifies only if unchanged', () => {
    fc.assert(
      fc.property(recordArb, mutationsArb, ({ kind, body, seed }, muts) => {
        const kp = keyPairFromSeed(seed)
        const enc = encodeSignedRecord(signRecord(kind, body, kp))
        const mutated = mutate(enc, muts)
        const rec = valueOr(DecodeError, () => decodeSignedRecord(mutated))
        if (rec instanceof DecodeError) return
        const verified = valueOr(TrustError, () => verifyRecord(rec as never, kind, kp.publicKey))
        if (!(verified instanceof TrustError)) assert.deepEqual(mutated, enc)
      }),
      { numRuns: MUTATION_RUNS },
    )
  })
})

describe('certificate codec properties', () => {
  test('round trip, and verification inside the window', () => {
    fc.assert(
      fc.property(certRequestArb, fc.boolean(), (req, delegated) => {
        const cert = delegated ? delegate(req) : issueCertificate(req, root)
        const back = decodeCertificate(encodeCertificate(cert))
        assert.deepStrictEqual(back, cert)
        verifyCertificate(back, certOpts(req.notBefore))
      }),
      { numRuns: ROUND_TRIP_RUNS },
    )
  })

  test('arbitrary bytes: a DecodeError, or a certificate that fails verification', () => {
    fc.assert(
      fc.property(arbitraryBytes, (b) => {
        const cert = valueOr(DecodeError, () => decodeCertificate(b))
        if (cert instanceof DecodeError) return
        assert.throws(() => verifyCertificate(cert as never, certOpts(0)), TrustError)
      }),
      { numRuns: ARBITRARY_RUNS },
    )
  })

  test('mutations: a DecodeError, a TrustError, or exactly the signed certificate', () => {
    fc.assert(
      fc.property(fc.constantFrom(...sampleCerts), mutationsArb, (enc, muts) => {
        const mutated = mutate(enc, muts)
        const cert = valueOr(DecodeError, () => decodeCertificate(mutated))
        if (cert instanceof DecodeError) return
        const c = cert as ReturnType<typeof decodeCertificate>
        const res = valueOr(TrustError, () => verifyCertificate(c, certOpts(c.notBefore)))
        if (!(res instanceof TrustError)) assert.deepEqual(mutated, enc)
      }),
      { numRuns: MUTATION_RUNS },
    )
  })
})

describe('revocation codec properties', () => {
  const revArb = fc
    .record(
      {
        seed: seedArb,
        serial: fc.option(fc.maxSafeNat(), { nil: undefined }),
        reason: text(0, 60),
        revokedAt: fc.maxSafeNat(),
      },
      { noNullPrototype: true },
    )
    .map(({ seed, serial, reason, revokedAt }) => {
      const nodeId = nodeIdFromPublicKey(keyPairFromSeed(seed).publicKey)
      return serial === undefined ? { nodeId, reason, revokedAt } : { nodeId, serial, reason, revokedAt }
    })

  // Root-signed, or signed by the issuer (inside its validity, which covers 0 .. 8.64e15).
  const sign = (rev: Revocation, delegated: boolean) =>
    delegated
      ? signRevocation({ ...rev, revokedAt: rev.revokedAt % 8e15 }, issuerKey, issuerCert)
      : signRevocation(rev, root)

  test('round trip', () => {
    fc.assert(
      fc.property(revArb, fc.boolean(), (rev, delegated) => {
        const signed = sign(rev, delegated)
        const back = decodeRevocation(encodeRevocation(signed))
        assert.deepStrictEqual(back, signed)
        verifyRevocation(back, root.publicKey)
      }),
      { numRuns: ROUND_TRIP_RUNS },
    )
  })

  test('arbitrary bytes: a DecodeError, or a revocation that fails verification', () => {
    fc.assert(
      fc.property(arbitraryBytes, (b) => {
        const rev = valueOr(DecodeError, () => decodeRevocation(b))
        if (!(rev instanceof DecodeError))
          assert.throws(() => verifyRevocation(rev as never, root.publicKey), TrustError)
      }),
      { numRuns: ARBITRARY_RUNS },
    )
  })

  test('mutations: a DecodeError, a TrustError, or exactly the signed revocation', () => {
    const samples = fc.sample(revArb, 40).map((r, i) => encodeRevocation(sign(r, i % 2 === 1)))
    fc.assert(
      fc.property(fc.constantFrom(...samples), mutationsArb, (enc, muts) => {
        const mutated = mutate(enc, muts)
        const rev = valueOr(DecodeError, () => decodeRevocation(mutated))
        if (rev instanceof DecodeError) return
        const res = valueOr(TrustError, () => verifyRevocation(rev as never, root.publicKey))
        if (!(res instanceof TrustError)) assert.deepEqual(mutated, enc)
      }),
      { numRuns: MUTATION_RUNS },
    )
  })
})

describe('join token parsing properties', () => {
  test('round trip', () => {
    fc.assert(
      fc.property(claimsArb, (claims) => {
        const token = createJoinToken(claims, root)
        assert.deepStrictEqual(decodeJoinTokenUnverified(token).claims, claims)
        assert.deepStrictEqual(
          verifyJoinToken(token, {
            rootPublicKey: root.publicKey,
            federationId: fedId,
            now: claims.nbf * 1000,
          }),
          claims,
        )
      }),
      { numRuns: ROUND_TRIP_RUNS },
    )
  })

  test('arbitrary strings and arbitrary three-part tokens: claims or a TokenError', () => {
    const seg = (b: Uint8Array) => base64urlEncode(b)
    const json = (v: unknown) => base64urlEncode(Buffer.from(JSON.stringify(v) ?? 'null'))
    const tokenish = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 2048 }),
      fc
        .tuple(arbitraryBytes, arbitraryBytes, arbitraryBytes)
        .map(([a, b, c]) => `${seg(a)}.${seg(b)}.${seg(c)}`),
      fc
        .tuple(fc.jsonValue(), fc.jsonValue(), fc.uint8Array({ minLength: 64, maxLength: 64 }))
        .map(([h, p, s]) => `${json(h)}.${json(p)}.${seg(s)}`),
      claimsArb.map(
        (c) => `${json({ alg: 'EdDSA', typ: 'JWT', kid: c.rfp })}.${json(c)}.${seg(new Uint8Array(64))}`,
      ),
      claimsArb.map(
        (c) =>
          `${json({ alg: 'EdDSA', typ: 'JWT', kid: c.rfp, crt: base64urlEncode(encodeCertificate(issuerCert)) })}.${json(c)}.${seg(new Uint8Array(64))}`,
      ),
    )
    fc.assert(
      fc.property(tokenish, (token) => {
        const res = valueOr(TokenError, () => decodeJoinTokenUnverified(token))
        if (res instanceof TokenError) return
        // Anything that parses must still fail verification: none of these were signed by the root.
        assert.throws(
          () =>
            verifyJoinToken(token, {
              rootPublicKey: root.publicKey,
              federationId: fedId,
              now: 0,
              clockSkewSeconds: 4e9,
            }),
          TokenError,
        )
      }),
      { numRuns: ARBITRARY_RUNS },
    )
  })

  test('mutated tokens: a TokenError, or exactly the signed token', () => {
    fc.assert(
      fc.property(fc.constantFrom(...sampleTokens), mutationsArb, (token, muts) => {
        const mutated = mutateText(token, muts)
        const opts = { rootPublicKey: root.publicKey, federationId: fedId, now: 0, clockSkewSeconds: 4e9 }
        const res = valueOr(TokenError, () => verifyJoinToken(mutated, opts))
        valueOr(TokenError, () => decodeJoinTokenUnverified(mutated))
        if (!(res instanceof TokenError)) assert.equal(mutated, token)
      }),
      { numRuns: MUTATION_RUNS },
    )
  })
})
