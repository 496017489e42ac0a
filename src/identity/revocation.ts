// Revocations: the federation's statement that a node certificate (one serial) or every certificate of a node
// (no serial) must no longer be accepted. They are registry entries replicated through Raft and enforced by
// every router when it verifies a peer. Signed record of kind 'revocation' whose body is:
//
//   u8 version | string nodeId | bool hasSerial | [varint serial] | string reason | varint revokedAt (ms)
//   | version 2 only: the issuer's certificate (an inline node certificate, root-signed)
//
// Version 1 is signed by the federation root key; version 2 by an issuer (a control-plane node whose
// root-signed certificate names the control-plane cluster, see certificate.ts), so `node revoke` works on any
// voter while the root holder is down. An issuer's revocation counts if its certificate was valid when it
// revoked (revokedAt) and is not itself revoked when the revocation arrives.

import {
  arrayCodec,
  type Codec,
  DecodeError,
  decodeWith,
  encodeWith,
  type Reader,
  type Writer,
} from '../wire/index.js'
import {
  CERTIFICATE_VERSION,
  certificateCodec,
  isIssuerFor,
  type NodeCertificate,
  verifyIssuerCertificate,
} from './certificate.js'
import { TrustError } from './errors.js'
import { type KeyPair, NODE_ID_PATTERN } from './keys.js'
import { signedRecordCodec, signRecord, verifyRecord } from './records.js'

export const REVOCATION_KIND = 'revocation'
/** Signed by the root key. */
export const REVOCATION_VERSION = 1
/** Signed by an issuer, whose certificate it carries. */
export const DELEGATED_REVOCATION_VERSION = 2
export const MAX_REVOCATION_REASON = 256
/** Cap for one encoded list; a federation revoking more than this at once has bigger problems. */
export const MAX_REVOCATIONS = 100_000

export interface Revocation {
  nodeId: string
  /** The revoked certificate's serial; absent means every certificate of the node. */
  serial?: number
  reason: string
  /** Unix milliseconds. */
  revokedAt: number
  /** Version 2: the certificate of the issuer that signed it. */
  issuer?: NodeCertificate
}

export interface SignedRevocation extends Revocation {
  signer: Buffer
  signature: Buffer
}

const bodyCodec: Codec<Revocation> = {
  encode(w: Writer, v) {
    w.u8(v.issuer ? DELEGATED_REVOCATION_VERSION : REVOCATION_VERSION)
      .string(v.nodeId)
      .bool(v.serial !== undefined)
    if (v.serial !== undefined) w.varint(v.serial)
    w.string(v.reason).varint(v.revokedAt)
    if (v.issuer) certificateCodec.encode(w, v.issuer)
  },
  decode(r: Reader) {
    const at = r.offset
    const version = r.u8()
    if (version !== REVOCATION_VERSION && version !== DELEGATED_REVOCATION_VERSION) {
      throw new DecodeError('unsupported-version', `revocation version ${version} is not supported`, at)
    }
    const idAt = r.offset
    const nodeId = r.string(64)
    if (!NODE_ID_PATTERN.test(nodeId))
      throw new DecodeError('invalid-value', 'invalid node id in revocation', idAt)
    const rev: Revocation = { nodeId, reason: '', revokedAt: 0 }
    if (r.bool()) rev.serial = r.varint()
    rev.reason = r.string(MAX_REVOCATION_REASON)
    rev.revokedAt = r.varint()
    if (version === DELEGATED_REVOCATION_VERSION) {
      const issuerAt = r.offset
      rev.issuer = certificateCodec.decode(r)
      if (rev.issuer.version !== CERTIFICATE_VERSION) {
        throw new DecodeError('invalid-value', "a revocation's issuer must be root-signed", issuerAt)
      }
    }
    return rev
  },
}

function body(rev: Revocation): Uint8Array {
  return encodeWith(bodyCodec, rev, (rev.issuer ? 512 : 64) + rev.reason.length * 3)
}

function plain(rev: Revocation): Revocation {
  const out: Revocation = { nodeId: rev.nodeId, reason: rev.reason, revokedAt: rev.revokedAt }
  if (rev.serial !== undefined) out.serial = rev.serial
  if (rev.issuer !== undefined) out.issuer = rev.issuer
  return out
}

/**
 * Signs a revocation with the root key, or — given `issuer`, the certificate of `key` — as that issuer.
 * Throws TypeError for fields that have no valid encoding or a certificate that is not this key's issuer one.
 */
