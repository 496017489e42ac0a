// The composition root: builds every subsystem from the config, wires them together, starts them in order
// and stops them in reverse. It implements no layer itself; each subsystem lives in its own folder of src/.

import { promises as fs } from 'node:fs'
import path from 'node:path'
import type { Logger } from 'pino'
import { STREAM_PATH } from '../agents/frames.js'
import { AgentsNode } from '../agents/node.js'
import { ApiError } from '../api/errors.js'
import { buildRoutes } from '../api/routes.js'
import { controlRoutes } from '../api/routes-control.js'
import { ApiServer } from '../api/server.js'
import type {
  FederationJoinRequest,
  FederationJoinResponse,
  RevokeNodeRequest,
  RevokeNodeResponse,
} from '../client/control-types.js'
import type {
  KeysResponse,
  NetworkStatus,
  PeerInfo,
  RotateKeysResponse,
  RouteInfo,
  StatusResponse,
} from '../client/types.js'
import type { Config } from '../config/index.js'
import { fingerprint, type KeyPair, loadOrCreateKey, nodeIdFromPublicKey } from '../identity/index.js'
import { createMetrics, type DaemonMetrics, MetricsServer } from '../metrics/index.js'
import { type BusyPoller, chooseBusyPoll, readHostFacts, startBusyPoll } from '../os/busy-poll.js'
import { nativeAddon } from '../os/native.js'
import { VERSION } from '../version.js'
import { BusNode } from './bus-node.js'
import { ControlNode } from './control-node.js'
import { ControlNode as RaftControl } from './control-plane.js'
import { DnsNode } from './dns-node.js'
import { EventsNode, streamDropCounter } from './events-node.js'
import { LocalFederation } from './federation-local.js'
import { HeapTrimmer } from './heap-trim.js'
import { NetworkCore } from './network.js'
import { peerViews, routeViews } from './network-views.js'
import { PolicyNode } from './policy-node.js'
import { policyRoutes } from './policy-routes.js'
import { loadTrust } from './trust.js'

/**
 * How often the idle heap trimmer checks. The first check that finds the loop idle collects (start-up's garbage:
 * config parsing, compiled-and-dropped code, the join's floods, and the young generation they grew) and later
 * ones only after the heap grew 8 MiB or the young generation grew again, so a check is one read of V8's heap
 * statistics. Checks every 2 s let an idle daemon trim within seconds of going quiet; collections stay at least
 * TRIM_SPACING_MS apart.
 */
const TRIM_CHECK_MS = 2_000
const TRIM_SPACING_MS = 10_000

/** What this build runs; `blackroad status` shows it and the CLI names what a command still waits for. */
export const CAPABILITIES = [
  'identity',
  'config',
  'api',
  'metrics',
  'local-federation',
  'network',
  'bus',
  'dns',
  'policies',
  'events',
  'control-plane',
] as const

export interface DaemonOptions {
  config: Config
  configPath: string
  logger: Logger
}

export class Daemon {
  readonly config: Config
  readonly logger: Logger
  readonly metrics: DaemonMetrics
  private nodeKey: KeyPair | null = null
  private nodeId = ''
  private federation: LocalFederation
  private fed: { id: string; name: string } | null = null
  private net: NetworkCore | null = null
  private busNode: BusNode | null = null
  private policyNode: PolicyNode | null = null
  private busyPoll: BusyPoller | null = null
  private eventsNode: EventsNode | null = null
  private dnsNode: DnsNode | null = null
  private agentsNode: AgentsNode | null = null
  private raftControl: RaftControl | null = null
  private networkReason: string | null = null
  private control: ControlNode | null = null
  private startedAt = 0
  /** Undo steps for what start() created, run in reverse by stop(). */
  private readonly cleanups: Array<{ what: string; run: () => Promise<void> }> = []

  constructor(opts: DaemonOptions) {
    this.config = opts.config
    this.logger = opts.logger
    this.metrics = createMetrics()
    this.federation = new LocalFederation(
      this.config.node.state_dir,
      this.config.federation.control_plane,
      this.config.federation.join_token_ttl,
    )
  }

