// The mesh DNS of this node: a DnsServer over a MeshZone built from what the node knows — its own identity and,
// once it is in a mesh, every certified router (name, cluster, region, mesh addresses). The zone follows the
// node's view lazily (zone.ts): every routing plan, agent or leader change marks it stale, a query rebuilds it
// if the view changed, and so does a background refresh once changes pause for REFRESH_QUIET_MS (at most
// REFRESH_MAX_MS after the first), so answers follow nodes as they join and leave while a join's burst of
// changes costs one rebuild, after it, instead of one per certificate during it.
// Where systemd-resolved runs, the zone is routed to this server on the WireGuard interface, and undone on stop.
// With dns.listen_mesh (the default) the server also answers on the node's mesh IPv4/IPv6 once the interface holds
// them, following the certificate's addresses on every applied network state.

import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { splitHostPort } from '../config/hostport.js'
import type { Config } from '../config/index.js'
import {
  DnsServer,
  detectOsDnsConfigurator,
  type MeshView,
  MeshZone,
  type OsDnsConfigurator,
  osDnsSettings,
  serverOptionsFromConfig,
  zoneOptionsFromConfig,
} from '../dns/index.js'
import { nativeProblem, systemExec } from '../os/index.js'
import type { NetworkCore } from './network.js'

/** A stale zone is rebuilt in the background once its inputs were quiet this long... */
const REFRESH_QUIET_MS = 500
/** ...or this long after they first changed, whichever comes first. */
const REFRESH_MAX_MS = 2000

export class DnsNode {
  private readonly zone: MeshZone
  private readonly server: DnsServer
  private os: OsDnsConfigurator | null = null
  private net: NetworkCore | null = null
  private timer: NodeJS.Timeout | null = null
  /** When the zone's inputs first changed since the last background refresh, and last changed. */
  private staleSince = 0
  private changedAt = 0
  /** Mesh "address:port" entries bound beyond dns.listen. */
  private readonly meshBound = new Set<string>()
  private meshSync: Promise<void> = Promise.resolve()
  private meshRetry: NodeJS.Timeout | null = null
  private meshRetries = 0
  private stopped = false
  private agents: () => ReadonlyArray<{ name: string; type: string; node: string }> = () => []
  private control: () => MeshView['control'] = () => []

  constructor(
    private readonly config: Config,
    registry: Registry,
    private readonly log: Logger,
  ) {
    this.zone = new MeshZone(
      zoneOptionsFromConfig(config),
      () => this.view(),
      Math.floor(Date.now() / 1000),
      (r) => {
        for (const p of r.problems) this.log.warn(p, 'mesh DNS: record skipped')
        if (r.changed) this.log.debug({ serial: r.serial }, 'mesh DNS zone updated')
      },
    )
    this.server = new DnsServer(serverOptionsFromConfig(config, this.zone, registry, log))
  }

  async start(): Promise<void> {
    const bound = await this.server.start()
    const udp = this.server.udpPaths[0] ?? 'dgram'
    this.log.info(
      {
        listen: bound.map((b) => `${b.address}:${b.port}`),
        domain: this.zone.domain,
        udp:
          udp === 'batched' ? 'batched (recvmmsg/sendmmsg)' : `dgram (${nativeProblem() ?? 'batching off'})`,
      },
      'mesh DNS listening',
    )
  }

