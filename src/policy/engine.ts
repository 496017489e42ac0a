// Network policies (the guide's NetworkPolicy): allow / deny / rate-limit bus traffic by source and
// destination cluster, agent or node pattern, with an optional path latency bound and the encryption rule.
// Pure: the caller hands in who sends, who receives, the path's latency and the time; no sockets, no clock.
//
// Semantics (the same at ingress, where a message enters the bus, and at egress, the destination router):
//   - policies are tried in their configured order and the FIRST one whose source and destination both match
//     decides (firewall style: the operator orders them; no hidden specificity ranking). Nothing matching
//     falls to the default, allow unless configured otherwise (mesh.default_policy: deny);
//   - a selector is kind/glob: cluster/<glob> matches the party's cluster (from its node certificate),
//     node/<glob> its node name or node id, agent/<glob> its agent name. Messages sent by a router or the CLI
//     (no agent) and subject publishes to subscribers (no destination agent) have no agent and match no
//     agent/ selector. '*' in a glob stands for any run of characters, everything else is literal;
//   - allow: false denies (POLICY_DENIED); rate_limit_rps allows up to that many messages per second per
//     (policy, sending node and agent), in bursts of one second, and refuses the rest (RATE_LIMITED). Each
//     router keeps its own buckets, separately per direction, so the destination router enforces the limit
//     even against a sender whose own router is configured without it;
//   - max_latency_ms refuses the message when routing's path latency to the far end (the destination at
//     ingress, the source at egress) is above the bound; an unknown latency (no route yet) does not refuse;
//   - encrypt: true requires that the path to the far end is encrypted. Every peer link is Noise-encrypted
//     (hyperswarm) and local delivery never leaves the process, so today it always holds; the check is kept
//     behind PathInfo.encrypted so a plaintext transport, if one is ever added, is refused here.

export type SelectorKind = 'cluster' | 'agent' | 'node'
export type Direction = 'ingress' | 'egress'

export class PolicyError extends Error {
  override readonly name = 'PolicyError'
  constructor(
    readonly code: 'BAD_PATTERN' | 'BAD_POLICY' | 'DUPLICATE_POLICY',
    message: string,
  ) {
    super(message)
  }
}

export interface PolicySpec {
  name: string
  source: string
  destination: string
  allow?: boolean
  encrypt?: boolean
  max_latency_ms?: number
  rate_limit_rps?: number
}

/** One end of a message: a node (with what its certificate says) and, when there is one, an agent on it. */
export interface Party {
  node: string
  nodeName: string
  cluster: string
  region: string
  /** '' for the router itself or a subject's subscribers. */
  agent: string
}

/** What routing knows about the path to a node, asked only when a matching policy needs it. */
export interface PathInfo {
  /** Path latency in milliseconds; null when unknown. */
  latencyMs(node: string): number | null
  encrypted(node: string): boolean
}

export type PolicyOutcome = 'allow' | 'deny' | 'rate_limited' | 'latency_exceeded' | 'unencrypted'

export interface Verdict {
  allow: boolean
  /** The deciding policy's name, or DEFAULT_POLICY when none matched. */
  policy: string
  outcome: PolicyOutcome
  /** Present when refused: the bus error code and a reason naming the policy. */
  code?: 'POLICY_DENIED' | 'RATE_LIMITED'
  reason?: string
}

export const DEFAULT_POLICY = '_default'
const MAX_MATCH_MEMO = 16_384
const MAX_GLOB = 128
export const GLOB_CHARS = /^[A-Za-z0-9*._-]+$/
export const MAX_GLOB_LENGTH = MAX_GLOB

export interface Selector {
  readonly kind: SelectorKind
  readonly glob: string
  matches(p: Party): boolean
}

/** Parses `kind/glob`; throws PolicyError BAD_PATTERN with what is wrong. */
export function parseSelector(text: string): Selector {
  if (typeof text !== 'string') throw new PolicyError('BAD_PATTERN', 'a selector must be a string')
  const slash = text.indexOf('/')
  if (slash < 0)
    throw new PolicyError('BAD_PATTERN', `"${text}": expected cluster/<glob>, agent/<glob> or node/<glob>`)
  const kind = text.slice(0, slash)
  const glob = text.slice(slash + 1)
  if (kind !== 'cluster' && kind !== 'agent' && kind !== 'node')
    throw new PolicyError('BAD_PATTERN', `"${text}": unknown kind "${kind}" (cluster, agent or node)`)
  if (glob.length === 0)
    throw new PolicyError('BAD_PATTERN', `"${text}": the pattern after "${kind}/" is empty`)
  if (glob.length > MAX_GLOB)
    throw new PolicyError('BAD_PATTERN', `"${text}": pattern longer than ${MAX_GLOB}`)
  if (!GLOB_CHARS.test(glob))
    throw new PolicyError(
      'BAD_PATTERN',
      `"${text}": only letters, digits, '.', '_', '-' and '*' may appear in a pattern`,
    )
  const re = globRegExp(glob)
  const test = (s: string) => s !== '' && re.test(s)
  const matches =
    kind === 'cluster'
      ? (p: Party) => test(p.cluster)
      : kind === 'agent'
        ? (p: Party) => test(p.agent)
        : (p: Party) => test(p.nodeName) || test(p.node)
  return { kind, glob, matches }
}

