// The daemon's control plane: runs this router's replica of the Raft registry (src/control) on the bus and
// serves it to the local API, the federation CLI and DNS. Wiring only; the algorithm is in src/protocols/raft,
// the driver and frames in src/control.
//
// Who votes (controlVoters): the bootstrap voters come from config `federation.voters` (node ids, the same
// list on every node: clusters set up by hand), else from what `federation join` learned from the control
// plane (join.json), else — on a control-plane node that ran `federation init` — the node alone. After that
// the membership lives in the Raft log. Every node of such a federation that is not a voter keeps a learner
// copy (see src/control/replica.ts); a control-plane node among them asks to vote and is promoted once it has
// caught up, if its certificate puts it in the control-plane cluster. A control-plane node that has neither
// founded nor joined a federation runs nothing yet: it starts on `federation init` (as the single founding
// voter) or `federation join` (as a learner of the voters it learned), never as a cluster of its own that a
// join would then split. A node with none of this runs no control plane: the federation commands use its
// local files (federation-local).
//
// Transport: direct bus messages to agent `_raft` on the destination router, priority 9, best effort. The bus
// does not authenticate an envelope's source beyond the first hop, so a frame that may be relayed is signed
// with the node key and checked against the sender's certificate (CertBook): unknown, expired or revoked
// senders fail. A frame to a neighbour over its own peer link goes unsigned: the link authenticated it.

import type { Logger } from 'pino'
import type { Registry as PromRegistry } from 'prom-client'
import { ApiError } from '../api/errors.js'
import type { Route } from '../api/server.js'
import type { BusRouter } from '../bus/index.js'
import type {
  AddClusterRequest,
  ClusterView,
  ControlStatusResponse,
  ControlVoterInfo,
  FederationStatusResponse,
  ListClustersResponse,
} from '../client/control-types.js'
import type { CreateClusterRequest, CreateClusterResponse } from '../client/types.js'
import type { Config } from '../config/index.js'
import { z } from '../config/zod.js'
import { RaftMetrics } from '../control/metrics.js'
import type { ControlReplicaOptions } from '../control/replica.js'
import { ControlReplica } from '../control/replica.js'
import { ControlPlaneError } from '../control/types.js'
import { type KeyPair, loadRootKey, newClusterId, sign, verify } from '../identity/index.js'
import type { Cluster, CommandResult, RegistryCommand } from '../protocols/registry/index.js'
import { CONTROL_PLANE_CLUSTER, readJoinHints } from './control-node.js'
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

/** How this node takes part in the control plane: the voters a fresh log starts from, and whether it asks to vote. */
export interface ControlRole {
  readonly voters: readonly string[]
  /** A control-plane node that is not a bootstrap voter: it asks the leader to promote it. */
  readonly wantsVote: boolean
}

/**
 * Whether this node runs a control-plane replica, and how. `learned`: the voters the control plane named when
 * this node joined (join.json; empty when it did not join one with a Raft control plane). `founder`: this node
 * holds the federation's root key (it ran `federation init`).
 */
export function controlVoters(
  config: Config,
  nodeId: string,
  learned: readonly string[] = [],
  founder = false,
): ControlRole | null {
  const cp = config.node.control_plane
  const listed = config.federation.voters
  const voters = listed.length > 0 ? listed : learned
  if (voters.length > 0) return { voters, wantsVote: cp && !voters.includes(nodeId) }
  if (cp && founder) return { voters: [nodeId], wantsVote: false }
  return null
}

type FederationRecord = NonNullable<ControlReplicaOptions['federation']>

export class ControlNode {
  replica: ControlReplica | null = null
  private net: NetworkCore | null = null
  private watched: NetworkCore | null = null
  private bus: BusRouter | null = null
  private role: ControlRole | null = null
  private offAgent: (() => void) | null = null
  private readonly changeListeners = new Set<() => void>()
  private readonly startListeners = new Set<(replica: ControlReplica) => void>()
  private fed: FederationRecord | null = null
  /** A membership change removing a revoked node is in flight. */
  private pruning = false
  /** Bus sends that failed at once (no route, congestion); Raft retransmits. */
  sendFailures = 0

  constructor(private readonly o: ControlNodeOptions) {}

  get enabled(): boolean {
    return this.replica !== null
  }

