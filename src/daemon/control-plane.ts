// The daemon's control plane: runs this router's replica of the Raft registry (src/control) on the bus and
// serves it to the local API, the federation CLI and DNS. Wiring only; the algorithm is in src/protocols/raft,
// the driver and frames in src/control.
//
// Who votes: config `federation.voters` (node ids, the same list on every node). A node with
// `node.control_plane: true` must be listed (with the list empty it is a single-voter control plane of its
// own). Every other node of a federation with voters keeps a learner copy (see src/control/replica.ts).
// A node with neither runs no control plane: the federation commands use its local files (federation-local).
//
// Transport: direct bus messages to agent `_raft` on the destination router, priority 9, best effort. The bus
// does not authenticate an envelope's source beyond the first hop, so a frame that may be relayed is signed
// with the node key and checked against the sender's certificate (CertBook): unknown, expired or revoked
// senders fail. A frame to a neighbour over its own peer link goes unsigned: the link authenticated it.

import type { Logger } from 'pino'
import type { Registry as PromRegistry } from 'prom-client'
import { z } from 'zod'
import { ApiError } from '../api/errors.js'
import type { Route } from '../api/server.js'
import type { BusRouter } from '../bus/index.js'
import type {
  AddClusterRequest,
  ClusterView,
  ControlStatusResponse,
  FederationStatusResponse,
  ListClustersResponse,
} from '../client/control-types.js'
import type { CreateClusterRequest, CreateClusterResponse } from '../client/types.js'
import type { Config } from '../config/index.js'
import { RaftMetrics } from '../control/metrics.js'
import { ControlReplica } from '../control/replica.js'
import { ControlPlaneError } from '../control/types.js'
import { type KeyPair, newClusterId, sign, verify } from '../identity/index.js'
import type { Cluster, CommandResult, RegistryCommand } from '../protocols/registry/index.js'
import { mintJoinToken } from './control-tokens.js'
import type { NetworkCore } from './network.js'
import { nonceView, registryView } from './registry-views.js'

export const RAFT_AGENT = '_raft'
const RAFT_PRIORITY = 9

export interface ControlNodeOptions {
  config: Config
  nodeId: string
  nodeKey: KeyPair
  registry: PromRegistry
  logger: Logger
}

/** Whether this node runs a control-plane replica at all, and the voters it uses. */
export function controlVoters(config: Config, nodeId: string): readonly string[] | null {
  const listed = config.federation.voters
  if (config.node.control_plane) {
    if (listed.length === 0) return [nodeId]
    if (!listed.includes(nodeId)) {
      throw new Error(
        `node.control_plane is true but this node (${nodeId}) is not in federation.voters (${listed.join(', ')})`,
      )
    }
    return listed
  }
  return listed.length > 0 ? listed : null
}

export class ControlNode {
  replica: ControlReplica | null = null
  private net: NetworkCore | null = null
  private offAgent: (() => void) | null = null
  private readonly changeListeners = new Set<() => void>()
  private fed: { id: string; name: string; createdAt: number } | null = null
  /** Bus sends that failed at once (no route, congestion); Raft retransmits. */
  sendFailures = 0

  constructor(private readonly o: ControlNodeOptions) {}

  get enabled(): boolean {
    return this.replica !== null
  }

  /** Starts the replica when config asks for one; `net` is null on a node without a mesh (single voter). */
  async start(
    bus: BusRouter,
    net: NetworkCore | null,
    federation: { id: string; name: string; createdAt: number } | null,
  ): Promise<void> {
    const voters = controlVoters(this.o.config, this.o.nodeId)
    if (voters === null) return
    this.net = net
    this.fed = federation
    const log = this.o.logger
    const cfg = this.o.config.federation.raft
    const self = this.o.nodeId
    const key = this.o.nodeKey
    this.replica = await ControlReplica.open({
      id: self,
      voters,
      stateDir: this.o.config.node.state_dir,
      raft: {
        heartbeatMs: cfg.heartbeat,
        electionMinMs: cfg.election_timeout,
        electionMaxMs: 2 * cfg.election_timeout,
      },
      requestTimeoutMs: cfg.request_timeout,
      signer: { sign: (m) => sign(m, key.secretKey) },
      verify: (from, m, s) => {
        const pk = from === self ? key.publicKey : this.net?.certs.get(from)?.publicKey
        return pk !== undefined && verify(s, m, pk)
      },
      send: (to, bytes) => {
        bus.send({ node: to, agent: RAFT_AGENT }, bytes, { priority: RAFT_PRIORITY }).catch(() => {
          // No route yet, or the link is congested: Raft retransmits what matters.
          this.sendFailures++
        })
      },
      // Over our own link to the node, the link's handshake proves who sends: no signature needed.
      direct: (node) => bus.nextHop(node) === node,
      mayLearn: (node) => this.net?.certs.get(node) !== undefined,
      federation: federation ?? undefined,
      metrics: new RaftMetrics(this.o.registry),
      log,
    })
    this.offAgent = bus.registerAgent(RAFT_AGENT, (env, via) =>
      this.replica?.receive(env.srcNode, env.payload, via === env.srcNode),
    )
    this.replica.onChange(() => {
      for (const l of this.changeListeners) l()
    })
    log.info(
      { voters, voter: voters.includes(self), timing: cfg },
      voters.includes(self) ? 'control plane: voter started' : 'control plane: learner started',
    )
  }

