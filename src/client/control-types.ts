// What the local API answers about the control plane (Raft + registry), the federation's clusters when they
// come from the replicated registry, and the lifecycle calls `federation join` and `node revoke`. Kept apart
// from types.ts so the control plane's shapes live in one place; re-exported by the client.

export interface ControlVoterInfo {
  node_id: string
  /** The voter's node name from its certificate, when this router knows it. */
  name: string | null
  leader: boolean
}

export interface ControlStatusResponse {
  /** false: this node runs without a control plane (federation.voters empty and not a voter itself). */
  enabled: boolean
  /** This node votes (else it keeps a learner copy of the registry). */
  voter: boolean
  /** 'leader' | 'follower' | 'preCandidate' | 'candidate', or 'learner' on a non-voter. */
  role: string
  term: number
  leader: string | null
  leader_name: string | null
  commit_index: number
  applied_index: number
  /** Last index in this node's log (entries held, committed or not); the newest may still be being written. */
  last_index: number
  /**
   * Last index this node's log holds durably (written and synced): what survives a crash of this node. Both
   * last_index and, on a follower, commit_index may be ahead of it while a write is in flight.
   */
  durable_index: number
  /** Leader first, then by configured priority. */
  voters: ControlVoterInfo[]
  learners: number
}

/** GET /v1/control/registry: what this router's copy of the registry holds (possibly stale on a learner). */
export interface RegistryView {
  /** Index of the last entry applied to this copy; 0 while it knows nothing yet. */
  applied_index: number
  federation: { id: string; name: string } | null
  clusters: number
  nodes: RegistryNodeView[]
  revocations: number
  /** Join-token nonces spent and not yet pruned. */
  spent_nonces: number
}

export interface RegistryNodeView {
  node_id: string
  /** From the node's certificate. */
  name: string | null
  cluster: string
  mesh_ipv4: string
}

/** GET /v1/control/nonces/:jti: whether a join token's nonce (its `jti`) is spent in this router's copy. */
export interface NonceView {
  jti: string
  spent: boolean
  /** The token's expiry as recorded when it was spent. */
  expires_at: string | null
  applied_index: number
}

export interface ClusterView {
  id: string
  name: string
  region: string
  role: string
  capacity: number
  cordoned: boolean
}

export interface ListClustersResponse {
  clusters: ClusterView[]
  /** 'registry' (replicated) or 'local' (this node's clusters.json, no control plane). */
  source: 'registry' | 'local'
  /** True when the control plane could not confirm the read and this is the local copy (maybe stale). */
  stale: boolean
}

export interface AddClusterRequest {
  name: string
  region: string
  capacity?: number
  role?: 'primary' | 'secondary' | 'edge'
}

export interface FederationStatusResponse {
  federation: string | null
  cluster: string | null
  /** Connected: a control-plane leader is known and reachable; Disconnected; Standalone: no control plane. */
  status: 'Connected' | 'Disconnected' | 'Standalone'
  agents: number
  capacity: number
  /** Round trip to the leader through the mesh (0 on the leader itself); null when unknown. */
  latency_ms: number | null
  leader: string | null
  term: number
  /** The control plane's voters from the Raft membership, leader first; empty without a control plane. */
  voters: ControlVoterInfo[]
}

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

/** One network policy of the registry (the guide's NetworkPolicy), as the API shows and takes it. */
export interface PolicyView {
  name: string
  source_clusters: string[]
  destination_clusters: string[]
  source_agents: string[]
  destination_agents: string[]
  policy: 'allow' | 'deny' | 'rate_limit'
  rate_limit_rps?: number
  encrypt: boolean
  max_latency_ms?: number
}

export type ApplyPolicyRequest = Omit<PolicyView, 'source_agents' | 'destination_agents' | 'encrypt'> & {
  source_agents?: string[]
  destination_agents?: string[]
  encrypt?: boolean
}

/** GET /v1/policies: what this router enforces, in order, and the registry's definitions (null: no control plane). */
export interface PolicyListResponse {
  in_force: { name: string; from: 'config' | 'registry' }[]
  registry: PolicyView[] | null
}

/** POST /v1/control/voters/remove and /v1/control/transfer: what was done and the membership after it. */
export interface ReconfigureResponse {
  done: string
  voters: string[]
  leader: string | null
}
