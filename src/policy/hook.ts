// The bus's policy enforcement point on top of the engine: turns an envelope into parties (the source and
// destination nodes' cluster and region come from a directory, in the daemon the certificate book, since node
// certificates carry them), asks the engine, and counts every decision in
// blackroad_policy_decisions_total{policy,decision,direction}. The engine and directory can be swapped at run
// time (a config reload), the hook stays the one the bus was built with. Every bus message passes here (twice
// on its way: ingress at the sender, egress at the receiver), so a decision bumps a plain number and
// prom-client reads the tallies when scraped: a labelled Counter.inc hashes its labels on every call, which
// showed as a tenth of a daemon's CPU in the `bus` suite's profile.

import { Counter, type Registry } from 'prom-client'
import type { Envelope, PolicyDecision, PolicyDirection, PolicyHook } from '../bus/index.js'
import type { Party, PathInfo, PolicyEngine, PolicyOutcome } from './engine.js'

export interface NodeFacts {
  name: string
  cluster: string
  region: string
}

/** Who a node is, as far as this router knows; undefined for a node without a known certificate. */
export type NodeDirectory = (nodeId: string) => NodeFacts | undefined

export interface PolicyPointOptions {
  selfId: string
  engine: PolicyEngine
  directory: NodeDirectory
  path: PathInfo
  now: () => number
  registry?: Registry
  /**
   * Agents of the routers' own protocols (the control plane's `_raft`): messages to them are not user
   * traffic and pass every policy, counted as `_system`. Their receivers authenticate and validate what they
   * get, so a user's message addressed there gains nothing; a policy between clusters must not cut the
   * control plane's replication between them.
   */
  systemAgents?: readonly string[]
}

const ALLOW: PolicyDecision = Object.freeze({ allow: true })
const DEFAULT_ALLOW_INGRESS = '_default\u0000allow\u0000ingress'
const DEFAULT_ALLOW_EGRESS = '_default\u0000allow\u0000egress'

export class PolicyPoint {
  engine: PolicyEngine
  directory: NodeDirectory
  path: PathInfo
  private readonly selfId: string
  private readonly now: () => number
  private readonly system: ReadonlySet<string>
  /** Decisions by `policy\0decision\0direction` (objects, so the hot path bumps a field). */
  private readonly tally = new Map<string, { n: number }>()

  constructor(opts: PolicyPointOptions) {
    this.selfId = opts.selfId
    this.engine = opts.engine
    this.directory = opts.directory
    this.path = opts.path
    this.now = opts.now
    this.system = new Set(opts.systemAgents ?? [])
    if (opts.registry === undefined) return
    const tally = this.tally
    new Counter({
      name: 'blackroad_policy_decisions_total',
      help: 'Bus policy decisions by deciding policy (_default when none matched), decision (allow, deny, rate_limited, latency_exceeded, unencrypted) and direction (ingress, egress)',
      labelNames: ['policy', 'decision', 'direction'],
      registers: [opts.registry],
      collect() {
        this.reset()
        for (const [key, c] of tally) {
          const [policy, decision, direction] = key.split('\u0000') as [string, string, string]
          this.inc({ policy, decision, direction }, c.n)
        }
      },
    })
  }

  /** The function to give the bus (BusOptions.policy). */
  readonly hook: PolicyHook = (env, direction) => this.check(env, direction)

  check(env: Envelope, direction: PolicyDirection): PolicyDecision {
    if (env.agent !== '' && this.system.has(env.agent)) {
      this.count('_system', 'allow', direction)
      return ALLOW
    }
    const engine = this.engine
    if (engine.policies.length === 0 && engine.defaultAllow) {
      this.count('_default', 'allow', direction)
      return ALLOW
    }
    const src = this.party(env.srcNode, env.srcAgent)
    const now = this.now()
    let v: ReturnType<PolicyEngine['decide']>
    if (direction === 'egress')
      v = engine.decide(src, this.party(this.selfId, env.agent), direction, this.path, now)
    else {
      const to = env.to
      v =
        to.length === 1
          ? engine.decide(src, this.party(to[0]!, env.agent), direction, this.path, now)
          : engine.decideMany(
              src,
              to.map((n) => this.party(n, env.agent)),
              direction,
              this.path,
              now,
            )
    }
    this.count(v.policy, v.outcome, direction)
    if (v.allow) return ALLOW
    return {
      allow: false,
      code: v.code ?? 'POLICY_DENIED',
      reason: v.reason ?? `denied by policy "${v.policy}"`,
    }
  }

  private party(node: string, agent: string): Party {
    const f = this.directory(node)
    return { node, agent, nodeName: f?.name ?? '', cluster: f?.cluster ?? '', region: f?.region ?? '' }
  }

  private count(policy: string, decision: PolicyOutcome, direction: PolicyDirection): void {
    // The default-allow key is built once per direction: no string concatenation per message.
    const key =
      policy === '_default' && decision === 'allow'
        ? direction === 'ingress'
          ? DEFAULT_ALLOW_INGRESS
          : DEFAULT_ALLOW_EGRESS
        : `${policy}\u0000${decision}\u0000${direction}`
    const c = this.tally.get(key)
    if (c === undefined) this.tally.set(key, { n: 1 })
    else c.n++
  }
}
