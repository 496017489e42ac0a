// The certificate check of a peer link, as one pure function: bytes (or a held certificate) in, the verified
// certificate or the refusal reason out. A peer is trusted only if its certificate decodes, belongs to this
// federation, is signed by its root, is inside its validity window, is not revoked, and certifies the very
// key the Noise handshake authenticated (otherwise a node could replay another node's certificate).

import {
  checkCertificateKey,
  decodeCertificate,
  type NodeCertificate,
  TrustError,
  type TrustErrorCode,
  verifyCertificate,
} from '../identity/index.js'
import { DecodeError } from '../wire/index.js'
import type { LinkReason } from './errors.js'
import type { TrustOptions } from './types.js'

export type CertificateCheck =
  | { ok: true; certificate: NodeCertificate }
  | { ok: false; reason: LinkReason; error: Error }

/** The link reason for a TrustError code (MALFORMED becomes malformed_certificate, the rest lowercased). */
export function trustReason(code: TrustErrorCode): LinkReason {
  return code === 'MALFORMED' ? 'malformed_certificate' : (code.toLowerCase() as LinkReason)
}

/**
 * Checks a peer's certificate at `now` (unix ms) against the federation and the peer's Noise key. Errors
 * other than DecodeError/TrustError (a throwing isRevoked, a bug) propagate.
 */
export function checkPeerCertificate(
  cert: Uint8Array | NodeCertificate,
  noisePublicKey: Uint8Array,
  trust: TrustOptions,
  now: number,
): CertificateCheck {
  let certificate: NodeCertificate
  try {
    certificate = cert instanceof Uint8Array ? decodeCertificate(cert) : cert
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err
    return { ok: false, reason: 'malformed_certificate', error: err }
  }
  try {
    verifyCertificate(certificate, { ...trust, now })
    checkCertificateKey(certificate, noisePublicKey)
    return { ok: true, certificate }
  } catch (err) {
    if (!(err instanceof TrustError)) throw err
    return { ok: false, reason: trustReason(err.code), error: err }
  }
}