  /** Follows the mesh: rebuild on every routing plan (debounced), and route the zone to us on the interface. */
  async attach(net: NetworkCore): Promise<void> {
    this.net = net
    net.routing.on('plan', () => this.scheduleUpdate())
    this.scheduleUpdate()
    net.on('applied', () => this.syncMeshListen())
    await this.syncMeshListen()
    try {
      this.os = await detectOsDnsConfigurator({ exec: systemExec })
      // Its settings read the zone's apexes (a build): only for a resolver that takes them.
      if (this.os.kind !== 'none')
        await this.os.apply(osDnsSettings(this.config, this.zone, this.config.wireguard.interface))
    } catch (err) {
      this.log.warn({ err }, 'could not route the mesh zone to this server in the OS resolver')
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    if (this.meshRetry) clearTimeout(this.meshRetry)
    await this.meshSync
    await this.os?.revert().catch((err) => this.log.warn({ err }, 'reverting the OS resolver failed'))
    await this.server.close()
  }

  /** Mesh addresses this server should answer on: none when disabled or when a wildcard listen covers them. */
  private meshListen(): string[] {
    const dns = this.config.dns
    const listen = dns.listen.map((l) => splitHostPort(l)).filter((hp) => hp !== null)
    if (!dns.listen_mesh || !this.net || listen.some((hp) => hp.host === '0.0.0.0' || hp.host === '::'))
      return []
    const port = listen[0]?.port ?? 53
    return this.net.ownAddresses().map((a) => (a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`))
  }

  /** Binds mesh addresses not yet bound and drops ones the node no longer holds; serialized, retried (bounded). */
  private syncMeshListen(): Promise<void> {
    this.meshSync = this.meshSync
      .then(async () => {
        if (this.stopped) return
        const want = new Set(this.meshListen())
        for (const l of [...this.meshBound]) {
          if (want.has(l)) continue
          const hp = splitHostPort(l)
          if (hp) await this.server.unlisten(hp.host, hp.port)
          this.meshBound.delete(l)
        }
        let failed = false
        for (const l of want) {
          if (this.meshBound.has(l)) continue
          try {
            const b = await this.server.listenAlso(l)
            this.meshBound.add(l)
            this.log.info({ listen: `${b.address}:${b.port}` }, 'mesh DNS listening on a mesh address')
          } catch (err) {
            failed = true
            if (this.meshRetries === 0)
              this.log.warn({ err, listen: l }, 'mesh DNS: cannot bind a mesh address yet')
          }
        }
        // The interface may get its address a moment after the plan that put it there: retry, 1 s apart, 60 times.
        this.meshRetries = failed ? this.meshRetries + 1 : 0
        if (failed && this.meshRetries <= 60 && !this.meshRetry) {
          this.meshRetry = setTimeout(() => {
            this.meshRetry = null
            void this.syncMeshListen()
          }, 1000)
          this.meshRetry.unref()
        }
      })
      .catch((err) => this.log.warn({ err }, 'mesh DNS: updating mesh listen addresses failed'))
    return this.meshSync
  }

  /** Agents registered over the local socket (here and on other nodes): SRV records under agents.<domain>. */
  setAgents(source: () => ReadonlyArray<{ name: string; type: string; node: string }>): void {
    this.agents = source
    this.scheduleUpdate()
  }

  /** control.<domain> follows the control plane: the voters, leader first. */
  setControl(voters: () => MeshView['control']): void {
    this.control = voters
    this.scheduleUpdate()
  }

  /** The zone's inputs may have changed, e.g. an agent registered or the leader changed. */
  refresh(): void {
    this.scheduleUpdate()
  }

  /**
   * Marks the zone stale (the next query rebuilds it if its view changed) and arms the background refresh:
   * REFRESH_QUIET_MS after the last change, at most REFRESH_MAX_MS after the first. Routing plans come many
   * times a second while links settle; the zone depends on none of what they change but the set of routers,
   * and the view comparison in the zone keeps the rest from rebuilding it.
   */
  private scheduleUpdate(): void {
    this.zone.invalidate()
    const now = Date.now()
    this.changedAt = now
    if (this.timer) return
    this.staleSince = now
    this.armRefresh(REFRESH_QUIET_MS)
  }

  private armRefresh(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = null
      if (this.stopped) return
      const now = Date.now()
      const wait = Math.min(this.changedAt + REFRESH_QUIET_MS, this.staleSince + REFRESH_MAX_MS) - now
      if (wait > 0) return this.armRefresh(wait)
      try {
        this.zone.refresh()
      } catch (err) {
        // The next query tries again (the zone stays stale); nothing else depends on this refresh.
        this.log.warn({ err }, 'mesh DNS: rebuilding the zone failed')
      }
    }, ms)
    this.timer.unref()
  }

  /** Every certified router (or just this node before it joins). Control voters and agents come with Raft. */
  private view(): MeshView {
    const certs = this.net?.certs.nodes() ?? []
    const c = this.config
    const nodes =
      certs.length > 0
        ? certs.map((x) => ({
            name: x.name,
            cluster: x.cluster,
            ipv4: x.addresses.ipv4,
            ipv6: x.addresses.ipv6,
          }))
        : c.cluster.name
          ? [{ name: c.node.name, cluster: c.cluster.name }]
          : []
    const clusters = new Map<string, string>()
    for (const x of certs) clusters.set(x.cluster, x.region)
    if (c.cluster.name && !clusters.has(c.cluster.name))
      clusters.set(c.cluster.name, c.cluster.region ?? 'unknown')
    // Agents name their node by id; the zone places them by node name (SRV target <node>.<cluster>.<domain>).
    const nodeName = (id: string) =>
      certs.find((x) => x.nodeId === id)?.name ?? (certs.length === 0 ? c.node.name : undefined)
    const agents = this.agents().flatMap((a) => {
      const node = nodeName(a.node)
      return node === undefined ? [] : [{ name: a.name, service: a.type, proto: 'bus', node, port: 0 }]
    })
    return {
      nodes,
      clusters: [...clusters].map(([name, region]) => ({ name, region })),
      control: this.control(),
      agents,
    }
  }
}