  /**
   * Starts the replica when this node has a part in a control plane (see controlVoters); else it waits for
   * `federation init` or `federation join`. `net` is null until the mesh is up (attachNet).
   */
  async start(bus: BusRouter, net: NetworkCore | null, federation: FederationRecord | null): Promise<void> {
    this.bus = bus
    this.net = net
    if (net) this.watchLinks(net)
    this.fed = federation
    const stateDir = this.o.config.node.state_dir
    const learned = (await readJoinHints(stateDir)).voters
    const founder =
      federation !== null &&
      (await loadRootKey(stateDir).then(
        () => true,
        () => false,
      ))
    const role = controlVoters(this.o.config, this.o.nodeId, learned, founder)
    if (role !== null) await this.open(role)
    else if (this.o.config.node.control_plane) {
      this.o.logger.info(
        'control plane: not started yet (this node starts one on `federation init`, or joins one on `federation join`)',
      )
    }
  }

  /** Called with the replica when it opens (at start, or later on init or join). */
  onStart(listener: (replica: ControlReplica) => void): void {
    this.startListeners.add(listener)
    if (this.replica) listener(this.replica)
  }

  private async open(role: ControlRole): Promise<void> {
    const bus = this.bus
    if (bus === null || this.replica !== null) return
    const { voters, wantsVote } = role
    this.role = role
    const federation = this.fed
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
      // The root signed this node into the control-plane cluster (a token for it, or the root holder itself):
      // a node's own config cannot make it a voter, and an edge node's compromise cannot reach the quorum.
      mayVote: (node) => this.net?.certs.get(node)?.cluster === CONTROL_PLANE_CLUSTER,
      wantsVote,
      federation: federation ?? undefined,
      metrics: new RaftMetrics(this.o.registry),
      log,
    })
    this.offAgent = bus.registerAgent(RAFT_AGENT, (env, via) =>
      this.replica?.receive(env.srcNode, env.payload, via === env.srcNode),
    )
    this.replica.onChange(() => {
      this.pruneRevoked()
      for (const l of this.changeListeners) l()
    })
    const voter = voters.includes(self)
    log.info(
      { voters, voter, wants_vote: wantsVote, timing: cfg },
      voter
        ? 'control plane: voter started'
        : wantsVote
          ? 'control plane: learner started (asks to vote)'
          : 'control plane: learner started',
    )
    for (const l of this.startListeners) l(this.replica)
    for (const l of this.changeListeners) l()
  }

  /**
   * The leader takes revoked nodes out of the Raft membership (one change at a time), so a revoked voter
   * stops counting toward the quorum and a revoked learner stops receiving the log. Runs on every registry
   * change; a new leader finishes what an old one left.
   */
  private pruneRevoked(): void {
    const r = this.replica
    if (r === null || this.pruning) return
    const v = r.view()
    if (v.role !== 'leader') return
    const st = r.local()
    if (!st || st.revocations.size === 0) return
    const m = v.membership
    const victim = [...m.voters, ...m.learners].find(
      (n) => n !== this.o.nodeId && st.revocations.has(n) && !(m.voters.length === 1 && m.voters[0] === n),
    )
    if (victim === undefined) return
    this.pruning = true
    r.reconfigure({ type: 'changeMembership', change: { type: 'remove', node: victim } })
      .then((res) => {
        if (res.ok)
          this.o.logger.warn({ node: victim }, 'control plane: removed a revoked node from the membership')
      })
      .catch(() => undefined)
      .finally(() => {
        this.pruning = false
        // The next one, if any (a change pending or refused is retried the same way, twice a second at most).
        setTimeout(() => this.pruneRevoked(), 500).unref()
      })
  }

  /** The mesh came up after the replica started (e.g. after `federation init`): frames verify against it now. */
  attachNet(net: NetworkCore): void {
    this.net = net
    this.watchLinks(net)
  }

  /** A peer link declared dead by the mesh's probes tells Raft its leader may be gone (peerUnreachable). */
  private watchLinks(net: NetworkCore): void {
    if (this.watched === net) return
    this.watched = net
    net.on('link-down', (peer) => this.replica?.peerUnreachable(peer))
  }

  /**
   * `federation init` ran: a running replica writes the federation record if the registry has none; a
   * control-plane node without one founds the control plane now, as its single voter.
   */
  async federationCreated(fed: FederationRecord): Promise<void> {
    this.fed = fed
    if (this.replica) {
      await this.replica.adoptFederation(fed)
      return
    }
    const role = controlVoters(this.o.config, this.o.nodeId, [], true)
    if (role !== null) await this.open(role)
  }

  /**
   * `federation join` ran and the control plane named its voters: keep a learner copy of that control plane
   * (asking to vote on a control-plane node). A replica already running is left alone.
   */
  async joined(voters: readonly string[], fed: FederationRecord | null): Promise<void> {
    if (this.replica) return
    if (fed) this.fed = fed
    const role = controlVoters(this.o.config, this.o.nodeId, voters, false)
    if (role !== null) await this.open(role)
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
    const order = this.role?.voters ?? []
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
        durable_index: 0,
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
      durable_index: v.durableMatch(),
      voters: this.voterViews(),
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
      voters: this.voterViews(),
    }
  }

  /** The voters of the Raft membership in force, leader first, named when this router knows them. */
  private voterViews(): ControlVoterInfo[] {
    const st = this.replica?.status()
    if (!st) return []
    return st.voters.map((id) => ({ node_id: id, name: this.nameOf(id), leader: id === st.leader }))
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

  /**
   * create-cluster on a control plane: the cluster goes into the registry, the token is signed here. The
   * control-plane cluster exists from `federation init` on: asked for by name, it is not created again but
   * gets a token, and the node that joins with it may become a voter (see mayVote).
   */
  async createCluster(
    req: CreateClusterRequest,
    controlPlane: string[],
    ttlMs: number,
  ): Promise<CreateClusterResponse> {
    const stateDir = this.o.config.node.state_dir
    const own = this.net?.certificate
    const mint = await mintJoinToken(
      stateDir,
      controlPlane,
      own ? { key: this.o.nodeKey, certificate: own } : undefined,
    )
    const existing = req.name === CONTROL_PLANE_CLUSTER ? await this.findCluster(req.name) : null
    const view = existing ?? (await this.addCluster(req))
    const capacity = existing ? existing.capacity : req.capacity
    const token = mint({ ...view, capacity }, req.ttl_seconds !== undefined ? req.ttl_seconds * 1000 : ttlMs)
    return {
      cluster: { id: view.id, name: view.name, region: view.region, capacity, role: view.role },
      join_token: token.token,
      expires_at: token.expiresAt,
      control_plane: controlPlane,
    }
  }

  private async findCluster(name: string): Promise<ClusterView | null> {
    const r = this.requireReplica()
    const q = await this.guard(() => r.query({ type: 'clusters' }))
    const c = q.type === 'clusters' ? q.clusters.find((x) => x.name === name) : undefined
    return c ? clusterView(c) : null
  }

  /**
   * Removes a voter (or learner) from the Raft membership, or hands leadership to another voter. Runs on the
   * leader; elsewhere the answer is 409 NOT_LEADER naming it (the operator repeats the command there).
   */
  async reconfigure(
    req: Parameters<ControlReplica['reconfigure']>[0],
  ): Promise<{ done: string; voters: string[]; leader: string | null }> {
    const r = this.requireReplica()
    const res = await this.guard(() => r.reconfigure(req))
    if (!res.ok) {
      if (res.code === 'NOT_LEADER') {
        const leader = res.leader ?? null
        const name = leader ? (this.nameOf(leader) ?? leader) : null
        throw new ApiError(
          409,
          'NOT_LEADER',
          name
            ? `membership changes run on the leader: repeat this on ${name} (${leader})`
            : 'no leader is known now',
        )
      }
      throw new ApiError(
        res.code === 'TIMEOUT' ? 504 : 409,
        res.code,
        'message' in res ? String(res.message) : res.code,
      )
    }
    const st = r.status()
    const done =
      req.type === 'transferLeadership'
        ? `leadership handed to ${req.to}`
        : `${req.change.node} removed from the membership`
    return { done, voters: [...st.voters], leader: st.leader }
  }

  /** Commits one registry command; refusals and control-plane failures become API errors with a reason. */
  async write(command: RegistryCommand): Promise<CommandResult> {
    const r = this.requireReplica()
    const res = await this.guard(() => r.propose(command))
    if (!res.ok) {
      const status =
        res.code === 'CLUSTER_NOT_FOUND' || res.code === 'POLICY_NOT_FOUND'
          ? 404
          : res.code === 'INVALID'
            ? 400
            : 409
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
        method: 'POST',
        path: '/v1/control/voters/remove',
        body: z.strictObject({ node: z.string().min(1).max(128) }),
        handler: ({ body }) =>
          this.reconfigure({
            type: 'changeMembership',
            change: { type: 'remove', node: (body as { node: string }).node },
          }),
      } as Route<unknown>,
      {
        method: 'POST',
        path: '/v1/control/transfer',
        body: z.strictObject({ to: z.string().min(1).max(128) }),
        handler: ({ body }) =>
          this.reconfigure({ type: 'transferLeadership', to: (body as { to: string }).to }),
      } as Route<unknown>,
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
