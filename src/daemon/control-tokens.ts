// Join tokens for clusters created through the control plane: signed with the federation root key, which
// only the node that ran `federation init` holds, or else as an issuer (a voter whose certificate the root
// signed for the control-plane cluster; token.ts). Checked before anything is written, so a node that can do
// neither refuses create-cluster instead of leaving a cluster no one can join.

import { ApiError } from '../api/errors.js'
import {
  createJoinToken,
  fingerprint,
  isIssuerCertificate,
  type KeyPair,
  loadFederation,
  loadRootKey,
  type NodeCertificate,
  newTokenNonce,
} from '../identity/index.js'

export interface TokenCluster {
  id: string
  name: string
  region: string
  capacity: number
  role: string
}

/** This node as an issuer: its key and its (root-signed, control-plane) certificate. */
export interface TokenIssuer {
  key: KeyPair
  certificate: NodeCertificate
}

export async function mintJoinToken(
  stateDir: string,
  controlPlane: string[],
  issuer?: TokenIssuer,
): Promise<(c: TokenCluster, ttlMs: number) => { token: string; expiresAt: string }> {
  let key: KeyPair
  let cert: NodeCertificate | undefined
  const fed = await loadFederation(stateDir).catch(() => null)
  if (!fed) throw ApiError.conflict('NO_FEDERATION', 'this node has no federation record')
  try {
    key = await loadRootKey(stateDir, fed)
  } catch {
    if (!issuer || !isIssuerCertificate(issuer.certificate)) {
      throw ApiError.conflict(
        'NOT_FEDERATION_ROOT',
        'this node neither holds the federation root key nor is a control-plane voter the root certified; create clusters on such a node, or register one without a token with `federation add-cluster`',
      )
    }
    key = issuer.key
    cert = issuer.certificate
  }
  return (c, ttlMs) => {
    const iat = Math.floor(Date.now() / 1000)
    // An issuer's token ends no later than its certificate.
    const last = cert ? Math.floor(cert.notAfter / 1000) : Number.MAX_SAFE_INTEGER
    const exp = Math.min(last, iat + Math.max(1, Math.floor(ttlMs / 1000)))
    const token = createJoinToken(
      {
        iss: fed.id,
        fed_name: fed.name,
        cluster: c.id,
        cluster_name: c.name,
        region: c.region,
        capacity: c.capacity,
        role: c.role as 'primary' | 'secondary' | 'edge',
        iat,
        nbf: iat,
        exp,
        jti: newTokenNonce(),
        cp: controlPlane,
        rfp: fingerprint(fed.rootPublicKey),
      },
      key,
      cert,
    )
    return { token, expiresAt: new Date(exp * 1000).toISOString() }
  }
}