  async start(): Promise<void> {
    this.startedAt = Date.now()
    const stateDir = this.config.node.state_dir
    await fs.mkdir(stateDir, { recursive: true, mode: 0o700 })
    await fs.chmod(stateDir, 0o700)

    this.nodeKey = await loadOrCreateKey(path.join(stateDir, 'node.key'))
    this.nodeId = nodeIdFromPublicKey(this.nodeKey.publicKey)
    this.metrics.info.set(
      { version: VERSION, node_id: this.nodeId, cluster: this.config.cluster.name ?? '' },
      1,
    )
    this.metrics.clustersTotal.set((await this.federation.clusters()).length)
    const fed = await this.federation.current()
    this.fed = fed ? { id: fed.id, name: fed.name } : null
    this.logger.info({ node_id: this.nodeId, state_dir: stateDir }, 'node identity loaded')

    const api = new ApiServer({
      socketPath: this.config.api.socket,
      mode: this.config.api.mode,
      group: this.config.api.group,
      maxBodyBytes: this.config.api.max_body_bytes,
      requestTimeoutMs: this.config.api.request_timeout,
      logger: this.logger.child({ subsystem: 'api' }),
      invalidRequests: this.metrics.apiInvalidRequests,
      requests: this.metrics.apiRequests,
    })
    const policyNode = new PolicyNode(this.config, this.nodeId, this.metrics.registry)
    this.policyNode = policyNode
    const streamDrops = streamDropCounter(this.metrics.registry)
    const busLog = this.logger.child({ subsystem: 'bus' })
    const busNode = new BusNode(this.nodeId, this.metrics.registry, busLog, policyNode.point.hook, () =>
      streamDrops.inc({ stream: 'bus' }),
    )
    this.busNode = busNode
    this.cleanups.push({ what: 'bus', run: async () => busNode.close() })
    const eventsNode = new EventsNode(
      busNode.bus,
      this.config,
      this.nodeId,
      this.metrics.registry,
      busLog,
      streamDrops,
    )
    this.eventsNode = eventsNode
    const agents = new AgentsNode({
      bus: busNode.bus,
      domain: this.config.dns.domain ?? 'mesh.blackroad.local',
      registry: this.metrics.registry,
      clusterOf: (node) => this.net?.certs.get(node)?.cluster,
      limits: { maxOutBytes: this.config.api.stream_max_pending_bytes },
    })
    this.agentsNode = agents
    api.upgrade(STREAM_PATH, (req, socket, head) => agents.upgrade(req, socket, head))
    // The Raft control plane (replicated registry) when config names voters or this node is a control-plane node.
    // Its replica opens before the network (frames wait for routes): the join service, renewals and revocations
    // of a root holder commit through it, so there is one registry.
    const raftControl = new RaftControl({
      config: this.config,
      nodeId: this.nodeId,
      nodeKey: this.requireKey(),
      registry: this.metrics.registry,
      logger: this.logger.child({ subsystem: 'raft' }),
    })
    this.raftControl = raftControl
    await this.startControlPlane(busNode, raftControl)
    // The federation's policies: enforced from this router's copy of the registry (once there is a replica,
    // which may start later, on `federation init` or join), updated as it changes.
    const policyLog = this.logger.child({ subsystem: 'policy' })
    const sync = () => {
      const st = raftControl.replica?.local()
      if (!st) return
      const r = policyNode.setRegistryPolicies(st.policies.values())
      if (r.changed)
        policyLog.info(
          { in_force: policyNode.list().length, refused: r.refused },
          'registry policies updated',
        )
    }
    sync()
    raftControl.onChange(sync)
    // Without a replica, a control-plane root holder runs a local single-replica registry (see ControlNode).
    const control = new ControlNode({
      config: this.config,
      logger: this.logger,
      registry: this.metrics.registry,
      nodeKey: this.nodeKey,
      nodeId: this.nodeId,
      controlPlane: raftControl.replica,
    })
    this.control = control
    // A replica opened later (`federation init` founds one, `federation join` follows one) backs it from then on.
    raftControl.onStart((replica) => control.useControlPlane(replica))
    this.cleanups.push({ what: 'join service', run: () => control.stop() })
    await control.start()
    const localClusters = { listClusters: () => this.federation.listClusters() }
    for (const route of [
      ...buildRoutes(this),
      ...busNode.routes(),
      ...eventsNode.routes(),
      ...agents.routes(),
      ...controlRoutes(this),
      ...raftControl.routes(localClusters),
      ...policyRoutes({
        policies: policyNode,
        registry: () => raftControl.replica?.local() ?? null,
        write: (command) => {
          if (!raftControl.enabled) {
            throw new ApiError(
              409,
              'NO_CONTROL_PLANE',
              'federation-wide policies live in the control-plane registry; this node has none (federation.voters)',
            )
          }
          return raftControl.write(command)
        },
      }),
    ])
      api.add(route)
    await api.listen()
    this.cleanups.push({ what: 'api socket', run: () => api.close() })
    this.cleanups.push({ what: 'agents and bus streams', run: async () => agents.close() })
    this.logger.info({ socket: this.config.api.socket }, 'local API listening')

    if (this.config.dns.enabled) {
      const dns = new DnsNode(this.config, this.metrics.registry, this.logger.child({ subsystem: 'dns' }))
      await dns.start()
      this.dnsNode = dns
      const agents = this.agentsNode
      if (agents) {
        dns.setAgents(() => agents.directory.list())
        agents.onChange(() => dns.refresh())
      }
      // Also when the replica starts later (init, join): until then there are no voters to answer.
      dns.setControl(() => raftControl.dnsVoters())
      raftControl.onChange(() => dns.refresh())
      this.cleanups.push({ what: 'mesh DNS', run: () => dns.stop() })
    }

    await this.startNetwork()

    if (this.config.metrics.enabled) {
      const ms = new MetricsServer(this.metrics.registry, this.config.metrics.listen)
      const addr = await ms.start()
      this.cleanups.push({ what: 'metrics server', run: () => ms.close() })
      this.logger.info({ listen: `${addr.host}:${addr.port}` }, 'metrics listening')
    }

    // Without the native addon (or with one lacking an export) these are undefined and the trimmer falls back
    // to gc() and skips the C heap and file pages.
    const addon = nativeAddon()
    const trimmer = new HeapTrimmer({
      intervalMs: TRIM_CHECK_MS,
      minSpacingMs: TRIM_SPACING_MS,
      minGarbageBytes: 8 << 20,
      trims: this.metrics.heapTrims,
      releaseC: addon?.mallocTrim,
      releases: this.metrics.heapReleases,
      // Young generation past 4 MiB (it counts only with lowMemory): it has grown at least twice from 1 MiB.
      collect: addon?.lowMemory,
      youngLimitBytes: 4 << 20,
      releaseFiles: addon?.dropFilePages,
      filesReleased: this.metrics.filePagesUnmapped,
    })
    trimmer.start()
    this.cleanups.push({ what: 'heap trimmer', run: async () => trimmer.stop() })

    this.reloadBusyPoll(this.config.network.busy_poll_us)
    this.cleanups.push({ what: 'busy polling', run: async () => this.busyPoll?.stop() })
  }

