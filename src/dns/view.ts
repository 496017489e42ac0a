// What the mesh DNS answers from: a read-only view of the federation that the daemon assembles from the registry
// (nodes, clusters, agents and their placements) and from Raft (the voters and the current leader). The zone never
// reaches into those subsystems itself; it is rebuilt from a new view whenever one of them changes.

export interface MeshNode {
  /** Node name; one DNS label (`<node>.<cluster>.<domain>`). */
  name: string
  cluster: string
  /** Mesh IPv4 (100.64.0.0/10) and IPv6 (the federation's ULA /48), when allocated. */
  ipv4?: string
  ipv6?: string
}

export interface MeshCluster {
  name: string
  region: string
}

/** A control-plane (Raft) voter. Lower priority is preferred, as in the guide's dns.yaml endpoint list. */
export interface ControlVoter {
  node: string
  priority: number
  isLeader: boolean
}

/**
 * An agent (or any service) placed on a node. It appears in SRV records under `_<service>._<proto>.<domain>`,
 * `<name>._<service>._<proto>.<domain>` and `<name>.agents.<domain>`, all pointing at its node, so the records
 * follow the agent when it migrates.
 */
export interface MeshService {
  name: string
  service: string
  proto: string
  node: string
  port: number
  /** SRV priority and weight (RFC 2782); default 0. */
  priority?: number
  weight?: number
}

export interface MeshView {
  nodes: readonly MeshNode[]
  clusters: readonly MeshCluster[]
  control: readonly ControlVoter[]
  agents: readonly MeshService[]
}

export const EMPTY_VIEW: MeshView = { nodes: [], clusters: [], control: [], agents: [] }

export interface ZoneTtls {
  /** Nodes, clusters, PTR, SOA/NS: things that change when a node joins or leaves. */
  node: number
  /** Agent SRV records and control.<domain>: things that move with placements and elections. */
  agent: number
  /** NXDOMAIN/NODATA: the SOA MINIMUM field and the TTL of the SOA in negative answers (RFC 2308). */
  negative: number
}

export interface ZoneOptions {
  /** The apex we are authoritative for (config dns.domain), e.g. mesh.blackroad.local. */
  domain: string
  ttl: ZoneTtls
  /**
   * The NS host. Its label under the domain (default "ns") and the addresses it answers with: the server's own
   * listen addresses, so a resolver following the delegation lands on us.
   */
  nameserver?: { label?: string; addresses: readonly string[] }
  /** SOA RNAME label under the domain (default "hostmaster"). */
  hostmaster?: string
  /** Zones with records written in the config (dns.zones); see static.ts. */
  staticZones?: readonly StaticZone[]
}

/** One static record: answered with its endpoints' addresses, lowest priority first. */
export interface StaticRecord {
  /** Relative to the zone; "@" is the zone's apex. */
  name: string
  type: 'A' | 'AAAA' | 'SRV' | 'CNAME' | 'TXT'
  /** Seconds; unset = the node TTL. */
  ttl?: number
  /** Empty = resolved from the registry, not static. */
  endpoints: readonly { ip: string; priority: number }[]
}

export interface StaticZone {
  name: string
  records: readonly StaticRecord[]
}
