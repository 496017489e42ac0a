// Node certificates: the federation's statement that a node key belongs to a named node of a cluster, with
// its mesh addresses and labels, for a time window. Peers exchange them as the first frames on a link and drop
// a peer whose certificate does not verify. A certificate travels as a signed record of kind 'node-cert' whose
// body is (all strings length-prefixed UTF-8, integers varints):
//
//   u8 version | federationId | nodeId | 32-byte node Ed25519 key | name | cluster | region
//   | u8 role (0 primary, 1 secondary, 2 edge) | u8 address flags (1 ipv4, 2 ipv6) | [ipv4] [ipv6]
//   | count + (key, value) labels, keys strictly ascending | notBefore ms | notAfter ms | serial
//   | version 2 only: the issuer's certificate (an inline signed record, version 1)
//
// Version 1 is signed by the federation root key. Version 2 is signed by an *issuer*: a node whose own
// version-1 (root-signed) certificate names the control-plane cluster, and that certificate travels inside the
// body. Any control-plane voter can so certify joining and renewing nodes while the root holder is down; the
// chain is one link long (an issuer's certificate must be root-signed, so a delegated certificate never makes
// an issuer), a delegated certificate expires no later than its issuer's, and it dies with its issuer's
// revocation. The root key itself stays on the node that created the federation.
//
// The decoder accepts only this canonical form, so decode -> encode gives back the signed bytes and
// verification can re-encode the fields instead of carrying the body around.

import { isIPv4, isIPv6 } from 'node:net'
import { type Codec, DecodeError, decodeWith, encodeWith, type Reader, type Writer } from '../wire/index.js'
import { TrustError } from './errors.js'
import { FEDERATION_ID_PATTERN } from './federation.js'
import { type KeyPair, NODE_ID_PATTERN, nodeIdFromPublicKey, PUBLIC_KEY_BYTES } from './keys.js'
import { type SignedRecord, signedRecordCodec, signRecord, verifyRecord } from './records.js'

export const CERTIFICATE_KIND = 'node-cert'
/** Signed by the federation root key. */
export const CERTIFICATE_VERSION = 1
/** Signed by an issuer, whose root-signed certificate it carries. */
export const DELEGATED_CERTIFICATE_VERSION = 2
/** The cluster of the control-plane nodes: a root-signed certificate for it makes its holder an issuer. */
export const CONTROL_PLANE_CLUSTER = 'control-plane'

export type NodeRole = 'primary' | 'secondary' | 'edge'
export const NODE_ROLES: readonly NodeRole[] = ['primary', 'secondary', 'edge']

export interface CertificateFields {
  version: number
  federationId: string
  nodeId: string
  /** The node's Ed25519 key: its identity and its hyperswarm Noise static key. */
  publicKey: Buffer
  name: string
  cluster: string
  region: string
  role: NodeRole
  addresses: { ipv4?: string; ipv6?: string }
  labels: Record<string, string>
  /** Unix milliseconds; valid for notBefore <= now < notAfter. */
  notBefore: number
  notAfter: number
  serial: number
  /** Version 2: the certificate of the issuer that signed this one (version 1, root-signed). */
  issuer?: NodeCertificate
}

export interface NodeCertificate extends CertificateFields {
  /** The key that signed it: the federation root key (version 1) or the issuer's node key (version 2). */
  signer: Buffer
  signature: Buffer
}

/** What an issuer supplies: version is set, and nodeId derived from the key when omitted. */
export type CertificateRequest = Omit<CertificateFields, 'version' | 'nodeId' | 'issuer'> & {
  nodeId?: string
}

/** Whether a certificate lets its holder sign other nodes' certificates (see the header). */
export function isIssuerCertificate(cert: CertificateFields): boolean {
  return cert.version === CERTIFICATE_VERSION && cert.cluster === CONTROL_PLANE_CLUSTER
}

