// Join tokens: what `federation create-cluster` prints and `federation join` takes. A compact JWS/JWT
// (RFC 7515/7519) signed with the federation root key (alg EdDSA, Ed25519), base64url without padding:
//
//   header  {"alg":"EdDSA","typ":"JWT","kid":<signing key fingerprint>[,"crt":<issuer certificate>]}
//   claims  iss (federation id), fed_name, cluster (cluster id), cluster_name, region, capacity, role,
//           iat, nbf, exp (unix seconds), jti (128-bit one-time nonce, base64url; spent through Raft),
//           cp (control-plane endpoints), rfp (root key fingerprint, so a joining node can pin the root)
//
// Or signed by an issuer (a control-plane node whose root-signed certificate names the control-plane cluster,
// see certificate.ts) while the root holder is down: then `crt` carries that certificate (base64url of its
// encoding), kid is the issuer key's fingerprint, rfp still the root's, and exp is no later than the
// issuer certificate's end.
//
// Only EdDSA is accepted; the header never chooses the algorithm. Error codes, by check order:
//   TOKEN_MALFORMED         not 3 parts, bad base64url/UTF-8/JSON, wrong alg or typ, unknown header fields,
//                           a missing or ill-typed claim, a signature that is not 64 bytes, over 8 KiB
//   TOKEN_OTHER_FEDERATION  iss is not the verifying federation's id
//   TOKEN_BAD_SIGNATURE     kid or rfp is not this root's fingerprint (signed by another key), or the
//                           Ed25519 signature does not verify; for an issuer's token, its certificate is not
//                           a valid, unrevoked issuer certificate of this root, or the token outlives it
//   TOKEN_NOT_YET_VALID     now < nbf - skew
//   TOKEN_EXPIRED           now >= exp + skew

import { base64urlDecode, base64urlEncode, DecodeError, utf8Decode, utf8Encode } from '../wire/index.js'
import {
  decodeCertificate,
  encodeCertificate,
  isIssuerFor,
  NODE_ROLES,
  type NodeCertificate,
  type NodeRole,
  verifyIssuerCertificate,
} from './certificate.js'
import { TokenError, TrustError } from './errors.js'
import { CLUSTER_ID_PATTERN, FEDERATION_ID_PATTERN } from './federation.js'
import { fingerprint, type KeyPair, randomBytes, SIGNATURE_BYTES, sign, verify } from './keys.js'

export const MAX_TOKEN_CHARS = 8192
const MAX_CONTROL_PLANE_ENDPOINTS = 16

export interface JoinTokenHeader {
  alg: 'EdDSA'
  typ: 'JWT'
  kid: string
  /** An issuer's token: its certificate (base64url of the encoding). */
  crt?: string
}

export interface JoinTokenClaims {
  iss: string
  fed_name: string
  cluster: string
  cluster_name: string
  region: string
  capacity: number
  role: NodeRole
  iat: number
  nbf: number
  exp: number
  jti: string
  cp: string[]
  rfp: string
}

export interface DecodedJoinToken {
  header: JoinTokenHeader
  claims: JoinTokenClaims
}

export interface VerifyJoinTokenOptions {
  rootPublicKey: Uint8Array
  federationId: string
  /** Unix milliseconds (the same clock as everywhere else; claims are compared in seconds). */
  now: number
  /** Tolerance for disagreeing clocks (default 0). */
  clockSkewSeconds?: number
  /** For an issuer's token: whether the issuer's certificate has been revoked. */
  isRevoked?: (cert: NodeCertificate) => boolean
}

/** A fresh jti: 128 random bits, base64url. */
export function newTokenNonce(): string {
  return base64urlEncode(randomBytes(16))
}

function malformed(why: string, cause?: unknown): TokenError {
  return new TokenError(
    'TOKEN_MALFORMED',
    `join token is malformed: ${why}`,
    cause === undefined ? undefined : { cause },
  )
}

const isString = (v: unknown): v is string => typeof v === 'string'
const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0