  /** Joins the mesh when this node holds a certificate of its federation; otherwise runs standalone. */
  private async startNetwork(): Promise<void> {
    const loaded = await loadTrust(this.config.node.state_dir, this.config.discovery.federation_secret_file)
    if (!loaded.ok) {
      this.networkReason = `not joined: ${loaded.missing} is missing`
      this.logger.warn(
        { missing: loaded.missing },
        'no federation membership yet; running standalone (no mesh)',
      )
      return
    }
    if (loaded.trust.certificate.nodeId !== this.nodeId) {
      throw new Error(
        `${this.config.node.state_dir}/node.cert certifies ${loaded.trust.certificate.nodeId}, not this node (${this.nodeId})`,
      )
    }
    this.fed = { id: loaded.trust.federation.id, name: loaded.trust.federation.name }
    const hints = (await this.control?.hints()) ?? { bootstrap: [], static_peers: [] }
    const discovery = this.config.discovery
    const net = new NetworkCore({
      // Peers the control plane named at join time help when the config names none.
      config:
        hints.bootstrap.length + hints.static_peers.length === 0
          ? this.config
          : {
              ...this.config,
              discovery: {
                ...discovery,
                bootstrap: discovery.bootstrap.length > 0 ? discovery.bootstrap : hints.bootstrap,
                static_peers: [...new Set([...discovery.static_peers, ...hints.static_peers])],
              },
            },
      logger: this.logger,
      registry: this.metrics.registry,
      nodeKey: this.requireKey(),
      nodeId: this.nodeId,
      trust: loaded.trust,
    })
    this.cleanups.push({ what: 'network core', run: () => net.stop() })
    await net.start()
    this.net = net
    this.busNode?.attach(net)
    this.raftControl?.attachNet(net)
    this.policyNode?.attach(net)
    this.eventsNode?.attach(net)
    await this.dnsNode?.attach(net)
    await this.control?.attach(net)
    const c = loaded.trust.certificate
    this.logger.info(
      { ipv4: c.addresses.ipv4, ipv6: c.addresses.ipv6, interface: this.config.wireguard.interface },
      'mesh network up',
    )
  }