/** Whether `cert` is an issuer certificate for `key`: what signing as an issuer with that key needs. */
export function isIssuerFor(cert: CertificateFields, key: KeyPair): boolean {
  return isIssuerCertificate(cert) && cert.publicKey.equals(Buffer.from(key.publicKey))
}

/**
 * Verifies the certificate an issuer-signed record (token, revocation) carries: an issuer certificate that
 * verifyCertificate accepts under `opts`; TrustError otherwise (BAD_SIGNATURE when it is no issuer's).
 */
export function verifyIssuerCertificate(cert: NodeCertificate, opts: VerifyCertificateOptions): void {
  if (!isIssuerCertificate(cert)) {
    throw new TrustError('BAD_SIGNATURE', `${cert.nodeId} is not a root-signed control-plane node`)
  }
  verifyCertificate(cert, opts)
}

export interface VerifyCertificateOptions {
  rootPublicKey: Uint8Array
  federationId: string
  /** Unix milliseconds. */
  now: number
  /** Tolerance for clocks that disagree with the issuer's, in ms (default 0). */
  clockSkewMs?: number
  isRevoked?: (cert: NodeCertificate) => boolean
}

const MAX = { id: 64, name: 253, cluster: 64, region: 64, ip: 64, labels: 64, labelKey: 63, labelValue: 253 }
// The largest time a JS Date can hold; later values would make timestamps unprintable.
const MAX_DATE_MS = 8.64e15
const ADDR_V4 = 1
const ADDR_V6 = 2

// Lone surrogates have no UTF-8 form: such a string can be neither signed nor sent.
function isText(v: unknown, min: number, maxBytes: number): v is string {
  return (
    typeof v === 'string' &&
    v.length >= min &&
    Buffer.byteLength(v) <= maxBytes &&
    (v as unknown as { isWellFormed(): boolean }).isWellFormed()
  )
}

/** Why fields cannot be in a certificate, or null if they can. */
export function certificateProblem(f: CertificateFields): string | null {
  if (f.version === DELEGATED_CERTIFICATE_VERSION) {
    if (f.issuer === undefined) return 'a delegated certificate must carry its issuer'
    if (!isIssuerCertificate(f.issuer)) {
      return `its signer's certificate (${f.issuer.nodeId}) is not a root-signed ${CONTROL_PLANE_CLUSTER} certificate`
    }
    if (f.issuer.federationId !== f.federationId) return 'its issuer belongs to another federation'
    if (f.notAfter > f.issuer.notAfter) return "it would outlive its issuer's certificate"
    const inner = certificateProblem(f.issuer)
    if (inner !== null) return `its issuer's certificate: ${inner}`
  } else if (f.version !== CERTIFICATE_VERSION) {
    return `unsupported version ${f.version}`
  } else if (f.issuer !== undefined) {
    return 'a root-signed certificate carries no issuer'
  }
  if (!FEDERATION_ID_PATTERN.test(f.federationId)) {
    return `invalid federation id ${JSON.stringify(f.federationId)}`
  }
  if (!(f.publicKey instanceof Uint8Array) || f.publicKey.length !== PUBLIC_KEY_BYTES) {
    return 'public key must be 32 bytes'
  }
  if (!NODE_ID_PATTERN.test(f.nodeId) || f.nodeId !== nodeIdFromPublicKey(f.publicKey)) {
    return `node id ${JSON.stringify(f.nodeId)} does not belong to the certified key`
  }
  if (!isText(f.name, 1, MAX.name)) return `name must be 1..${MAX.name} bytes of text`
  if (!isText(f.cluster, 1, MAX.cluster)) return `cluster must be 1..${MAX.cluster} bytes of text`
  if (!isText(f.region, 1, MAX.region)) return `region must be 1..${MAX.region} bytes of text`
  if (!NODE_ROLES.includes(f.role)) return `invalid role ${JSON.stringify(f.role)}`
  if (typeof f.addresses !== 'object' || f.addresses === null) return 'addresses must be an object'
  const { ipv4, ipv6 } = f.addresses
  if (ipv4 !== undefined && !isIPv4(ipv4)) return `invalid IPv4 address ${ipv4}`
  if (ipv6 !== undefined && !isIPv6(ipv6)) return `invalid IPv6 address ${ipv6}`
  if (typeof f.labels !== 'object' || f.labels === null) return 'labels must be an object'
  const labels = Object.entries(f.labels)
  if (labels.length > MAX.labels) return `more than ${MAX.labels} labels`
  for (const [k, v] of labels) {
    if (!isText(k, 1, MAX.labelKey))
      return `label key ${JSON.stringify(k)} must be 1..${MAX.labelKey} bytes of text`
    if (!isText(v, 0, MAX.labelValue))
      return `label ${JSON.stringify(k)} must be at most ${MAX.labelValue} bytes of text`
  }
  if (!Number.isSafeInteger(f.notBefore) || !Number.isSafeInteger(f.notAfter) || f.notBefore < 0) {
    return 'validity times must be non-negative integers (unix ms)'
  }
  if (f.notAfter <= f.notBefore) return 'notAfter must be later than notBefore'
  if (f.notAfter > MAX_DATE_MS) return 'notAfter is beyond the largest representable date'
  if (!Number.isSafeInteger(f.serial) || f.serial < 0) return 'serial must be a non-negative integer'
  return null
}

