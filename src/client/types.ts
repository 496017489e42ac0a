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
  mesh: {
    state: 'standalone' | 'running'
    ipv4: string | null
    ipv6: string | null
    interface: string | null
  }
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

export interface PeerInfo {
  node_id: string
  name: string | null
  cluster: string | null
  /** Underlay endpoint WireGuard uses for a direct peer; null for a relayed one. */
  endpoint: string | null
  state: 'up' | 'down'
  /** 'direct', or 'relayed' through `via`; 'unreachable' when no path exists. */
  path: 'direct' | 'relayed' | 'unreachable'
  via: string | null
  rtt_ms: number | null
  /** Smallest recent RTT sample of a neighbour's link: what routing prices the link by; null otherwise. */
  base_rtt_ms: number | null
  jitter_ms: number | null
  loss_pct: number | null
  /** How often the link to a neighbour is probed now: the fast interval (in use, watched) or the idle one. */
  probe_interval_ms: number | null
  mesh_ipv4: string | null
  mesh_ipv6: string | null
  wg_public_key: string | null
  last_handshake: string | null
  rx_bytes: number
  tx_bytes: number
  /**
   * Where the bus to this neighbour travels: 'tcp' on a TCP lane beside the peer link, 'link' on the peer
   * link itself (no lane: NAT, firewall, lanes off); null without a peer link.
   */
  bus_lane: 'tcp' | 'link' | null
}

export interface RouteInfo {
  destination: string
  name: string | null
  next_hop: string
  next_hop_name: string | null
  path: string[]
  /** Routing's price of the path: its links' RTTs, raised for loss, plus 5 ms per hop. Not a latency. */
  cost_ms: number
  /** The round trip the path's links add up to (each link's larger reported base RTT); null while unknown. */
  rtt_ms: number | null
  kind: 'direct' | 'relayed'
  addresses: string[]
}

export interface NetworkStatus {
  /** 'standalone' when the node has no certificate yet (it has not joined a federation). */
  state: 'standalone' | 'running'
  reason: string | null
  interface: string | null
  mesh_ipv4: string | null
  mesh_ipv6: string | null
  wg_public_key: string | null
  discovery: unknown
}

export interface RotateKeysResponse {
  public_key: string
  seq: number
}

export interface BusMessage {
  subject: string
  from_node: string
  from_agent: string
  /** utf8 text, or base64 when the payload is not valid UTF-8 (see encoding). */
  data: string
  encoding: 'utf8' | 'base64'
  timestamp: number
}

export interface PublishRequest {
  subject: string
  data?: string
  encoding?: 'utf8' | 'base64'
  priority?: number
  reliable?: boolean
}

export interface BusRequest {
  subject: string
  data?: string
  encoding?: 'utf8' | 'base64'
  timeout_ms?: number
}

/** A federated event as the API shows it (POST /v1/events answers with one, the events stream sends them). */
export interface EventView {
  id: string
  type: string
  scope: 'local' | 'regional' | 'global'
  source_node: string
  source_cluster: string
  source_region: string
  /** ISO 8601, the source's clock. */
  timestamp: string
  data: unknown
}

export interface PublishEventRequest {
  /** Dot-separated parts, e.g. deploy.finished. */
  type: string
  /** local (this cluster, the default), regional (clusters of this region) or global. */
  scope?: 'local' | 'regional' | 'global'
  data?: unknown
  /** Makes a retried publish idempotent: an id seen before is not sent again. */
  id?: string
}

/** An agent as `GET /v1/agents` lists it; labels and capabilities only for agents of the answering node. */
export interface AgentInfo {
  name: string
  type: string
  node: string
  /** Bus address node/name. */
  address: string
  local: boolean
  labels: Record<string, string> | null
  capabilities: string[] | null
  registered_at: string | null
}

export interface AgentSendRequest {
  /** Agent name (resolved across the mesh) or node/agent. */
  to: string
  subject?: string
  data?: string
  encoding?: 'utf8' | 'base64'
}