  /** Starts busy polling as `setting` asks on this host, or changes it (SIGHUP); logs the choice and why. */
  reloadBusyPoll(setting: Config['network']['busy_poll_us']): BusyPoller {
    const choice = chooseBusyPoll(setting, readHostFacts())
    const old = this.busyPoll
    if (old !== null && old.us === choice.us) return old
    old?.stop()
    const poll = startBusyPoll(choice)
    this.busyPoll = poll
    const polled = { us: poll.us, reason: poll.reason }
    if (poll.running) this.logger.info(polled, 'busy polling after each message, at the lowest CPU priority')
    else this.logger.info(polled, 'no busy polling')
    return poll
  }

  /** Replaces the network policies (SIGHUP); returns how many are in force. Throws on policies that do not compile. */
  reloadPolicies(mesh: Config['mesh']): number {
    if (!this.policyNode) throw new Error('daemon not started')
    this.policyNode.reload(mesh)
    return mesh.policies.length
  }

  /** Runs this node's registry replica when it has a part in a control plane (see control-plane.ts); the mesh attaches later. */
  private async startControlPlane(busNode: BusNode, control: RaftControl): Promise<void> {
    const fed = await this.federation.current()
    // Pushed whether or not a replica runs yet: one may start on `federation init` or `federation join`.
    this.cleanups.push({ what: 'control plane', run: () => control.stop() })
    await control.start(
      busNode.bus,
      null,
      fed ? { id: fed.id, name: fed.name, createdAt: fed.createdAt } : null,
    )
  }

  /** Stops everything start() created, newest first; one failing step does not skip the others. */
  async stop(): Promise<void> {
    while (this.cleanups.length > 0) {
      const step = this.cleanups.pop()!
      try {
        await step.run()
      } catch (err) {
        this.logger.error({ err, what: step.what }, 'cleanup step failed')
      }
    }
  }

  status(): StatusResponse {
    const key = this.requireKey()
    const c = this.config.cluster
    return {
      node_id: this.nodeId,
      name: this.config.node.name,
      public_key: key.publicKey.toString('base64'),
      cluster: {
        id: c.id ?? null,
        name: c.name ?? null,
        region: c.region ?? null,
        role: this.config.node.role,
      },
      federation: this.fed,
      version: VERSION,
      pid: process.pid,
      started_at: new Date(this.startedAt).toISOString(),
      uptime_seconds: Math.round((Date.now() - this.startedAt) / 100) / 10,
      peers: this.peerCounts(),
      mesh: {
        state: this.net ? 'running' : 'standalone',
        ipv4: this.net?.certificate.addresses.ipv4 ?? null,
        ipv6: this.net?.certificate.addresses.ipv6 ?? null,
        interface: this.net ? this.config.wireguard.interface : null,
      },
      capabilities: [...CAPABILITIES],
    }
  }