const fieldsCodec: Codec<CertificateFields> = {
  encode(w: Writer, f) {
    w.u8(f.version).string(f.federationId).string(f.nodeId).fixed(f.publicKey)
    w.string(f.name).string(f.cluster).string(f.region).u8(NODE_ROLES.indexOf(f.role))
    const { ipv4, ipv6 } = f.addresses
    w.u8((ipv4 !== undefined ? ADDR_V4 : 0) | (ipv6 !== undefined ? ADDR_V6 : 0))
    if (ipv4 !== undefined) w.string(ipv4)
    if (ipv6 !== undefined) w.string(ipv6)
    const keys = Object.keys(f.labels).sort()
    w.varint(keys.length)
    for (const k of keys) w.string(k).string(f.labels[k]!)
    w.varint(f.notBefore).varint(f.notAfter).varint(f.serial)
    if (f.version === DELEGATED_CERTIFICATE_VERSION) signedRecordCodec.encode(w, toRecord(f.issuer!))
  },
  decode(r: Reader) {
    const at = r.offset
    const version = r.u8()
    if (version !== CERTIFICATE_VERSION && version !== DELEGATED_CERTIFICATE_VERSION) {
      throw new DecodeError('unsupported-version', `certificate version ${version} is not supported`, at)
    }
    const federationId = r.string(MAX.id)
    const nodeId = r.string(MAX.id)
    const publicKey = Buffer.from(r.fixed(PUBLIC_KEY_BYTES))
    const name = r.string(MAX.name)
    const cluster = r.string(MAX.cluster)
    const region = r.string(MAX.region)
    const roleAt = r.offset
    const role = NODE_ROLES[r.u8()]
    if (role === undefined) throw new DecodeError('unknown-tag', 'unknown node role', roleAt)
    const flagsAt = r.offset
    const flags = r.u8()
    if (flags & ~(ADDR_V4 | ADDR_V6)) throw new DecodeError('invalid-value', 'unknown address flags', flagsAt)
    const addresses: CertificateFields['addresses'] = {}
    if (flags & ADDR_V4) addresses.ipv4 = r.string(MAX.ip)
    if (flags & ADDR_V6) addresses.ipv6 = r.string(MAX.ip)
    const count = r.count(MAX.labels, 2)
    const entries: [string, string][] = []
    for (let i = 0; i < count; i++) {
      const keyAt = r.offset
      const k = r.string(MAX.labelKey)
      const prev = entries[i - 1]
      if (prev !== undefined && !(prev[0] < k)) {
        throw new DecodeError('non-canonical', 'label keys must be strictly ascending', keyAt)
      }
      entries.push([k, r.string(MAX.labelValue)])
    }
    const notBefore = r.varint()
    const notAfter = r.varint()
    const serial = r.varint()
    let issuer: NodeCertificate | undefined
    if (version === DELEGATED_CERTIFICATE_VERSION) {
      const issuerAt = r.offset
      issuer = fromRecord(signedRecordCodec.decode(r))
      // One link: an issuer's certificate is root-signed, never itself delegated.
      if (issuer.version !== CERTIFICATE_VERSION) {
        throw new DecodeError(
          'invalid-value',
          "a delegated certificate's issuer must be root-signed",
          issuerAt,
        )
      }
    }
    // fromEntries defines own properties, so a key like "__proto__" stays data, not a prototype change.
    const labels = Object.fromEntries(entries) as Record<string, string>
    return {
      version,
      federationId,
      nodeId,
      publicKey,
      name,
      cluster,
      region,
      role,
      addresses,
      labels,
      notBefore,
      notAfter,
      serial,
      ...(issuer ? { issuer } : {}),
    }
  },
}

