// The certificates this router knows: its own, its neighbours' (from the link handshake) and every other
// router's (flooded with link-state records). A certificate enters only after it verifies against the
// federation root, is within validity and is not revoked, so everything keyed by node id (link-state
// signatures, WireGuard key announcements, mesh addresses) trusts exactly what the root vouched for.

import {
  decodeCertificate,
  encodeCertificate,
  type NodeCertificate,
  verifyCertificate,
} from './certificate.js'
import { TrustError } from './errors.js'
import type { RevocationSet } from './revocation.js'

export interface CertBookOptions {
  rootPublicKey: Uint8Array
  federationId: string
  revocations?: RevocationSet
  now?: () => number
  clockSkewMs?: number
}

export type CertVerdict =
  | { ok: true; cert: NodeCertificate; fresh: boolean }
  | { ok: false; code: string; message: string }

export class CertBook {
  private readonly byNode = new Map<string, { cert: NodeCertificate; bytes: Buffer }>()
  /** Encoded certificate -> node id, so the same flooded bytes are not verified again. */
  private readonly seen = new Map<string, string>()
  private readonly now: () => number

  constructor(private readonly opts: CertBookOptions) {
    this.now = opts.now ?? Date.now
  }

  /** Verifies and stores encoded certificate bytes; `fresh` is true when this replaced or added an entry. */
  add(bytes: Uint8Array): CertVerdict {
    const seenId = this.seen.get(
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
    )
    const held = seenId === undefined ? undefined : this.get(seenId)
    if (held) return { ok: true, cert: held, fresh: false }
    let cert: NodeCertificate
    try {
      cert = decodeCertificate(bytes)
    } catch (err) {
      return { ok: false, code: 'MALFORMED', message: (err as Error).message }
    }
    return this.addCert(cert, Buffer.from(bytes))
  }

  addCert(cert: NodeCertificate, bytes: Buffer = Buffer.from(encodeCertificate(cert))): CertVerdict {
    try {
      verifyCertificate(cert, {
        rootPublicKey: this.opts.rootPublicKey,
        federationId: this.opts.federationId,
        now: this.now(),
        clockSkewMs: this.opts.clockSkewMs ?? 60_000,
        isRevoked: (c) => this.opts.revocations?.isRevoked(c) ?? false,
      })
    } catch (err) {
      if (err instanceof TrustError) return { ok: false, code: err.code, message: err.message }
      throw err
    }
    const prev = this.byNode.get(cert.nodeId)
    // A newer certificate (renewal) replaces an older one; an older one never replaces a newer one.
    if (prev && prev.cert.notAfter > cert.notAfter) return { ok: true, cert: prev.cert, fresh: false }
    if (prev) this.seen.delete(prev.bytes.toString('base64'))
    this.byNode.set(cert.nodeId, { cert, bytes })
    this.seen.set(bytes.toString('base64'), cert.nodeId)
    return { ok: true, cert, fresh: !prev?.bytes.equals(bytes) }
  }

  get(nodeId: string): NodeCertificate | undefined {
    const e = this.byNode.get(nodeId)
    if (!e) return undefined
    if (this.lapsed(e.cert)) return undefined
    return e.cert
  }

  bytesOf(nodeId: string): Buffer | undefined {
    return this.get(nodeId) ? this.byNode.get(nodeId)?.bytes : undefined
  }

  /** Drops expired and revoked certificates; returns the node ids removed. */
  prune(): string[] {
    const gone: string[] = []
    for (const [id, e] of this.byNode) {
      if (this.lapsed(e.cert)) gone.push(id)
    }
    for (const id of gone) {
      const e = this.byNode.get(id)
      if (e) this.seen.delete(e.bytes.toString('base64'))
      this.byNode.delete(id)
    }
    return gone
  }

  /** Expired since it entered, or revoked — itself or, for a delegated certificate, its issuer. */
  private lapsed(cert: NodeCertificate): boolean {
    const revoked = (c: NodeCertificate) => this.opts.revocations?.isRevoked(c) ?? false
    return cert.notAfter < this.now() || revoked(cert) || (cert.issuer !== undefined && revoked(cert.issuer))
  }

  nodes(): NodeCertificate[] {
    return [...this.byNode.keys()]
      .map((id) => this.get(id))
      .filter((c): c is NodeCertificate => c !== undefined)
  }
}