export function signRevocation(rev: Revocation, key: KeyPair, issuer?: NodeCertificate): SignedRevocation {
  if (!NODE_ID_PATTERN.test(rev.nodeId)) throw new TypeError(`invalid node id ${JSON.stringify(rev.nodeId)}`)
  if (Buffer.byteLength(rev.reason) > MAX_REVOCATION_REASON) throw new TypeError('revocation reason too long')
  if (issuer && !isIssuerFor(issuer, key)) {
    throw new TypeError("the signer's certificate is not a root-signed control-plane certificate for its key")
  }
  const fields = plain({ ...rev, issuer })
  const rec = signRecord(REVOCATION_KIND, body(fields), key)
  return { ...fields, signer: rec.signer, signature: rec.signature }
}

/**
 * Throws TrustError BAD_SIGNATURE unless the revocation is validly signed by `rootPublicKey`, or by an issuer
 * whose root-signed control-plane certificate it carries, valid at revokedAt and not revoked (`isRevoked`).
 */
export function verifyRevocation(
  rev: SignedRevocation,
  rootPublicKey: Uint8Array,
  isRevoked?: (cert: NodeCertificate) => boolean,
): void {
  const issuer = rev.issuer
  try {
    if (issuer) {
      verifyIssuerCertificate(issuer, {
        rootPublicKey,
        federationId: issuer.federationId,
        now: rev.revokedAt,
        ...(isRevoked ? { isRevoked } : {}),
      })
    }
    verifyRecord(
      { kind: REVOCATION_KIND, body: body(rev), signer: rev.signer, signature: rev.signature },
      REVOCATION_KIND,
      issuer ? issuer.publicKey : rootPublicKey,
    )
  } catch (err) {
    if (!(err instanceof TrustError)) throw err
    const by = issuer
      ? `an issuer of the federation (${issuer.nodeId}: ${err.message})`
      : 'the federation root'
    throw new TrustError('BAD_SIGNATURE', `revocation of ${rev.nodeId} is not validly signed by ${by}`, {
      cause: err,
    })
  }
}

export const revocationCodec: Codec<SignedRevocation> = {
  encode(w, rev) {
    signedRecordCodec.encode(w, {
      kind: REVOCATION_KIND,
      body: body(rev),
      signer: rev.signer,
      signature: rev.signature,
    })
  },
  decode(r) {
    const at = r.offset
    const rec = signedRecordCodec.decode(r)
    if (rec.kind !== REVOCATION_KIND)
      throw new DecodeError('invalid-value', `expected a revocation record, got ${rec.kind}`, at)
    return { ...decodeWith(bodyCodec, rec.body), signer: rec.signer, signature: rec.signature }
  },
}

export const revocationListCodec: Codec<SignedRevocation[]> = arrayCodec(revocationCodec, MAX_REVOCATIONS)

export function encodeRevocation(rev: SignedRevocation): Uint8Array {
  return encodeWith(revocationCodec, rev, 256)
}

export function decodeRevocation(bytes: Uint8Array): SignedRevocation {
  return decodeWith(revocationCodec, bytes)
}

interface NodeEntry {
  all: boolean
  serials: Set<number>
}

/** The revocations a router enforces. Only those signed by the root, or by an issuer not revoked here, get in. */
export class RevocationSet {
  private readonly byNode = new Map<string, NodeEntry>()
  private readonly records: SignedRevocation[] = []

  constructor(private readonly rootPublicKey: Uint8Array) {}

  /** Verifies and adds; returns false if an identical revocation was already present. TrustError if unsigned. */
  add(rev: SignedRevocation): boolean {
    verifyRevocation(rev, this.rootPublicKey, (c) => this.isRevoked(c))
    let entry = this.byNode.get(rev.nodeId)
    if (entry === undefined) {
      entry = { all: false, serials: new Set() }
      this.byNode.set(rev.nodeId, entry)
    }
    if (rev.serial === undefined) {
      if (entry.all) return false
      entry.all = true
    } else {
      if (entry.serials.has(rev.serial)) return false
      entry.serials.add(rev.serial)
    }
    this.records.push(rev)
    return true
  }

  isRevoked(cert: { nodeId: string; serial: number }): boolean {
    const entry = this.byNode.get(cert.nodeId)
    return entry !== undefined && (entry.all || entry.serials.has(cert.serial))
  }

  get size(): number {
    return this.records.length
  }

  /** Every accepted revocation, in the order added (for snapshots and anti-entropy). */
  entries(): readonly SignedRevocation[] {
    return this.records
  }
}
