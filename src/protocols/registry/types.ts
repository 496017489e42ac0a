// The registry's vocabulary: the records the control plane keeps (federation, clusters, nodes, spent join
// nonces, revocations, IPv4 allocations, network policies, agents and their placements), the commands Raft
// replicates to change them, the queries reads evaluate, and the stable codes a rejected command carries.
// Names follow the federation guide: role primary/secondary/edge, taints with NoSchedule..., cordon.

export type ClusterRole = 'primary' | 'secondary' | 'edge'
export const CLUSTER_ROLES: readonly ClusterRole[] = ['primary', 'secondary', 'edge']

export type TaintEffect = 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute'
export const TAINT_EFFECTS: readonly TaintEffect[] = ['NoSchedule', 'PreferNoSchedule', 'NoExecute']

export interface Taint {
  readonly key: string
  readonly value: string
  readonly effect: TaintEffect
}

/** Key → value, kept sorted by key with unique keys, so equal label sets encode identically. */
export type Labels = readonly (readonly [string, string])[]

export interface Capacity {
  /** Most agents placed at once. */
  readonly agents: number
  /** Memory the scheduler may fill, MB; 0 = no limit. */
  readonly memoryMb: number
  readonly gpu: number
}

export interface Resources {
  readonly cpuMillis: number
  readonly memoryMb: number
  readonly gpu: number
}

export interface Federation {
  readonly id: string
  readonly name: string
  readonly createdAt: number
}

export interface Cluster {
  readonly id: string
  readonly name: string
  readonly region: string
  readonly role: ClusterRole
  readonly capacity: Capacity
  readonly labels: Labels
  readonly taints: readonly Taint[]
  readonly cordoned: boolean
}

export interface NodeRecord {
  readonly id: string
  readonly cluster: string
  /** The node certificate as issued (src/identity encoding). */
  readonly certificate: Uint8Array
  /** Underlay endpoints the node advertises (host:port). */
  readonly addresses: readonly string[]
  /** Mesh IPv4 in 100.64.0.0/10, as a 32-bit integer; unique across nodes. */
  readonly ipv4: number
  readonly resources: Resources
  readonly joinedAt: number
  readonly lastHeartbeat: number
}

export interface Revocation {
  /** The revoked node id. */
  readonly subject: string
  readonly reason: string
  readonly at: number
}

export type PolicyAction = 'allow' | 'deny' | 'rateLimit'
export const POLICY_ACTIONS: readonly PolicyAction[] = ['allow', 'deny', 'rateLimit']

export interface NetworkPolicy {
  readonly name: string
  /** Cluster names or ids; '*' matches any. */
  readonly sourceClusters: readonly string[]
  readonly destinationClusters: readonly string[]
  /** Agent ids; empty = any agent in the matched clusters. */
  readonly sourceAgents: readonly string[]
  readonly destinationAgents: readonly string[]
  readonly action: PolicyAction
  /** For rateLimit; 0 otherwise. */
  readonly rateLimitRps: number
  readonly encrypt: boolean
  /** 0 = no bound. */
  readonly maxLatencyMs: number
}

export interface Agent {
  readonly id: string
  readonly name: string
  readonly labels: Labels
  readonly requires: Resources
  /** Taint keys the agent tolerates. */
  readonly tolerations: readonly string[]
  /** The opaque spec the supervisor runs (image, command, env), encoded by its owner. */
  readonly spec: Uint8Array
}

export interface Placement {
  readonly agent: string
  readonly cluster: string
  readonly node: string | null
  /** Fencing token: a placement only replaces one with a lower epoch (the scheduler uses its Raft term). */
  readonly epoch: number
  readonly since: number
}

export interface JoiningNode {
  readonly id: string
  readonly cluster: string
  readonly certificate: Uint8Array
  readonly addresses: readonly string[]
  readonly resources: Resources
}

export type RegistryCommand =
  | { readonly type: 'initFederation'; readonly federation: Federation }
  | { readonly type: 'addCluster'; readonly cluster: Cluster }
  /** Replaces a cluster's record (same id). */
  | { readonly type: 'updateCluster'; readonly cluster: Cluster }
  | { readonly type: 'removeCluster'; readonly id: string }
  | { readonly type: 'cordonCluster'; readonly id: string; readonly cordoned: boolean }
  /**
   * Spends the join token's nonce and registers the node in one step, allocating its IPv4: the preferred
   * address if free (the proposer passes the key-derived candidate), else the next free one after it.
   */
  | {
      readonly type: 'joinNode'
      readonly nonce: Uint8Array
      readonly nonceExpiresAt: number
      readonly node: JoiningNode
      readonly preferredIpv4: number
      readonly at: number
    }
  | { readonly type: 'removeNode'; readonly id: string }
  | { readonly type: 'renewCertificate'; readonly id: string; readonly certificate: Uint8Array }
  | { readonly type: 'heartbeat'; readonly id: string; readonly at: number; readonly resources: Resources }
  /** Moves a node to a specific address (operator's choice); never onto one in use. */
  | { readonly type: 'assignIpv4'; readonly id: string; readonly ipv4: number }
  | { readonly type: 'revoke'; readonly revocation: Revocation }
  /** Forgets spent nonces whose tokens expired before `before`: they can no longer be replayed anyway. */
  | { readonly type: 'pruneNonces'; readonly before: number }
  | { readonly type: 'setPolicy'; readonly policy: NetworkPolicy }
  | { readonly type: 'removePolicy'; readonly name: string }
  | { readonly type: 'registerAgent'; readonly agent: Agent }
  | { readonly type: 'removeAgent'; readonly id: string }
  | {
      readonly type: 'place'
      readonly agent: string
      readonly cluster: string
      readonly node: string | null
      readonly epoch: number
      readonly at: number
    }
  | { readonly type: 'unplace'; readonly agent: string; readonly epoch: number }

