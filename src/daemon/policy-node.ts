// Wires the network policies of the config (mesh.policies, mesh.default_policy) to the bus: the policy point
// the BusRouter is built with, whose directory (node -> name, cluster, region) is this node's config until the
// mesh is up and the certificate book after, and whose path latencies come from the routing plan. Policies
// come from config for now; the control-plane registry will feed the same engine later.

import type { Registry } from 'prom-client'
import type { Config } from '../config/index.js'
import { type NodeFacts, PolicyEngine, PolicyPoint } from '../policy/index.js'
import type { NetworkCore } from './network.js'

export function engineFromConfig(mesh: Config['mesh']): PolicyEngine {
  return new PolicyEngine(mesh.policies, { defaultAllow: mesh.default_policy !== 'deny' })
}

export class PolicyNode {
  readonly point: PolicyPoint
  private latency = new Map<string, number>()

  constructor(config: Config, nodeId: string, registry: Registry) {
    const self: NodeFacts = {
      name: config.node.name,
      cluster: config.cluster.name ?? '',
      region: config.cluster.region ?? '',
    }
    this.point = new PolicyPoint({
      selfId: nodeId,
      engine: engineFromConfig(config.mesh),
      directory: (id) => (id === nodeId ? self : undefined),
      path: {
        latencyMs: (node) => (node === nodeId ? 0 : (this.latency.get(node) ?? null)),
        // Bus messages travel only over peer links (Noise-encrypted hyperswarm streams) or inside this process.
        encrypted: () => true,
      },
      now: () => performance.now(),
      registry,
    })
  }

  /** From now on node facts come from verified certificates and latencies from each new routing plan. */
  attach(net: NetworkCore): void {
    this.point.directory = (id) => {
      const c = net.certs.get(id)
      return c === undefined ? undefined : { name: c.name, cluster: c.cluster, region: c.region }
    }
    const take = (plan: NetworkCore['routing']['plan']) => {
      this.latency = new Map(plan.routes.map((r) => [r.destination, r.costMicros / 1000]))
    }
    take(net.routing.plan)
    net.routing.on('plan', take)
  }

  /** Replaces the policies (a config reload); rate-limit buckets start afresh. */
  reload(mesh: Config['mesh']): void {
    this.point.engine = engineFromConfig(mesh)
  }
}