function encodeBody(f: CertificateFields): Uint8Array {
  return encodeWith(fieldsCodec, f, f.issuer ? 512 : 256)
}

function toRecord(cert: NodeCertificate): SignedRecord {
  return { kind: CERTIFICATE_KIND, body: encodeBody(cert), signer: cert.signer, signature: cert.signature }
}

function fromRecord(rec: SignedRecord): NodeCertificate {
  if (rec.kind !== CERTIFICATE_KIND)
    throw new DecodeError('invalid-value', `expected a node-cert record, got ${rec.kind}`)
  return { ...decodeWith(fieldsCodec, rec.body), signer: rec.signer, signature: rec.signature }
}

function requestFields(
  req: CertificateRequest,
  version: number,
  issuer?: NodeCertificate,
): CertificateFields {
  return {
    version,
    federationId: req.federationId,
    nodeId: req.nodeId ?? nodeIdFromPublicKey(req.publicKey),
    publicKey: Buffer.from(req.publicKey),
    name: req.name,
    cluster: req.cluster,
    region: req.region,
    role: req.role,
    addresses: { ...req.addresses },
    labels: Object.fromEntries(Object.entries(req.labels)),
    notBefore: req.notBefore,
    notAfter: req.notAfter,
    serial: req.serial,
    ...(issuer ? { issuer } : {}),
  }
}

function signFields(fields: CertificateFields, key: KeyPair): NodeCertificate {
  const problem = certificateProblem(fields)
  if (problem !== null) throw new TrustError('MALFORMED', `cannot issue certificate: ${problem}`)
  const rec = signRecord(CERTIFICATE_KIND, encodeBody(fields), key)
  return { ...fields, signer: rec.signer, signature: rec.signature }
}

/** Signs a certificate with the federation root key. Throws TrustError MALFORMED for invalid fields. */
export function issueCertificate(req: CertificateRequest, rootKeyPair: KeyPair): NodeCertificate {
  return signFields(requestFields(req, CERTIFICATE_VERSION), rootKeyPair)
}

/**
 * Signs a certificate as an issuer: `issuerKey` is the node key that `issuerCert` (root-signed, control-plane
 * cluster) certifies. The validity ends no later than the issuer's. Throws TrustError MALFORMED otherwise.
 */
export function issueDelegatedCertificate(
  req: CertificateRequest,
  issuerKey: KeyPair,
  issuerCert: NodeCertificate,
): NodeCertificate {
  if (!isIssuerFor(issuerCert, issuerKey)) {
    throw new TrustError(
      'MALFORMED',
      "cannot issue certificate: the signer's certificate is not a root-signed control-plane certificate for its key",
    )
  }
  const notAfter = Math.min(req.notAfter, issuerCert.notAfter)
  return signFields(requestFields({ ...req, notAfter }, DELEGATED_CERTIFICATE_VERSION, issuerCert), issuerKey)
}