/** Why `c` is not a valid claims object, or null. */
function claimsProblem(c: Record<string, unknown>): string | null {
  if (!isString(c.iss) || !FEDERATION_ID_PATTERN.test(c.iss)) return 'iss must be a federation id'
  if (!isString(c.fed_name) || c.fed_name === '') return 'fed_name must be a non-empty string'
  if (!isString(c.cluster) || !CLUSTER_ID_PATTERN.test(c.cluster)) return 'cluster must be a cluster id'
  if (!isString(c.cluster_name) || c.cluster_name === '') return 'cluster_name must be a non-empty string'
  if (!isString(c.region)) return 'region must be a string'
  if (!Number.isSafeInteger(c.capacity) || (c.capacity as number) < 0)
    return 'capacity must be a non-negative integer'
  if (!NODE_ROLES.includes(c.role as NodeRole)) return 'role must be primary, secondary or edge'
  if (!isTime(c.iat) || !isTime(c.nbf) || !isTime(c.exp)) return 'iat, nbf and exp must be unix seconds'
  if (c.exp <= c.nbf) return 'exp must be later than nbf'
  if (!isString(c.jti) || !isNonce(c.jti)) return 'jti must be 16 bytes of base64url'
  if (!Array.isArray(c.cp) || c.cp.length > MAX_CONTROL_PLANE_ENDPOINTS || !c.cp.every(isString)) {
    return `cp must be a list of at most ${MAX_CONTROL_PLANE_ENDPOINTS} strings`
  }
  if (!isString(c.rfp) || !c.rfp.startsWith('SHA256:')) return 'rfp must be a root key fingerprint'
  return null
}

function isNonce(s: string): boolean {
  try {
    return base64urlDecode(s).length === 16
  } catch {
    return false
  }
}

function pick(c: JoinTokenClaims): JoinTokenClaims {
  // A fixed key order keeps the same claims encoding to the same token text.
  const { iss, fed_name, cluster, cluster_name, region, capacity, role, iat, nbf, exp, jti, cp, rfp } = c
  return {
    iss,
    fed_name,
    cluster,
    cluster_name,
    region,
    capacity,
    role,
    iat,
    nbf,
    exp,
    jti,
    cp: [...cp],
    rfp,
  }
}

function segment(value: unknown): string {
  return base64urlEncode(utf8Encode(JSON.stringify(value)))
}

/**
 * Signs a join token with the root key, or — given `issuer`, the certificate of `key` — as that issuer.
 * TOKEN_MALFORMED if the claims are invalid, rfp is not the root's fingerprint (the signing key's, or the one
 * the issuer's certificate chains to is not checked here), or an issuer's token would outlive its certificate.
 */
export function createJoinToken(claims: JoinTokenClaims, key: KeyPair, issuer?: NodeCertificate): string {
  const problem = claimsProblem(claims as unknown as Record<string, unknown>)
  if (problem !== null) throw malformed(problem)
  const kid = fingerprint(key.publicKey)
  const header: JoinTokenHeader = { alg: 'EdDSA', typ: 'JWT', kid }
  if (issuer) {
    if (!isIssuerFor(issuer, key)) {
      throw malformed("the signer's certificate is not a root-signed control-plane certificate for its key")
    }
    if (claims.exp * 1000 > issuer.notAfter)
      throw malformed("the token would outlive its issuer's certificate")
    header.crt = base64urlEncode(encodeCertificate(issuer))
  } else if (claims.rfp !== kid) {
    throw malformed('rfp is not the fingerprint of the signing root key')
  }
  const signingInput = `${segment(header)}.${segment(pick(claims))}`
  const signature = sign(utf8Encode(signingInput), key.secretKey)
  const token = `${signingInput}.${base64urlEncode(signature)}`
  if (token.length > MAX_TOKEN_CHARS) throw malformed(`token would exceed ${MAX_TOKEN_CHARS} characters`)
  return token
}

function parseJsonSegment(seg: string, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(utf8Decode(base64urlDecode(seg)))
  } catch (err) {
    if (err instanceof DecodeError) throw malformed(`${what} is not base64url-encoded UTF-8`, err)
    throw malformed(`${what} is not JSON`, err)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw malformed(`${what} is not a JSON object`)
  return value as Record<string, unknown>
}

interface ParsedToken extends DecodedJoinToken {
  signingInput: string
  signature: Uint8Array
}