export type RegistryCommandType = RegistryCommand['type']

/** Why a command was rejected; stable strings for the API, CLI and metrics. */
export type RegistryRejectCode =
  | 'UNDECODABLE'
  | 'INVALID'
  | 'NO_FEDERATION'
  | 'FEDERATION_EXISTS'
  | 'CLUSTER_EXISTS'
  | 'CLUSTER_NAME_TAKEN'
  | 'CLUSTER_NOT_FOUND'
  | 'CLUSTER_NOT_EMPTY'
  | 'CLUSTER_CORDONED'
  | 'NODE_EXISTS'
  | 'NODE_NOT_FOUND'
  | 'NONCE_SPENT'
  | 'NONCE_EXPIRED'
  | 'REVOKED'
  | 'ADDRESS_INVALID'
  | 'ADDRESS_IN_USE'
  | 'POOL_EXHAUSTED'
  | 'POLICY_NOT_FOUND'
  | 'AGENT_EXISTS'
  | 'AGENT_NOT_FOUND'
  | 'CAPACITY_EXCEEDED'
  | 'TAINTED'
  | 'STALE_EPOCH'

export const REJECT_CODES: readonly RegistryRejectCode[] = [
  'UNDECODABLE',
  'INVALID',
  'NO_FEDERATION',
  'FEDERATION_EXISTS',
  'CLUSTER_EXISTS',
  'CLUSTER_NAME_TAKEN',
  'CLUSTER_NOT_FOUND',
  'CLUSTER_NOT_EMPTY',
  'CLUSTER_CORDONED',
  'NODE_EXISTS',
  'NODE_NOT_FOUND',
  'NONCE_SPENT',
  'NONCE_EXPIRED',
  'REVOKED',
  'ADDRESS_INVALID',
  'ADDRESS_IN_USE',
  'POOL_EXHAUSTED',
  'POLICY_NOT_FOUND',
  'AGENT_EXISTS',
  'AGENT_NOT_FOUND',
  'CAPACITY_EXCEEDED',
  'TAINTED',
  'STALE_EPOCH',
]

export type CommandResult =
  /** `ipv4` is the address allocated or assigned (joinNode, assignIpv4), else 0. */
  | { readonly ok: true; readonly ipv4: number }
  | { readonly ok: false; readonly code: RegistryRejectCode; readonly message: string }

export type RegistryQuery =
  | { readonly type: 'federation' }
  | { readonly type: 'cluster'; readonly id: string }
  | { readonly type: 'clusters' }
  | { readonly type: 'node'; readonly id: string }
  /** All nodes, or those of one cluster. */
  | { readonly type: 'nodes'; readonly cluster: string | null }
  | { readonly type: 'nodeByIpv4'; readonly ipv4: number }
  | { readonly type: 'revoked'; readonly subject: string }
  | { readonly type: 'policies' }
  | { readonly type: 'agent'; readonly id: string }
  | { readonly type: 'placement'; readonly agent: string }
  | { readonly type: 'summary' }

export interface RegistrySummary {
  readonly clusters: number
  readonly nodes: number
  readonly agents: number
  readonly placements: number
  readonly policies: number
  readonly revocations: number
  readonly spentNonces: number
}

export type QueryResult =
  | { readonly type: 'federation'; readonly federation: Federation | null }
  | { readonly type: 'cluster'; readonly cluster: Cluster | null }
  | { readonly type: 'clusters'; readonly clusters: readonly Cluster[] }
  | { readonly type: 'node'; readonly node: NodeRecord | null }
  | { readonly type: 'nodes'; readonly nodes: readonly NodeRecord[] }
  | { readonly type: 'revoked'; readonly revocation: Revocation | null }
  | { readonly type: 'policies'; readonly policies: readonly NetworkPolicy[] }
  | { readonly type: 'agent'; readonly agent: Agent | null }
  | { readonly type: 'placement'; readonly placement: Placement | null }
  | { readonly type: 'summary'; readonly summary: RegistrySummary }
  | { readonly type: 'undecodable' }
