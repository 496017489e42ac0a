// Network policies from the control-plane registry, in the guide's shape (NetworkPolicy: lists of source and
// destination clusters, optional lists of agents, allow / deny / rate_limit, encrypt, max_latency_ms),
// compiled for the same engine the config's policies use. Pure.
//
// Matching: a side matches when the party's cluster matches one of its cluster patterns AND, if agent
// patterns are given, its agent matches one of them ('*' in a pattern stands for any run of characters; a
// cluster pattern is tried against the cluster name the party's certificate carries). Order: the engine
// tries the config's policies first (the node operator's own, ordered list), then the registry's by name,
// then the default. A registry policy whose patterns do not compile is reported and left out, never fatal:
// the registry accepts any text, and one bad entry must not stop a router from enforcing the rest.

import type { NetworkPolicy } from '../protocols/registry/index.js'
import {
  type CompiledPolicy,
  GLOB_CHARS,
  globRegExp,
  MAX_GLOB_LENGTH,
  type Party,
  PolicyError,
  type Selector,
} from './engine.js'

function patterns(list: readonly string[], what: string): RegExp[] {
  return list.map((g) => {
    if (g.length === 0 || g.length > MAX_GLOB_LENGTH || !GLOB_CHARS.test(g)) {
      throw new PolicyError(
        'BAD_PATTERN',
        `${what} "${g}": 1..${MAX_GLOB_LENGTH} letters, digits, '.', '_', '-' or '*'`,
      )
    }
    return globRegExp(g)
  })
}

function side(clusters: readonly string[], agents: readonly string[], what: string): Selector {
  if (clusters.length === 0) throw new PolicyError('BAD_POLICY', `no ${what} clusters (use "*" for any)`)
  const c = patterns(clusters, `${what} cluster`)
  const a = patterns(agents, `${what} agent`)
  const glob = `{${clusters.join(',')}}${agents.length > 0 ? `/{${agents.join(',')}}` : ''}`
  return {
    kind: 'cluster',
    glob,
    matches: (p: Party) =>
      p.cluster !== '' &&
      c.some((re) => re.test(p.cluster)) &&
      (a.length === 0 || (p.agent !== '' && a.some((re) => re.test(p.agent)))),
  }
}

/** One registry policy for the engine; throws PolicyError saying what is wrong. */
export function compileRegistryPolicy(p: NetworkPolicy): CompiledPolicy {
  const rps = p.action === 'rateLimit' ? p.rateLimitRps : null
  if (rps !== null && !(rps > 0)) throw new PolicyError('BAD_POLICY', 'rate_limit needs rate_limit_rps > 0')
  return {
    name: p.name,
    source: side(p.sourceClusters, p.sourceAgents, 'source'),
    destination: side(p.destinationClusters, p.destinationAgents, 'destination'),
    allow: p.action !== 'deny',
    encrypt: p.encrypt,
    maxLatencyMs: p.maxLatencyMs > 0 ? p.maxLatencyMs : null,
    rateLimitRps: rps,
  }
}

/** The registry's policies in name order, compiled; the ones that do not compile come back as `refused`. */
export function compileRegistryPolicies(list: Iterable<NetworkPolicy>): {
  policies: CompiledPolicy[]
  refused: { name: string; reason: string }[]
} {
  const policies: CompiledPolicy[] = []
  const refused: { name: string; reason: string }[] = []
  for (const p of [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    try {
      policies.push(compileRegistryPolicy(p))
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err
      refused.push({ name: p.name, reason: err.message })
    }
  }
  return { policies, refused }
}
