// Wires the network policies to the bus: the policy point the BusRouter is built with, whose directory
// (node -> name, cluster, region) is this node's config until the mesh is up and the certificate book after,
// and whose path latencies come from the routing plan. Policies come from two places, tried in this order:
// the config (mesh.policies, mesh.default_policy; reloaded on SIGHUP) and the control-plane registry (the
// federation's, applied with `blackroad policy apply`, enforced by every router from its own copy, so they
// keep working while the control plane is unreachable).

import type { Registry } from 'prom-client'
import type { Config } from '../config/index.js'
import { type CompiledPolicy, type NodeFacts, PolicyEngine, PolicyPoint } from '../policy/index.js'
import { compileRegistryPolicies } from '../policy/registry-policies.js'
import type { NetworkPolicy } from '../protocols/registry/index.js'
import { RAFT_AGENT } from './control-plane.js'
import type { NetworkCore } from './network.js'

export function engineFromConfig(mesh: Config['mesh'], extra: readonly CompiledPolicy[] = []): PolicyEngine {
  return new PolicyEngine(mesh.policies, { defaultAllow: mesh.default_policy !== 'deny', extra })
}

export class PolicyNode {
  readonly point: PolicyPoint
  private latency = new Map<string, number>()
  private mesh: Config['mesh']
  private fromRegistry: CompiledPolicy[] = []
  /**
   * The registry's policy objects at the last change. The registry replaces a policy's object when it is set
   * and builds new ones on a snapshot restore, so comparing identities (no serialisation) tells whether
   * anything changed: an unrelated registry write, on every commit, costs a set lookup per policy.
   */
  private registrySeen = new Set<NetworkPolicy>()

  constructor(config: Config, nodeId: string, registry: Registry) {
    this.mesh = config.mesh
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
      systemAgents: [RAFT_AGENT],
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

  /** Replaces the config's policies (a reload); rate-limit buckets start afresh. */
  reload(mesh: Config['mesh']): void {
    this.point.engine = engineFromConfig(mesh, this.fromRegistry)
    this.mesh = mesh
  }

  /**
   * The registry's policies as they are now (called on every registry change). Returns whether the engine
   * changed and which policies were left out (patterns that do not compile, or a name a config policy has).
   */
  setRegistryPolicies(list: Iterable<NetworkPolicy>): {
    changed: boolean
    refused: { name: string; reason: string }[]
  } {
    const all = [...list]
    if (all.length === this.registrySeen.size && all.every((p) => this.registrySeen.has(p))) {
      return { changed: false, refused: [] }
    }
    const { policies, refused } = compileRegistryPolicies(all)
    const local = new Set(this.mesh.policies.map((p) => p.name))
    this.fromRegistry = policies.filter((p) => {
      if (!local.has(p.name)) return true
      refused.push({ name: p.name, reason: "a policy of the same name is in this node's config (it wins)" })
      return false
    })
    this.point.engine = engineFromConfig(this.mesh, this.fromRegistry)
    this.registrySeen = new Set(all)
    return { changed: true, refused }
  }

  /** Names of the policies in force, in the order they are tried, with where each comes from. */
  list(): { name: string; from: 'config' | 'registry' }[] {
    const local = new Set(this.mesh.policies.map((p) => p.name))
    return this.point.engine.policies.map((p) => ({
      name: p.name,
      from: local.has(p.name) ? 'config' : 'registry',
    }))
  }
}