function parse(token: unknown): ParsedToken {
  if (typeof token !== 'string') throw malformed('not a string')
  if (token.length > MAX_TOKEN_CHARS) throw malformed(`longer than ${MAX_TOKEN_CHARS} characters`)
  const parts = token.split('.')
  if (parts.length !== 3) throw malformed(`expected 3 dot-separated parts, found ${parts.length}`)
  const [h, p, s] = parts as [string, string, string]
  const header = parseJsonSegment(h, 'header')
  if (header.alg !== 'EdDSA')
    throw malformed(`algorithm ${JSON.stringify(header.alg)} is not accepted (only EdDSA)`)
  if (header.typ !== 'JWT') throw malformed('typ must be "JWT"')
  if (!isString(header.kid)) throw malformed('kid must be a string')
  if (header.crt !== undefined && !isString(header.crt)) throw malformed('crt must be a string')
  if (Object.keys(header).length !== (header.crt === undefined ? 3 : 4)) {
    throw malformed('header has fields other than alg, typ, kid and crt')
  }
  const claims = parseJsonSegment(p, 'claims')
  const problem = claimsProblem(claims)
  if (problem !== null) throw malformed(problem)
  let signature: Uint8Array
  try {
    signature = base64urlDecode(s)
  } catch (err) {
    throw malformed('signature is not base64url', err)
  }
  if (signature.length !== SIGNATURE_BYTES)
    throw malformed(`signature is ${signature.length} bytes, expected ${SIGNATURE_BYTES}`)
  return {
    header: {
      alg: 'EdDSA',
      typ: 'JWT',
      kid: header.kid,
      ...(header.crt !== undefined ? { crt: header.crt } : {}),
    },
    claims: pick(claims as unknown as JoinTokenClaims),
    signingInput: `${h}.${p}`,
    signature,
  }
}

/**
 * Header and claims without checking the signature: for a joining node that does not yet have the root
 * key (it pins `rfp` and checks the control plane against it). TOKEN_MALFORMED on anything unparseable.
 */
export function decodeJoinTokenUnverified(token: string): DecodedJoinToken {
  const { header, claims } = parse(token)
  return { header, claims }
}

/** The claims of a token this federation's root signed and that is valid now; TokenError otherwise. */
export function verifyJoinToken(token: string, opts: VerifyJoinTokenOptions): JoinTokenClaims {
  const t = parse(token)
  const { claims } = t
  if (claims.iss !== opts.federationId) {
    throw new TokenError(
      'TOKEN_OTHER_FEDERATION',
      `join token is for federation ${claims.iss} (${claims.fed_name}), not ${opts.federationId}`,
    )
  }
  const rootFp = fingerprint(opts.rootPublicKey)
  const issuer = t.header.crt === undefined ? null : issuerOf(t, opts)
  const signer = issuer ? issuer.publicKey : opts.rootPublicKey
  if (t.header.kid !== fingerprint(signer) || claims.rfp !== rootFp) {
    throw new TokenError(
      'TOKEN_BAD_SIGNATURE',
      `join token was signed by key ${t.header.kid}, not this federation's root ${rootFp}${issuer ? ` or its issuer ${issuer.nodeId}` : ''}`,
    )
  }
  if (!verify(t.signature, utf8Encode(t.signingInput), signer)) {
    throw new TokenError(
      'TOKEN_BAD_SIGNATURE',
      'join token signature does not verify: it was altered or forged',
    )
  }
  const skew = opts.clockSkewSeconds ?? 0
  const nowSec = Math.floor(opts.now / 1000)
  if (nowSec + skew < claims.nbf) {
    throw new TokenError(
      'TOKEN_NOT_YET_VALID',
      `join token is not valid until ${isoSeconds(claims.nbf)}; check this node's clock`,
    )
  }
  if (nowSec - skew >= claims.exp) {
    throw new TokenError(
      'TOKEN_EXPIRED',
      `join token expired at ${isoSeconds(claims.exp)}; create a new one with create-cluster`,
    )
  }
  return claims
}

/** The certificate an issuer's token carries, if it is a valid, unrevoked issuer's; TOKEN_BAD_SIGNATURE if not. */
function issuerOf(t: ParsedToken, opts: VerifyJoinTokenOptions): NodeCertificate {
  const bad = (why: string, cause?: unknown) =>
    new TokenError(
      'TOKEN_BAD_SIGNATURE',
      `join token's issuer is not trusted: ${why}`,
      cause ? { cause } : undefined,
    )
  let cert: NodeCertificate
  try {
    cert = decodeCertificate(base64urlDecode(t.header.crt!))
  } catch (err) {
    throw bad('its certificate does not decode', err)
  }
  try {
    verifyIssuerCertificate(cert, {
      rootPublicKey: opts.rootPublicKey,
      federationId: opts.federationId,
      now: opts.now,
      clockSkewMs: (opts.clockSkewSeconds ?? 0) * 1000,
      ...(opts.isRevoked ? { isRevoked: opts.isRevoked } : {}),
    })
  } catch (err) {
    if (err instanceof TrustError) throw bad(err.message, err)
    throw err
  }
  if (t.claims.exp * 1000 > cert.notAfter) throw bad("the token outlives the issuer's certificate")
  return cert
}

function isoSeconds(sec: number): string {
  const d = new Date(sec * 1000)
  return Number.isNaN(d.getTime()) ? `${sec}s` : d.toISOString()
}