/** Inline codec, for certificates inside larger messages (the link handshake). */
export const certificateCodec: Codec<NodeCertificate> = {
  encode(w, cert) {
    signedRecordCodec.encode(w, toRecord(cert))
  },
  decode(r) {
    return fromRecord(signedRecordCodec.decode(r))
  },
}

export function encodeCertificate(cert: NodeCertificate): Uint8Array {
  return encodeWith(certificateCodec, cert, 512)
}

/** Parses a certificate; DecodeError on malformed bytes. Does not verify it: call verifyCertificate. */
export function decodeCertificate(bytes: Uint8Array): NodeCertificate {
  return decodeWith(certificateCodec, bytes)
}

/**
 * Accepts a certificate only if it is well-formed, of this federation, signed by its root (or by an issuer
 * whose own certificate passes the same checks), inside its validity window and not revoked; otherwise throws
 * TrustError with MALFORMED, OTHER_FEDERATION, BAD_SIGNATURE, NOT_YET_VALID, EXPIRED or REVOKED, checked in
 * that order (an issuer's problem is reported with the issuer named).
 */
export function verifyCertificate(cert: NodeCertificate, opts: VerifyCertificateOptions): void {
  const problem = certificateProblem(cert)
  if (problem !== null) throw new TrustError('MALFORMED', `certificate is malformed: ${problem}`)
  if (cert.issuer) {
    try {
      verifySigned(cert.issuer, opts, opts.rootPublicKey)
    } catch (err) {
      if (!(err instanceof TrustError)) throw err
      throw new TrustError(
        err.code,
        `certificate of ${cert.nodeId} (${cert.name}) has an issuer that is not trusted: ${err.message}`,
        { cause: err },
      )
    }
    verifySigned(cert, opts, cert.issuer.publicKey)
  } else {
    verifySigned(cert, opts, opts.rootPublicKey)
  }
}

function verifySigned(cert: NodeCertificate, opts: VerifyCertificateOptions, signer: Uint8Array): void {
  const who = `certificate of ${cert.nodeId} (${cert.name})`
  if (cert.federationId !== opts.federationId) {
    throw new TrustError(
      'OTHER_FEDERATION',
      `${who} belongs to federation ${cert.federationId}, not ${opts.federationId}`,
    )
  }
  try {
    verifyRecord(toRecord(cert), CERTIFICATE_KIND, signer)
  } catch (err) {
    if (!(err instanceof TrustError)) throw err
    const by = cert.issuer ? `its issuer ${cert.issuer.nodeId}` : 'the federation root key'
    throw new TrustError('BAD_SIGNATURE', `${who} is not validly signed by ${by}`, {
      cause: err,
    })
  }
  const skew = opts.clockSkewMs ?? 0
  if (opts.now + skew < cert.notBefore) {
    throw new TrustError(
      'NOT_YET_VALID',
      `${who} is not valid before ${new Date(cert.notBefore).toISOString()}`,
    )
  }
  if (opts.now - skew >= cert.notAfter) {
    throw new TrustError('EXPIRED', `${who} expired at ${new Date(cert.notAfter).toISOString()}`)
  }
  if (opts.isRevoked?.(cert))
    throw new TrustError('REVOKED', `${who} (serial ${cert.serial}) has been revoked`)
}

/** Binds a link to a certificate: the peer's Noise static key must be the certified node key. */
export function checkCertificateKey(cert: NodeCertificate, noisePublicKey: Uint8Array): void {
  if (!Buffer.from(noisePublicKey).equals(cert.publicKey)) {
    throw new TrustError('KEY_MISMATCH', `peer's link key is not the key certified for ${cert.nodeId}`)
  }
}
