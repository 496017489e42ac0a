// The mesh DNS of this node: a DnsServer over a MeshZone built from what the node knows — its own identity and,
// once it is in a mesh, every certified router (name, cluster, region, mesh addresses). The zone is rebuilt
// when the routing plan or the set of certificates changes, so answers follow nodes as they join and leave.
// Where systemd-resolved runs, the zone is routed to this server on the WireGuard interface, and undone on stop.

import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
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
import { systemExec } from '../os/index.js'
import type { NetworkCore } from './network.js'

export class DnsNode {
  private readonly zone: MeshZone
  private readonly server: DnsServer
  private os: OsDnsConfigurator | null = null
  private net: NetworkCore | null = null
  private timer: NodeJS.Timeout | null = null
  private control: () => MeshView['control'] = () => []

  constructor(
    private readonly config: Config,
    registry: Registry,
    private readonly log: Logger,
  ) {
    this.zone = new MeshZone(zoneOptionsFromConfig(config), this.view(), Math.floor(Date.now() / 1000))
    this.server = new DnsServer(serverOptionsFromConfig(config, this.zone, registry, log))
  }

  async start(): Promise<void> {
    const bound = await this.server.start()
    this.log.info({ listen: bound.map((b) => `${b.address}:${b.port}`), domain: this.zone.domain }, 'mesh DNS listening')
  }

  /** Follows the mesh: rebuild on every routing plan (debounced), and route the zone to us on the interface. */
  async attach(net: NetworkCore): Promise<void> {
    this.net = net
    net.routing.on('plan', () => this.scheduleUpdate())
    this.update()
    try {
      this.os = await detectOsDnsConfigurator({ exec: systemExec })
      await this.os.apply(osDnsSettings(this.config, this.zone, this.config.wireguard.interface))
    } catch (err) {
      this.log.warn({ err }, 'could not route the mesh zone to this server in the OS resolver')
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    await this.os?.revert().catch((err) => this.log.warn({ err }, 'reverting the OS resolver failed'))
    await this.server.close()
  }

  /** control.<domain> follows the control plane: the voters, leader first. */
  setControl(voters: () => MeshView['control']): void {
    this.control = voters
    this.scheduleUpdate()
  }

  refresh(): void {
    this.scheduleUpdate()
  }

  private scheduleUpdate(): void {
    if (this.timer) return
    this.timer = setTimeout(() => {
      this.timer = null
      this.update()
    }, 100)
  }

  private update(): void {
    const r = this.zone.update(this.view())
    for (const p of r.problems) this.log.warn(p, 'mesh DNS: record skipped')
    if (r.changed) this.log.debug({ serial: r.serial }, 'mesh DNS zone updated')
  }

  /** Every certified router (or just this node before it joins). Control voters and agents come with Raft. */
  private view(): MeshView {
    const certs = this.net?.certs.nodes() ?? []
    const c = this.config
    const nodes =
      certs.length > 0
        ? certs.map((x) => ({ name: x.name, cluster: x.cluster, ipv4: x.addresses.ipv4, ipv6: x.addresses.ipv6 }))
        : c.cluster.name
          ? [{ name: c.node.name, cluster: c.cluster.name }]
          : []
    const clusters = new Map<string, string>()
    for (const x of certs) clusters.set(x.cluster, x.region)
    if (c.cluster.name && !clusters.has(c.cluster.name)) clusters.set(c.cluster.name, c.cluster.region ?? 'unknown')
    return {
      nodes,
      clusters: [...clusters].map(([name, region]) => ({ name, region })),
      control: this.control(),
      agents: [],
    }
  }
}
