// The shapes the local API speaks: what the daemon answers and what the CLI and agents send. Shared by the
// API handlers (src/api, src/daemon) and the typed client, so both sides agree at compile time.

export interface StatusResponse {
  node_id: string
  name: string
  public_key: string
  cluster: { id: string | null; name: string | null; region: string | null; role: string }
  federation: { id: string; name: string } | null
  version: string
  pid: number
  started_at: string
  uptime_seconds: number
  peers: { total: number; up: number }
  /** Capabilities this daemon runs; the CLI uses it to say what is still missing. */
  capabilities: string[]
}

export interface FederationInitRequest {
  name: string
}

export interface FederationInfo {
  id: string
  name: string
  root_fingerprint: string
  created_at: string
}

export interface CreateClusterRequest {
  name: string
  region: string
  capacity: number
  role?: 'primary' | 'secondary' | 'edge'
  /** Token lifetime in seconds; the daemon's federation.join_token_ttl when absent. */
  ttl_seconds?: number
}

export interface CreateClusterResponse {
  cluster: { id: string; name: string; region: string; capacity: number; role: string }
  join_token: string
  expires_at: string
  control_plane: string[]
}

export interface KeysResponse {
  node_id: string
  public_key: string
  fingerprint: string
}

export interface ApiErrorBody {
  error: { code: string; message: string }
}
