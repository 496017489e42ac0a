// Tests for join tokens: the compact JWT shape, and one distinct TokenError code for each way a token
// can be wrong (tampered payload or signature, expired, not yet valid, other federation, malformed).

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  CONTROL_PLANE_CLUSTER,
  createJoinToken,
  decodeJoinTokenUnverified,
  encodeCertificate,
  federationIdFromRootKey,
  fingerprint,
  generateKeyPair,
  issueCertificate,
  type JoinTokenClaims,
  type KeyPair,
  newTokenNonce,
  sign,
  TokenError,
  verifyJoinToken,
} from '../../src/identity/index.js'
import { base64urlDecode, base64urlEncode } from '../../src/wire/index.js'

const root = generateKeyPair()
const fedId = federationIdFromRootKey(root.publicKey)
const IAT = 1_750_000_000

function claims(overrides: Partial<JoinTokenClaims> = {}, key: KeyPair = root): JoinTokenClaims {
  return {
    iss: federationIdFromRootKey(key.publicKey),
    fed_name: 'blackroad-global',
    cluster: 'cluster_abc123',
    cluster_name: 'us-west',
    region: 'us-west-2',
    capacity: 5000,
    role: 'primary',
    iat: IAT,
    nbf: IAT,
    exp: IAT + 3600,
    jti: newTokenNonce(),
    cp: ['https://control.blackroad.io'],
    rfp: fingerprint(key.publicKey),
    ...overrides,
  }
}

const opts = { rootPublicKey: root.publicKey, federationId: fedId, now: (IAT + 60) * 1000 }

function tokenErr(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof TokenError, `expected TokenError, got ${String(err)}`)
    assert.equal(err.code, code)
    return true
  }
}

/** Re-signs arbitrary header and payload JSON with `key`, to build tokens our creator would refuse. */
function forge(header: unknown, payload: unknown, key: KeyPair = root): string {
  const seg = (v: unknown) => base64urlEncode(Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)))
  const input = `${seg(header)}.${seg(payload)}`
  return `${input}.${base64urlEncode(sign(Buffer.from(input), key.secretKey))}`
}

const goodHeader = { alg: 'EdDSA', typ: 'JWT', kid: fingerprint(root.publicKey) }

