// API shapes of the control-plane lifecycle: `federation join`, `node revoke`. Kept apart from types.ts so the
// join and revocation work stays additive; the client re-exports both.

export interface FederationJoinRequest {
  token: string
  /** host:port (default port 7443) or https://host[:port]. */
  control_plane: string
  cluster_name: string
  cluster_type?: 'primary' | 'secondary' | 'edge'
}

export interface FederationJoinResponse {
  node_id: string
  federation: { id: string; name: string }
  cluster: { id: string; name: string; region: string; role: string }
  mesh_ipv4: string
  mesh_ipv6: string
  certificate_expires_at: string
  /** 'running' once the daemon entered the mesh without a restart. */
  mesh: 'running' | 'standalone'
}

export interface RevokeNodeRequest {
  node: string
  reason?: string
}

export interface RevokeNodeResponse {
  node_id: string
  revoked_at: string
  /** Whether the node was in the registry (a never-joined id can still be revoked, pre-emptively). */
  was_registered: boolean
}
