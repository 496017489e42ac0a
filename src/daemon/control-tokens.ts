// Join tokens for clusters created through the control plane: signed with the federation root key, which
// only the node that ran `federation init` holds. Checked before anything is written, so a node without
// the root key refuses create-cluster instead of leaving a cluster no one can join.

import { ApiError } from '../api/errors.js'
import {
  createJoinToken,
  fingerprint,
  type KeyPair,
  loadFederation,
  loadRootKey,
  newTokenNonce,
} from '../identity/index.js'

export interface TokenCluster {
  id: string
  name: string
  region: string
  capacity: number
  role: string
}

export async function mintJoinToken(
  stateDir: string,
  controlPlane: string[],
): Promise<(c: TokenCluster, ttlMs: number) => { token: string; expiresAt: string }> {
  let root: KeyPair
  const fed = await loadFederation(stateDir).catch(() => null)
  if (!fed) throw ApiError.conflict('NO_FEDERATION', 'this node has no federation record')
  try {
    root = await loadRootKey(stateDir, fed)
  } catch {
    throw ApiError.conflict(
      'NOT_FEDERATION_ROOT',
      'this node does not hold the federation root key; create clusters on the node that ran `federation init`, or register one without a token with `federation add-cluster`',
    )
  }
  return (c, ttlMs) => {
    const iat = Math.floor(Date.now() / 1000)
    const exp = iat + Math.max(1, Math.floor(ttlMs / 1000))
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
      root,
    )
    return { token, expiresAt: new Date(exp * 1000).toISOString() }
  }
}