export function globRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.]/g, '\\.'))
    .join('.*')
  return new RegExp(`^${body}$`)
}

export interface CompiledPolicy {
  readonly name: string
  readonly source: Selector
  readonly destination: Selector
  readonly allow: boolean
  readonly encrypt: boolean
  readonly maxLatencyMs: number | null
  readonly rateLimitRps: number | null
}

export function compilePolicies(specs: readonly PolicySpec[]): CompiledPolicy[] {
  const seen = new Set<string>()
  return specs.map((s, i) => {
    if (typeof s.name !== 'string' || s.name.length === 0 || s.name.length > 64)
      throw new PolicyError('BAD_POLICY', `policy ${i}: name must be 1..64 characters`)
    if (seen.has(s.name)) throw new PolicyError('DUPLICATE_POLICY', `policy "${s.name}" is defined twice`)
    seen.add(s.name)
    const where = (e: unknown) =>
      new PolicyError('BAD_PATTERN', `policy "${s.name}": ${(e as Error).message}`)
    let source: Selector
    let destination: Selector
    try {
      source = parseSelector(s.source)
      destination = parseSelector(s.destination)
    } catch (e) {
      throw where(e)
    }
    const allow = s.allow ?? true
    const rps = s.rate_limit_rps ?? null
    if (rps !== null && !(Number.isFinite(rps) && rps > 0))
      throw new PolicyError('BAD_POLICY', `policy "${s.name}": rate_limit_rps must be a positive number`)
    if (rps !== null && !allow)
      throw new PolicyError('BAD_POLICY', `policy "${s.name}": rate_limit_rps needs allow: true`)
    const lat = s.max_latency_ms ?? null
    if (lat !== null && !(Number.isFinite(lat) && lat > 0))
      throw new PolicyError('BAD_POLICY', `policy "${s.name}": max_latency_ms must be a positive number`)
    return {
      name: s.name,
      source,
      destination,
      allow,
      encrypt: s.encrypt ?? true,
      maxLatencyMs: lat,
      rateLimitRps: rps,
    }
  })
}

interface Bucket {
  tokens: number
  at: number
}

export interface PolicyEngineOptions {
  /** What a message no policy matches gets; default true (allow). */
  defaultAllow?: boolean
  /** Already compiled policies tried after `specs`, in this order (the registry's; see registry-policies.ts). */
  extra?: readonly CompiledPolicy[]
  /** Rate-limit buckets kept per direction; beyond it the oldest is forgotten. Default 65,536. */
  maxBuckets?: number
}

export class PolicyEngine {
  readonly policies: readonly CompiledPolicy[]
  readonly defaultAllow: boolean
  private readonly maxBuckets: number
  private readonly buckets: Record<Direction, Map<string, Bucket>> = { ingress: new Map(), egress: new Map() }
  private readonly matches = new Map<string, CompiledPolicy | null>()

  constructor(specs: readonly PolicySpec[], opts: PolicyEngineOptions = {}) {
    this.policies = [...compilePolicies(specs), ...(opts.extra ?? [])]
    this.defaultAllow = opts.defaultAllow ?? true
    this.maxBuckets = opts.maxBuckets ?? 65_536
  }

  /**
   * The first policy matching src -> dst, or null. Remembered per distinct pair of parties (the same few
   * node/agent pairs repeat on the hot path; a pair is its full description, so a changed certificate is a
   * new key), in a table cleared when it reaches its bound.
   */
  match(src: Party, dst: Party): CompiledPolicy | null {
    if (this.policies.length === 0) return null
    const key = `${src.node}\u0000${src.nodeName}\u0000${src.cluster}\u0000${src.agent}\u0000${dst.node}\u0000${dst.nodeName}\u0000${dst.cluster}\u0000${dst.agent}`
    const held = this.matches.get(key)
    if (held !== undefined) return held
    let found: CompiledPolicy | null = null
    for (const p of this.policies) {
      if (p.source.matches(src) && p.destination.matches(dst)) {
        found = p
        break
      }
    }
    if (this.matches.size >= MAX_MATCH_MEMO) this.matches.clear()
    this.matches.set(key, found)
    return found
  }