  /** The mesh came up after the replica started (e.g. after `federation init`): frames verify against it now. */
  attachNet(net: NetworkCore): void {
    this.net = net
  }

  /** `federation init` ran after the replica started: write the federation record if the registry has none. */
  async federationCreated(fed: { id: string; name: string; createdAt: number }): Promise<void> {
    this.fed = fed
    await this.replica?.adoptFederation(fed)
  }

  async stop(): Promise<void> {
    this.offAgent?.()
    await this.replica?.close()
  }

  /** Called after applies, snapshot installs and leader changes (DNS follows it). */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener)
    return () => this.changeListeners.delete(listener)
  }

  /** control.<domain>: the voters by name, the leader flagged (the zone orders leader first, then priority). */
  dnsVoters(): { node: string; priority: number; isLeader: boolean }[] {
    const r = this.replica
    if (!r) return []
    const st = r.status()
    const order = controlVoters(this.o.config, this.o.nodeId) ?? []
    const out: { node: string; priority: number; isLeader: boolean }[] = []
    for (const id of st.voters) {
      const name = this.nameOf(id)
      if (name === null) continue
      const i = order.indexOf(id)
      out.push({ node: name, priority: i < 0 ? order.length : i, isLeader: id === st.leader })
    }
    return out
  }

  controlStatus(): ControlStatusResponse {
    const r = this.replica
    if (!r) {
      return {
        enabled: false,
        voter: false,
        role: 'none',
        term: 0,
        leader: null,
        leader_name: null,
        commit_index: 0,
        applied_index: 0,
        last_index: 0,
        voters: [],
        learners: 0,
      }
    }
    const st = r.status()
    const v = r.view()
    return {
      enabled: true,
      voter: st.voter,
      role: st.voter ? v.role : 'learner',
      term: st.term,
      leader: st.leader,
      leader_name: st.leader === null ? null : this.nameOf(st.leader),
      commit_index: st.commitIndex,
      applied_index: st.appliedIndex,
      last_index: v.lastIndex,
      voters: st.voters.map((id) => ({ node_id: id, name: this.nameOf(id), leader: id === st.leader })),
      learners: v.membership.learners.length,
    }
  }

  federationStatus(clusterName: string | null, fallbackCapacity: number): FederationStatusResponse {
    const r = this.replica
    const state = r?.local() ?? null
    const cluster =
      clusterName === null
        ? undefined
        : [...(state?.clusters.values() ?? [])].find((c) => c.name === clusterName)
    let agents = 0
    if (cluster && state) for (const p of state.placements.values()) if (p.cluster === cluster.id) agents++
    const st = r?.status()
    const leader = st?.leader ?? null
    return {
      federation: state?.federation?.name ?? this.fed?.name ?? null,
      cluster: clusterName,
      status: !r
        ? 'Standalone'
        : leader !== null && this.latencyTo(leader) !== null
          ? 'Connected'
          : 'Disconnected',
      agents,
      capacity: cluster?.capacity.agents ?? fallbackCapacity,
      latency_ms: leader === null ? null : this.latencyTo(leader),
      leader,
      term: st?.term ?? 0,
    }
  }

  /** Round trip to `node` as routing measures it (0 for this node), null when it is unreachable. */
  private latencyTo(node: string): number | null {
    if (node === this.o.nodeId) return 0
    const net = this.net
    if (!net) return null
    const m = net.routing.metrics(node)
    if (m?.srttMicros != null) return Math.round(m.srttMicros / 10) / 100
    const route = net.routing.plan.routes.find((x) => x.destination === node)
    return route ? Math.round(route.costMicros / 10) / 100 : null
  }

  private nameOf(id: string): string | null {
    if (id === this.o.nodeId) return this.o.config.node.name
    return this.net?.certs.get(id)?.name ?? null
  }

  // ---- registry writes for the federation commands --------------------------------------------------

  async listClusters(): Promise<ListClustersResponse> {
    const r = this.requireReplica()
    try {
      const q = await r.query({ type: 'clusters' }, { timeoutMs: 3000 })
      if (q.type !== 'clusters') throw new Error(`unexpected answer ${q.type}`)
      return { clusters: q.clusters.map(clusterView), source: 'registry', stale: false }
    } catch (err) {
      if (!(err instanceof ControlPlaneError)) throw err
      // Cut off from the leader: the local copy, marked stale, is better than nothing for a listing.
      const state = r.local()
      const clusters = [...(state?.clusters.values() ?? [])].sort((a, b) => (a.name < b.name ? -1 : 1))
      return { clusters: clusters.map(clusterView), source: 'registry', stale: true }
    }
  }

  async addCluster(req: AddClusterRequest, id = newClusterId()): Promise<ClusterView> {
    const cluster: Cluster = {
      id,
      name: req.name,
      region: req.region,
      role: req.role ?? 'primary',
      capacity: { agents: req.capacity ?? 5000, memoryMb: 0, gpu: 0 },
      labels: [],
      taints: [],
      cordoned: false,
    }
    await this.write({ type: 'addCluster', cluster })
    return clusterView(cluster)
  }

  async removeCluster(name: string): Promise<{ removed: string }> {
    const r = this.requireReplica()
    const q = await this.guard(() => r.query({ type: 'clusters' }))
    const c = q.type === 'clusters' ? q.clusters.find((x) => x.name === name) : undefined
    if (!c) throw new ApiError(404, 'CLUSTER_NOT_FOUND', `no cluster named "${name}" in the registry`)
    await this.write({ type: 'removeCluster', id: c.id })
    return { removed: name }
  }

  /** create-cluster on a control plane: the cluster goes into the registry, the token is signed here. */
  async createCluster(
    req: CreateClusterRequest,
    controlPlane: string[],
    ttlMs: number,
  ): Promise<CreateClusterResponse> {
    const stateDir = this.o.config.node.state_dir
    const mint = await mintJoinToken(stateDir, controlPlane)
    const view = await this.addCluster(req)
    const token = mint(
      { ...view, capacity: req.capacity },
      req.ttl_seconds !== undefined ? req.ttl_seconds * 1000 : ttlMs,
    )
    return {
      cluster: { id: view.id, name: view.name, region: view.region, capacity: req.capacity, role: view.role },
      join_token: token.token,
      expires_at: token.expiresAt,
      control_plane: controlPlane,
    }
  }

  /** Commits one registry command; refusals and control-plane failures become API errors with a reason. */
  async write(command: RegistryCommand): Promise<CommandResult> {
    const r = this.requireReplica()
    const res = await this.guard(() => r.propose(command))
    if (!res.ok) {
      const status =
        res.code === 'CLUSTER_NOT_FOUND' || res.code === 'POLICY_NOT_FOUND' ? 404 : res.code === 'INVALID' ? 400 : 409
      throw new ApiError(status, res.code, res.message)
    }
    return res
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (err instanceof ControlPlaneError) {
        const status = err.code === 'TIMEOUT' ? 504 : err.code === 'TOO_LARGE' ? 413 : 503
        throw new ApiError(status, err.code, err.message)
      }
      throw err
    }
  }

  private requireReplica(): ControlReplica {
    if (!this.replica) {
      throw ApiError.conflict(
        'NO_CONTROL_PLANE',
        'this node runs no control plane (set federation.voters, or node.control_plane on a voter)',
      )
    }
    return this.replica
  }

  routes(local: { listClusters(): Promise<ListClustersResponse> }): Route<unknown>[] {
    const addBody = z.strictObject({
      name: z.string().min(1).max(63),
      region: z.string().min(1).max(63),
      capacity: z.number().int().positive().max(10_000_000).optional(),
      role: z.enum(['primary', 'secondary', 'edge']).optional(),
    })
    return [
      { method: 'GET', path: '/v1/control/status', handler: () => this.controlStatus() },
      {
        method: 'GET',
        path: '/v1/control/registry',
        handler: () => {
          const r = this.requireReplica()
          return registryView(r.local(), r.status().appliedIndex)
        },
      },
      {
        method: 'GET',
        path: '/v1/control/nonces/:jti',
        handler: ({ params }) => {
          const r = this.requireReplica()
          const view = nonceView(r.local(), r.status().appliedIndex, params.jti ?? '')
          if (!view) throw ApiError.invalid("not a join token nonce (the token's jti, base64url)")
          return view
        },
      },
      {
        method: 'GET',
        path: '/v1/federation/status',
        handler: () =>
          this.federationStatus(
            this.o.config.cluster.name ?? null,
            this.o.config.cluster.resources.max_agents,
          ),
      },
      {
        method: 'GET',
        path: '/v1/federation/clusters',
        handler: () => (this.replica ? this.listClusters() : local.listClusters()),
      },
      {
        method: 'POST',
        path: '/v1/federation/clusters/add',
        body: addBody,
        handler: ({ body }) => this.addCluster(body as AddClusterRequest),
      } as Route<unknown>,
      {
        method: 'DELETE',
        path: '/v1/federation/clusters/:name',
        handler: ({ params }) => this.removeCluster(params.name ?? ''),
      },
    ]
  }
}

function clusterView(c: Cluster): ClusterView {
  return {
    id: c.id,
    name: c.name,
    region: c.region,
    role: c.role,
    capacity: c.capacity.agents,
    cordoned: c.cordoned,
  }
}
