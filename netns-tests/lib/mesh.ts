// Builds a mesh of real daemons on a lab topology: enrols each node in a TestFederation (state written before
// start), gives the first `bootstraps` nodes the federation's DHT bootstrap role, starts the daemons, and
// offers the checks most scenarios need (ping over mesh IPv4/IPv6, peers and routes from the CLI).

import path from 'node:path'
import type { PeerInfo, RouteInfo } from '../../src/client/types.js'
import type { DaemonHandle, DaemonOptions } from './daemon.js'
import { type EnrolledNode, type EnrolOptions, TestFederation } from './federation.js'
import type { Lab } from './lab.js'
import { canPing } from './probes.js'
import type { Host } from './topology.js'

export const DHT_PORT = 49737

export interface MeshNodeSpec {
  host: Host
  enrol?: Partial<EnrolOptions>
  /** Merged into the daemon config (shallow per section). */
  config?: Record<string, Record<string, unknown>>
  /** Enrol but do not start yet. */
  deferStart?: boolean
  /** Options for lab.startDaemon (environment, readiness timeout...). */
  daemon?: DaemonOptions
}

export interface MeshNode {
  host: Host
  node: EnrolledNode
  stateDir: string
  daemon: DaemonHandle | null
  config: Record<string, Record<string, unknown>>
  daemonOptions?: DaemonOptions
}

export class Mesh {
  readonly nodes: MeshNode[] = []

  constructor(
    readonly lab: Lab,
    readonly federation: TestFederation = new TestFederation(),
  ) {}

  /**
   * Enrols and starts nodes. `bootstrap` lists underlay "host:port" entries of DHT bootstrap nodes; a node whose
   * address is among them runs the bootstrap node (with two extra DHT nodes: a private DHT needs three).
   */
  async start(specs: MeshNodeSpec[], bootstrap: string[]): Promise<MeshNode[]> {
    const added: MeshNode[] = []
    for (const spec of specs) {
      const stateDir = path.join(this.lab.scratchDir, spec.host.name, 'state')
      const node = await this.federation.enrol(stateDir, { name: spec.host.name, ...spec.enrol })
      const own = bootstrap.some((b) => spec.host.interfaces.some((i) => b.startsWith(`${i.v4}:`)))
      const config = {
        ...spec.config,
        node: { name: spec.host.name, bootstrap: own, ...spec.config?.node },
        discovery: { bootstrap, ...spec.config?.discovery },
        network: { ...spec.config?.network },
        metrics: { enabled: false, ...spec.config?.metrics },
        logging: { level: 'debug', ...spec.config?.logging },
      }
      const n: MeshNode = {
        host: spec.host,
        node,
        stateDir,
        daemon: null,
        config,
        daemonOptions: spec.daemon,
      }
      this.nodes.push(n)
      added.push(n)
    }
    // Only the nodes of this call (a second call must not pair its specs with the first call's nodes).
    await Promise.all(added.filter((_, i) => !specs[i]?.deferStart).map((n) => this.startNode(n)))
    return this.nodes
  }

  async startNode(n: MeshNode): Promise<DaemonHandle> {
    n.daemon = await this.lab.startDaemon(n.host, n.config, n.daemonOptions)
    return n.daemon
  }

  byName(name: string): MeshNode {
    const n = this.nodes.find((x) => x.node.name === name)
    if (!n) throw new Error(`no mesh node ${name}`)
    return n
  }

  async peers(n: MeshNode): Promise<PeerInfo[]> {
    const r = await n.daemon!.cli(['peers', '--json'])
    if (r.code !== 0) throw new Error(`peers failed: ${r.stderr}`)
    return JSON.parse(r.stdout) as PeerInfo[]
  }

  async routes(n: MeshNode): Promise<RouteInfo[]> {
    const r = await n.daemon!.cli(['routes', '--json'])
    if (r.code !== 0) throw new Error(`routes failed: ${r.stderr}`)
    return JSON.parse(r.stdout) as RouteInfo[]
  }

  /** Whether every ordered pair of the given nodes answers one ping on mesh IPv4 (and IPv6 when asked). */
  async allPairsPing(nodes: MeshNode[], opts: { ipv6?: boolean } = {}): Promise<boolean> {
    const checks: Promise<boolean>[] = []
    for (const a of nodes) {
      for (const b of nodes) {
        if (a === b) continue
        checks.push(canPing(a.host, b.node.ipv4))
        if (opts.ipv6) checks.push(canPing(a.host, b.node.ipv6))
      }
    }
    return (await Promise.all(checks)).every(Boolean)
  }
}

/**
 * The common topology: one bridge, a host per name attached to it, a mesh whose first node runs the DHT
 * bootstrap. Returns the mesh, its started nodes, the hosts and the bridge.
 */
export async function meshOnBridge(
  lab: Lab,
  names: readonly string[],
  spec: Omit<MeshNodeSpec, 'host'> = {},
) {
  const lan = await lab.bridge('lan')
  const hosts: Host[] = []
  for (const name of names) {
    const h = await lab.host(name)
    await lab.attach(h, lan)
    hosts.push(h)
  }
  const mesh = new Mesh(lab)
  const nodes = await mesh.start(
    hosts.map((host) => ({ ...spec, host })),
    [`${hosts[0]!.addr(lan)}:${DHT_PORT}`],
  )
  return { mesh, nodes, hosts, lan }
}
