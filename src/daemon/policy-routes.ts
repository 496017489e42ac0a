// The local API for the federation's network policies, kept in the control-plane registry:
//   GET    /v1/policies         the policies in force on this router, in the order they are tried, with
//                               where each comes from (config or registry), and the registry's definitions
//   POST   /v1/policies         apply (create or replace) one policy in the registry (the guide's NetworkPolicy)
//   DELETE /v1/policies/:name   remove one from the registry
// Writes need a control plane (federation.voters or node.control_plane); every router enforces the registry's
// policies from its own copy (policy-node.ts).

import { ApiError } from '../api/errors.js'
import type { Route } from '../api/server.js'
import type { PolicyListResponse, PolicyView } from '../client/control-types.js'
import { z } from '../config/zod.js'
import { PolicyError } from '../policy/index.js'
import { compileRegistryPolicy } from '../policy/registry-policies.js'
import type { NetworkPolicy, RegistryCommand, RegistryState } from '../protocols/registry/index.js'
import type { PolicyNode } from './policy-node.js'

export interface PolicyRoutesDeps {
  policies: PolicyNode
  /** This router's copy of the registry, or null without a control plane. */
  registry: () => RegistryState | null
  /** Commits a command through the control plane (throws ApiError with the reason). */
  write: (command: RegistryCommand) => Promise<unknown>
}

const pattern = z.string().min(1).max(128)
const applyBody = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'lowercase letters, digits and inner -, at most 63'),
  source_clusters: z.array(pattern).min(1).max(64),
  destination_clusters: z.array(pattern).min(1).max(64),
  source_agents: z.array(pattern).max(64).optional(),
  destination_agents: z.array(pattern).max(64).optional(),
  policy: z.enum(['allow', 'deny', 'rate_limit']),
  rate_limit_rps: z.number().int().positive().max(1_000_000).optional(),
  encrypt: z.boolean().optional(),
  max_latency_ms: z.number().int().positive().max(3_600_000).optional(),
})
type ApplyBody = z.infer<typeof applyBody>

export function policyView(p: NetworkPolicy): PolicyView {
  return {
    name: p.name,
    source_clusters: [...p.sourceClusters],
    destination_clusters: [...p.destinationClusters],
    source_agents: [...p.sourceAgents],
    destination_agents: [...p.destinationAgents],
    policy: p.action === 'rateLimit' ? 'rate_limit' : p.action,
    ...(p.action === 'rateLimit' ? { rate_limit_rps: p.rateLimitRps } : {}),
    encrypt: p.encrypt,
    ...(p.maxLatencyMs > 0 ? { max_latency_ms: p.maxLatencyMs } : {}),
  }
}

/** The request as a registry policy; refuses (400) what the routers could not enforce. */
export function policyFromRequest(b: ApplyBody): NetworkPolicy {
  if ((b.policy === 'rate_limit') !== (b.rate_limit_rps !== undefined)) {
    throw ApiError.invalid('rate_limit_rps is given exactly when policy is rate_limit')
  }
  const p: NetworkPolicy = {
    name: b.name,
    sourceClusters: b.source_clusters,
    destinationClusters: b.destination_clusters,
    sourceAgents: b.source_agents ?? [],
    destinationAgents: b.destination_agents ?? [],
    action: b.policy === 'rate_limit' ? 'rateLimit' : b.policy,
    rateLimitRps: b.rate_limit_rps ?? 0,
    encrypt: b.encrypt ?? true,
    maxLatencyMs: b.max_latency_ms ?? 0,
  }
  try {
    compileRegistryPolicy(p)
  } catch (err) {
    if (err instanceof PolicyError) throw ApiError.invalid(`policy "${p.name}": ${err.message}`)
    throw err
  }
  return p
}

export function policyRoutes(d: PolicyRoutesDeps): Route<unknown>[] {
  return [
    {
      method: 'GET',
      path: '/v1/policies',
      handler: (): PolicyListResponse => {
        const st = d.registry()
        return {
          in_force: d.policies.list(),
          registry: st
            ? [...st.policies.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(policyView)
            : null,
        }
      },
    },
    {
      method: 'POST',
      path: '/v1/policies',
      body: applyBody,
      handler: async ({ body }) => {
        const policy = policyFromRequest(body as ApplyBody)
        await d.write({ type: 'setPolicy', policy })
        return policyView(policy)
      },
    } as Route<unknown>,
    {
      method: 'DELETE',
      path: '/v1/policies/:name',
      handler: async ({ params }) => {
        const name = params.name ?? ''
        await d.write({ type: 'removePolicy', name })
        return { removed: name }
      },
    },
  ]
}