describe('join tokens', () => {
  test('shape: three base64url parts, EdDSA header with the root fingerprint as kid', () => {
    const c = claims()
    const token = createJoinToken(c, root)
    assert.ok(token.startsWith('eyJhbGc'))
    const parts = token.split('.')
    assert.equal(parts.length, 3)
    for (const p of parts) assert.match(p, /^[A-Za-z0-9_-]+$/)
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString()) as Record<string, unknown>
    assert.deepEqual(header, { alg: 'EdDSA', typ: 'JWT', kid: fingerprint(root.publicKey) })
    assert.equal(Buffer.from(parts[2]!, 'base64url').length, 64)
    assert.deepEqual(decodeJoinTokenUnverified(token), { header, claims: c })
    assert.deepEqual(verifyJoinToken(token, opts), c)
  })

  test('nonces are 128-bit and unique', () => {
    const a = newTokenNonce()
    assert.equal(base64urlDecode(a).length, 16)
    assert.notEqual(a, newTokenNonce())
  })

  test('TOKEN_BAD_SIGNATURE: tampered payload', () => {
    const [h, , s] = createJoinToken(claims(), root).split('.')
    const payload = base64urlEncode(Buffer.from(JSON.stringify(claims({ capacity: 999_999 }))))
    assert.throws(() => verifyJoinToken(`${h}.${payload}.${s}`, opts), tokenErr('TOKEN_BAD_SIGNATURE'))
  })

  test('TOKEN_BAD_SIGNATURE: tampered signature', () => {
    const [h, p, s] = createJoinToken(claims(), root).split('.')
    const sig = Buffer.from(base64urlDecode(s!))
    sig[5]! ^= 4
    assert.throws(
      () => verifyJoinToken(`${h}.${p}.${base64urlEncode(sig)}`, opts),
      tokenErr('TOKEN_BAD_SIGNATURE'),
    )
  })

  test('TOKEN_BAD_SIGNATURE: signed by another key claiming this federation (kid, rfp or neither changed)', () => {
    const rogue = generateKeyPair()
    const c = claims()
    assert.throws(() => verifyJoinToken(forge(goodHeader, c, rogue), opts), tokenErr('TOKEN_BAD_SIGNATURE'))
    const rogueKid = { ...goodHeader, kid: fingerprint(rogue.publicKey) }
    assert.throws(() => verifyJoinToken(forge(rogueKid, c, rogue), opts), tokenErr('TOKEN_BAD_SIGNATURE'))
    const rogueRfp = { ...c, rfp: fingerprint(rogue.publicKey) }
    assert.throws(
      () => verifyJoinToken(forge(goodHeader, rogueRfp, root), opts),
      tokenErr('TOKEN_BAD_SIGNATURE'),
    )
  })

  test('TOKEN_EXPIRED at exp, and within skew it still passes', () => {
    const token = createJoinToken(claims(), root)
    verifyJoinToken(token, { ...opts, now: (IAT + 3599) * 1000 + 999 })
    assert.throws(
      () => verifyJoinToken(token, { ...opts, now: (IAT + 3600) * 1000 }),
      tokenErr('TOKEN_EXPIRED'),
    )
    verifyJoinToken(token, { ...opts, now: (IAT + 3600) * 1000, clockSkewSeconds: 30 })
  })

  test('TOKEN_NOT_YET_VALID before nbf', () => {
    const token = createJoinToken(claims({ nbf: IAT + 600 }), root)
    assert.throws(() => verifyJoinToken(token, opts), tokenErr('TOKEN_NOT_YET_VALID'))
    verifyJoinToken(token, { ...opts, now: (IAT + 600) * 1000 })
  })

  test('TOKEN_OTHER_FEDERATION for a token of another federation', () => {
    const other = generateKeyPair()
    const token = createJoinToken(claims({}, other), other)
    assert.throws(() => verifyJoinToken(token, opts), tokenErr('TOKEN_OTHER_FEDERATION'))
  })

  test('TOKEN_MALFORMED: structure, encoding, JSON, algorithm, claims', () => {
    const good = createJoinToken(claims(), root)
    const [h, p, s] = good.split('.') as [string, string, string]
    const cases: Record<string, string> = {
      'two parts': `${h}.${p}`,
      'four parts': `${good}.x`,
      empty: '',
      'bad base64 in header': `${h}!.${p}.${s}`,
      'padded base64': `${h}=.${p}.${s}`,
      'bad base64 in signature': `${h}.${p}.${s.slice(0, -1)}*`,
      'short signature': `${h}.${p}.${s.slice(0, 40)}`,
      'header not JSON': `${base64urlEncode(Buffer.from('{"alg":'))}.${p}.${s}`,
      'payload not JSON': `${h}.${base64urlEncode(Buffer.from('not json'))}.${s}`,
      'payload JSON array': `${h}.${base64urlEncode(Buffer.from('[1,2]'))}.${s}`,
      'payload invalid UTF-8': `${h}.${base64urlEncode(Buffer.from([0x7b, 0xff, 0x7d]))}.${s}`,
      'alg none': forge({ ...goodHeader, alg: 'none' }, claims()),
      'alg HS256': forge({ ...goodHeader, alg: 'HS256' }, claims()),
      'typ missing': forge({ alg: 'EdDSA', kid: goodHeader.kid }, claims()),
      'extra header field': forge({ ...goodHeader, crit: ['exp'] }, claims()),
      'missing claim': forge(goodHeader, { ...claims(), jti: undefined }),
      'string capacity': forge(goodHeader, { ...claims(), capacity: '5000' }),
      'fractional exp': forge(goodHeader, claims({ exp: IAT + 0.5 })),
      'exp before nbf': forge(goodHeader, claims({ exp: IAT - 1 })),
      'short jti': forge(goodHeader, claims({ jti: 'abc' })),
      'bad role': forge(goodHeader, { ...claims(), role: 'king' }),
      'cp not strings': forge(goodHeader, { ...claims(), cp: [1] }),
      'too long': `${h}.${p}.${s}${'A'.repeat(9000)}`,
    }
    for (const [name, token] of Object.entries(cases)) {
      assert.throws(() => verifyJoinToken(token, opts), tokenErr('TOKEN_MALFORMED'), name)
      assert.throws(() => decodeJoinTokenUnverified(token), tokenErr('TOKEN_MALFORMED'), name)
    }
  })

  test('each code has its own human message', () => {
    const messages = new Map<string, string>()
    const record = (fn: () => unknown) => {
      try {
        fn()
      } catch (err) {
        assert.ok(err instanceof TokenError)
        messages.set(err.code, err.message)
      }
    }
    const token = createJoinToken(claims(), root)
    record(() => verifyJoinToken('x.y', opts))
    record(() => verifyJoinToken(token, { ...opts, now: 0 }))
    record(() => verifyJoinToken(token, { ...opts, now: (IAT + 7200) * 1000 }))
    record(() => verifyJoinToken(token, { ...opts, federationId: 'fed_aaaaaaaaaaaaaaaa' }))
    record(() => verifyJoinToken(forge(goodHeader, claims(), generateKeyPair()), opts))
    assert.equal(messages.size, 5)
    assert.equal(new Set(messages.values()).size, 5)
  })

  test('createJoinToken refuses claims it could not verify later', () => {
    assert.throws(
      () => createJoinToken(claims({ rfp: fingerprint(generateKeyPair().publicKey) }), root),
      tokenErr('TOKEN_MALFORMED'),
    )
    assert.throws(
      () => createJoinToken(claims({ cluster: 'not-a-cluster' }), root),
      tokenErr('TOKEN_MALFORMED'),
    )
  })
})