  /**
   * Decides one message from `src` to `dst`. `far` is the node whose path matters (the destination at
   * ingress, the source at egress). `now` is milliseconds on any monotonic clock.
   */
  decide(src: Party, dst: Party, direction: Direction, path: PathInfo, now: number): Verdict {
    const p = this.match(src, dst)
    const far = direction === 'ingress' ? dst.node : src.node
    const v = this.judge(p, src, far, path)
    if (!v.allow || p === null || p.rateLimitRps === null) return v
    return this.take(p, src, direction, now) ? v : limited(p)
  }

  /**
   * Decides a message fanned out to several destinations (a subject publish at ingress): each destination
   * is judged, each rate-limit policy involved takes one token for the message. Allowed when at least one
   * destination is allowed (the refused ones are refused again, and dropped, at their own routers); refused
   * with the first destination's refusal when none is.
   */
  decideMany(src: Party, dsts: readonly Party[], direction: Direction, path: PathInfo, now: number): Verdict {
    if (dsts.length === 1) return this.decide(src, dsts[0]!, direction, path, now)
    let firstAllowed: Verdict | null = null
    let firstRefused: Verdict | null = null
    const charged = new Map<CompiledPolicy, boolean>()
    for (const dst of dsts) {
      const p = this.match(src, dst)
      let v = this.judge(p, src, direction === 'ingress' ? dst.node : src.node, path)
      if (v.allow && p !== null && p.rateLimitRps !== null) {
        let ok = charged.get(p)
        if (ok === undefined) {
          ok = this.take(p, src, direction, now)
          charged.set(p, ok)
        }
        if (!ok) v = limited(p)
      }
      if (v.allow) firstAllowed ??= v
      else firstRefused ??= v
    }
    return firstAllowed ?? firstRefused ?? this.judge(null, src, src.node, path)
  }

  /** Forgets every rate-limit bucket (after a reload). */
  resetBuckets(): void {
    this.buckets.ingress.clear()
    this.buckets.egress.clear()
  }

  bucketCount(direction: Direction): number {
    return this.buckets[direction].size
  }

  private judge(p: CompiledPolicy | null, src: Party, far: string, path: PathInfo): Verdict {
    if (p === null) {
      return this.defaultAllow
        ? { allow: true, policy: DEFAULT_POLICY, outcome: 'allow' }
        : {
            allow: false,
            policy: DEFAULT_POLICY,
            outcome: 'deny',
            code: 'POLICY_DENIED',
            reason: `no policy allows ${describe(src)} here and the default policy is deny`,
          }
    }
    if (!p.allow)
      return {
        allow: false,
        policy: p.name,
        outcome: 'deny',
        code: 'POLICY_DENIED',
        reason: `denied by policy "${p.name}"`,
      }
    if (p.encrypt && !path.encrypted(far))
      return {
        allow: false,
        policy: p.name,
        outcome: 'unencrypted',
        code: 'POLICY_DENIED',
        reason: `policy "${p.name}" requires encryption and the path to ${far} is not encrypted`,
      }
    if (p.maxLatencyMs !== null) {
      const ms = path.latencyMs(far)
      if (ms !== null && ms > p.maxLatencyMs)
        return {
          allow: false,
          policy: p.name,
          outcome: 'latency_exceeded',
          code: 'POLICY_DENIED',
          reason: `policy "${p.name}" allows at most ${p.maxLatencyMs} ms and the path to ${far} takes ${Math.round(ms * 10) / 10} ms`,
        }
    }
    return { allow: true, policy: p.name, outcome: 'allow' }
  }

  /** Token bucket per (policy, sender): capacity one second's worth (at least 1), refilled continuously. */
  private take(p: CompiledPolicy, src: Party, direction: Direction, now: number): boolean {
    const rps = p.rateLimitRps!
    const capacity = Math.max(1, rps)
    const map = this.buckets[direction]
    const key = `${p.name}\u0000${src.node}\u0000${src.agent}`
    let b = map.get(key)
    if (b === undefined) {
      if (map.size >= this.maxBuckets) {
        const oldest = map.keys().next().value
        if (oldest !== undefined) map.delete(oldest)
      }
      b = { tokens: capacity, at: now }
      map.set(key, b)
    } else {
      const elapsed = Math.max(0, now - b.at)
      b.tokens = Math.min(capacity, b.tokens + (elapsed * rps) / 1000)
      b.at = now
    }
    if (b.tokens >= 1) {
      b.tokens -= 1
      return true
    }
    return false
  }
}

function limited(p: CompiledPolicy): Verdict {
  return {
    allow: false,
    policy: p.name,
    outcome: 'rate_limited',
    code: 'RATE_LIMITED',
    reason: `policy "${p.name}" allows ${p.rateLimitRps} messages per second and the sender is over it`,
  }
}

function describe(p: Party): string {
  const who = p.agent ? `agent ${p.agent} on ` : ''
  return `${who}${p.nodeName || p.node}${p.cluster ? ` (cluster ${p.cluster})` : ''}`
}