  keys(): KeysResponse {
    const key = this.requireKey()
    return {
      node_id: this.nodeId,
      public_key: key.publicKey.toString('base64'),
      fingerprint: fingerprint(key.publicKey),
    }
  }

  async federationInit(req: { name: string }) {
    const info = await this.federation.init(req.name)
    this.fed = { id: info.id, name: info.name }
    this.logger.info({ federation: info }, 'federation created')
    const fed = await this.federation.current()
    if (fed)
      await this.raftControl?.federationCreated({ id: fed.id, name: fed.name, createdAt: fed.createdAt })
    // The root holder certifies itself and enters the mesh as the federation's first member.
    if ((await this.control?.federationCreated()) && !this.net) await this.startNetwork()
    return info
  }

  async federationJoin(req: FederationJoinRequest): Promise<FederationJoinResponse> {
    if (!this.control) throw new Error('daemon not started')
    const { hints, ...res } = await this.control.join(req)
    // Follow the control plane the join named (a learner; a control-plane node asks to vote), never a new one.
    if (hints.voters.length > 0) {
      const fed = await this.federation.current()
      await this.raftControl?.joined(
        hints.voters,
        fed ? { id: fed.id, name: fed.name, createdAt: fed.createdAt } : null,
      )
    }
    // Enter the mesh now, without a restart: the trust material is on disk and startNetwork reads it.
    await this.startNetwork()
    return { ...res, mesh: this.net ? 'running' : 'standalone' }
  }

  revokeNode(req: RevokeNodeRequest): Promise<RevokeNodeResponse> {
    if (!this.control) throw new Error('daemon not started')
    return this.control.revoke(req.node, req.reason ?? 'revoked by operator')
  }

  federationInfo() {
    return this.federation.info()
  }

  async createCluster(req: Parameters<LocalFederation['createCluster']>[0]) {
    const fc = this.config.federation
    let res: Awaited<ReturnType<LocalFederation['createCluster']>>
    if (this.raftControl?.enabled) {
      // The cluster goes into the Raft registry, which the join service spends the token through.
      res = await this.raftControl.createCluster(req, fc.control_plane, fc.join_token_ttl)
    } else {
      // A root holder with a local registry (no Raft control plane): it must know the cluster too.
      this.control?.checkClusterName(req.name)
      res = await this.federation.createCluster(req)
      const record = (await this.federation.clusters()).find((c) => c.id === res.cluster.id)
      if (record) await this.control?.clusterCreated(record)
    }
    this.metrics.clustersTotal.set((await this.federation.clusters()).length)
    this.logger.info({ cluster: res.cluster }, 'cluster created')
    return res
  }

  network(): NetworkStatus {
    const net = this.net
    const cert = net?.certificate
    return {
      state: net ? 'running' : 'standalone',
      reason: net ? null : this.networkReason,
      interface: net ? this.config.wireguard.interface : null,
      mesh_ipv4: cert?.addresses.ipv4 ?? null,
      mesh_ipv6: cert?.addresses.ipv6 ?? null,
      wg_public_key: net?.wgPublicKey ?? null,
      discovery: net?.discoveryStatus() ?? null,
    }
  }

  peers(): Promise<PeerInfo[]> {
    return this.net ? peerViews(this.net, this.nodeId) : Promise.resolve([])
  }

  routes(): RouteInfo[] {
    return this.net ? routeViews(this.net) : []
  }

  async rotateKeys(): Promise<RotateKeysResponse> {
    if (!this.net)
      throw ApiError.conflict(
        'NOT_JOINED',
        `this node is not in a mesh (${this.networkReason ?? 'network not running'})`,
      )
    const r = await this.net.rotateKey()
    return { public_key: r.publicKey, seq: r.seq }
  }

  private peerCounts(): { total: number; up: number } {
    const net = this.net
    if (!net) return { total: 0, up: 0 }
    const total = net.certs.nodes().filter((c) => c.nodeId !== this.nodeId).length
    return { total, up: net.routing.plan.routes.length }
  }

  private requireKey(): KeyPair {
    if (!this.nodeKey) throw new Error('daemon not started')
    return this.nodeKey
  }
}