describe('join tokens signed by an issuer', () => {
  const issuerKey = generateKeyPair()
  const certOf = (key: KeyPair, cluster: string, notAfterSec = IAT + 86_400, signer = root) =>
    issueCertificate(
      {
        federationId: fedId,
        publicKey: key.publicKey,
        name: 'cp-2',
        cluster,
        region: 'r',
        role: 'primary',
        addresses: {},
        labels: {},
        notBefore: (IAT - 60) * 1000,
        notAfter: notAfterSec * 1000,
        serial: 9,
      },
      signer,
    )
  const issuer = certOf(issuerKey, CONTROL_PLANE_CLUSTER)

  test('carries the issuer certificate, pins the root, and verifies against the root', () => {
    const token = createJoinToken(claims(), issuerKey, issuer)
    const { header } = decodeJoinTokenUnverified(token)
    assert.equal(header.kid, fingerprint(issuerKey.publicKey))
    assert.deepEqual(base64urlDecode(header.crt!), encodeCertificate(issuer))
    assert.deepEqual(verifyJoinToken(token, opts).jti, decodeJoinTokenUnverified(token).claims.jti)
  })

  test('refused: a non-issuer, another key, a rogue root, a revoked issuer, outliving the issuer', () => {
    const plainKey = generateKeyPair()
    const plain = certOf(plainKey, 'edge')
    assert.throws(() => createJoinToken(claims(), plainKey, plain), tokenErr('TOKEN_MALFORMED'))
    assert.throws(() => createJoinToken(claims(), plainKey, issuer), tokenErr('TOKEN_MALFORMED'))
    assert.throws(
      () => createJoinToken(claims({ exp: IAT + 2 * 86_400 }), issuerKey, issuer),
      tokenErr('TOKEN_MALFORMED'),
    )
    // A non-issuer's certificate in the header, signed by that node: hand-built, refused.
    const good = createJoinToken(claims(), issuerKey, issuer)
    const [h, p] = good.split('.') as [string, string]
    const header = JSON.parse(Buffer.from(base64urlDecode(h)).toString()) as Record<string, string>
    const payload = JSON.parse(Buffer.from(base64urlDecode(p)).toString()) as unknown
    const withPlain = forge(
      { ...header, kid: fingerprint(plainKey.publicKey), crt: base64urlEncode(encodeCertificate(plain)) },
      payload,
      plainKey,
    )
    assert.throws(() => verifyJoinToken(withPlain, opts), tokenErr('TOKEN_BAD_SIGNATURE'))
    // The issuer's certificate but another key's signature.
    assert.throws(
      () => verifyJoinToken(forge(header, payload, plainKey), opts),
      tokenErr('TOKEN_BAD_SIGNATURE'),
    )
    // An issuer certified by a rogue root that claims this federation.
    const rogue = certOf(issuerKey, CONTROL_PLANE_CLUSTER, IAT + 86_400, generateKeyPair())
    const viaRogue = forge({ ...header, crt: base64urlEncode(encodeCertificate(rogue)) }, payload, issuerKey)
    assert.throws(() => verifyJoinToken(viaRogue, opts), tokenErr('TOKEN_BAD_SIGNATURE'))
    // A revoked issuer's tokens die with it; an expired issuer's are refused too.
    assert.throws(
      () => verifyJoinToken(good, { ...opts, isRevoked: (c) => c.nodeId === issuer.nodeId }),
      tokenErr('TOKEN_BAD_SIGNATURE'),
    )
    const short = certOf(issuerKey, CONTROL_PLANE_CLUSTER, IAT + 600)
    const outliving = forge({ ...header, crt: base64urlEncode(encodeCertificate(short)) }, payload, issuerKey)
    assert.throws(() => verifyJoinToken(outliving, opts), tokenErr('TOKEN_BAD_SIGNATURE'))
    // An unknown header field is still malformed.
    assert.throws(
      () => verifyJoinToken(forge({ ...header, x: 1 }, payload, issuerKey), opts),
      tokenErr('TOKEN_MALFORMED'),
    )
  })
})
