// The composition root: builds every subsystem from the config, wires them together, starts them in order
// and stops them in reverse. It implements no layer itself; each subsystem lives in its own folder of src/.

import { promises as fs } from 'node:fs'
import path from 'node:path'
import type { Logger } from 'pino'
import { buildRoutes } from '../api/routes.js'
import { ApiServer } from '../api/server.js'
import { ApiError } from '../api/errors.js'
import type { KeysResponse, NetworkStatus, PeerInfo, RotateKeysResponse, RouteInfo, StatusResponse } from '../client/types.js'
import type { Config } from '../config/index.js'
import { fingerprint, type KeyPair, loadOrCreateKey, nodeIdFromPublicKey } from '../identity/index.js'
import { createMetrics, type DaemonMetrics, MetricsServer } from '../metrics/index.js'
import { VERSION } from '../version.js'
import { BusNode } from './bus-node.js'
import { ControlNode } from './control-plane.js'
import { DnsNode } from './dns-node.js'
import { LocalFederation } from './federation-local.js'
import { NetworkCore } from './network.js'
import { peerViews, routeViews } from './network-views.js'
import { loadTrust } from './trust.js'

/** What this build runs; `blackroad status` shows it and the CLI names what a command still waits for. */
export const CAPABILITIES = ['identity', 'config', 'api', 'metrics', 'local-federation', 'network', 'bus', 'dns', 'control-plane'] as const

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
  private dnsNode: DnsNode | null = null
  private control: ControlNode | null = null
  private networkReason: string | null = null
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
    this.metrics.info.set({ version: VERSION, node_id: this.nodeId, cluster: this.config.cluster.name ?? '' }, 1)
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
    const busNode = new BusNode(this.nodeId, this.metrics.registry, this.logger.child({ subsystem: 'bus' }))
    this.busNode = busNode
    this.cleanups.push({ what: 'bus', run: async () => busNode.close() })
    const control = new ControlNode({
      config: this.config,
      nodeId: this.nodeId,
      nodeKey: this.requireKey(),
      registry: this.metrics.registry,
      logger: this.logger.child({ subsystem: 'control' }),
    })
    this.control = control
    const localClusters = { listClusters: () => this.federation.listClusters() }
    for (const route of [...buildRoutes(this), ...busNode.routes(), ...control.routes(localClusters)]) api.add(route)
    await api.listen()
    this.cleanups.push({ what: 'api socket', run: () => api.close() })
    this.logger.info({ socket: this.config.api.socket }, 'local API listening')

    if (this.config.dns.enabled) {
      const dns = new DnsNode(this.config, this.metrics.registry, this.logger.child({ subsystem: 'dns' }))
      await dns.start()
      this.dnsNode = dns
      this.cleanups.push({ what: 'mesh DNS', run: () => dns.stop() })
    }

    await this.startNetwork()
    await this.startControlPlane(busNode, control)

    if (this.config.metrics.enabled) {
      const ms = new MetricsServer(this.metrics.registry, this.config.metrics.listen)
      const addr = await ms.start()
      this.cleanups.push({ what: 'metrics server', run: () => ms.close() })
      this.logger.info({ listen: `${addr.host}:${addr.port}` }, 'metrics listening')
    }
  }

  /** Joins the mesh when this node holds a certificate of its federation; otherwise runs standalone. */
  private async startNetwork(): Promise<void> {
    const loaded = await loadTrust(this.config.node.state_dir, this.config.discovery.federation_secret_file)
    if (!loaded.ok) {
      this.networkReason = `not joined: ${loaded.missing} is missing`
      this.logger.warn({ missing: loaded.missing }, 'no federation membership yet; running standalone (no mesh)')
      return
    }
    if (loaded.trust.certificate.nodeId !== this.nodeId) {
      throw new Error(`${this.config.node.state_dir}/node.cert certifies ${loaded.trust.certificate.nodeId}, not this node (${this.nodeId})`)
    }
    this.fed = { id: loaded.trust.federation.id, name: loaded.trust.federation.name }
    const net = new NetworkCore({
      config: this.config,
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
    await this.dnsNode?.attach(net)
    const c = loaded.trust.certificate
    this.logger.info({ ipv4: c.addresses.ipv4, ipv6: c.addresses.ipv6, interface: this.config.wireguard.interface }, 'mesh network up')
  }

  /** Runs this node's registry replica when config names voters (see control-plane.ts). */
  private async startControlPlane(busNode: BusNode, control: ControlNode): Promise<void> {
    const fed = await this.federation.current()
    await control.start(busNode.bus, this.net, fed ? { id: fed.id, name: fed.name, createdAt: fed.createdAt } : null)
    if (!control.enabled) return
    this.cleanups.push({ what: 'control plane', run: () => control.stop() })
    const dns = this.dnsNode
    if (dns) {
      dns.setControl(() => control.dnsVoters())
      control.onChange(() => dns.refresh())
    }
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
      cluster: { id: c.id ?? null, name: c.name ?? null, region: c.region ?? null, role: this.config.node.role },
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
    return { node_id: this.nodeId, public_key: key.publicKey.toString('base64'), fingerprint: fingerprint(key.publicKey) }
  }

  async federationInit(req: { name: string }) {
    const info = await this.federation.init(req.name)
    this.fed = { id: info.id, name: info.name }
    this.logger.info({ federation: info }, 'federation created')
    return info
  }

  federationInfo() {
    return this.federation.info()
  }

  async createCluster(req: Parameters<LocalFederation['createCluster']>[0]) {
    const fc = this.config.federation
    const res = this.control?.enabled
      ? await this.control.createCluster(req, fc.control_plane, fc.join_token_ttl)
      : await this.federation.createCluster(req)
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
    if (!this.net) throw ApiError.conflict('NOT_JOINED', `this node is not in a mesh (${this.networkReason ?? 'network not running'})`)
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
