// What `GET /v1/control/registry` and `GET /v1/control/nonces/:jti` show: this router's copy of the registry
// (a voter's or a learner's), answered locally without asking the leader, so an operator (or a test) can see
// what reached this copy — for instance that a join token's nonce was spent through Raft.

import type { NonceView, RegistryView } from '../client/control-types.js'
import { decodeCertificate } from '../identity/index.js'
import { formatIpv4, type RegistryState } from '../protocols/registry/index.js'
import { base64urlDecode, hexEncode } from '../wire/index.js'

export function registryView(state: RegistryState | null, appliedIndex: number): RegistryView {
  const nodes = [...(state?.nodes.values() ?? [])]
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((n) => {
      let name: string | null = null
      try {
        name = decodeCertificate(n.certificate).name
      } catch {
        // A record whose certificate does not decode still shows its id and address.
      }
      return {
        node_id: n.id,
        name,
        cluster: state?.clusters.get(n.cluster)?.name ?? n.cluster,
        mesh_ipv4: formatIpv4(n.ipv4),
      }
    })
  return {
    applied_index: appliedIndex,
    federation: state?.federation ? { id: state.federation.id, name: state.federation.name } : null,
    clusters: state?.clusters.size ?? 0,
    nodes,
    revocations: state?.revocations.size ?? 0,
    spent_nonces: state?.nonces.size ?? 0,
  }
}

/** `jti` is the token's nonce as the token carries it (base64url); the registry keys nonces by hex. */
export function nonceView(state: RegistryState | null, appliedIndex: number, jti: string): NonceView | null {
  let nonce: Uint8Array
  try {
    nonce = base64urlDecode(jti)
  } catch {
    return null
  }
  if (nonce.length === 0) return null
  const expires = state?.nonces.get(hexEncode(nonce))
  return {
    jti,
    spent: expires !== undefined,
    expires_at: expires === undefined ? null : new Date(expires).toISOString(),
    applied_index: appliedIndex,
  }
}
