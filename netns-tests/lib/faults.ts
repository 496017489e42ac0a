// Fault injection on a link: delay (with jitter), random loss and silent cuts, per direction. The kernel here has
// no sch_netem, so everything is done with iptables in the link's own namespaces:
//   - each direction of a link is hooked where its packets can be seen: on the sender's egress
//     (mangle POSTROUTING -o IF) when the sender is a host, or on the receiver's ingress (mangle PREROUTING -i IF)
//     when the sender is a bridge (bridged frames never traverse iptables);
//   - the hook jumps to a chain of our own, brt...-o / brt...-i, holding in order: DROP (cut), a
//     `statistic --mode random` DROP (loss), NFQUEUE (delay, held by nfqdelay);
//   - every change rewrites that chain atomically with iptables-restore --noflush (declaring a chain flushes it),
//     so no packet ever sees a half-built rule set, and no rule is added in the root namespace.
// A cut drops everything in both directions at the IP layer with no carrier change, like a dead path between
// switches; ARP still resolves, so restoring it brings traffic back at once.
//
// Caveat worth knowing: a delay applied on ingress happens after the kernel stamped the packet's receive time,
// so `ping` run on that same host reports it only with -U (probes.ts does that). Applications see it fully.

import { DelayHolder } from './delay.js'
import { HarnessError } from './errors.js'
import type { ExecOptions, ExecResult } from './exec.js'

export interface DirectionState {
  /** One-way delay added to every packet, ms. */
  delayMs: number
  /** Uniform spread around delayMs (never reorders: nfqdelay keeps FIFO order), ms. */
  jitterMs: number
  /** Probability of dropping each packet, percent. */
  lossPct: number
  /** Drop everything. */
  cut: boolean
}

export const NO_FAULTS: Readonly<DirectionState> = Object.freeze({
  delayMs: 0,
  jitterMs: 0,
  lossPct: 0,
  cut: false,
})

/** Where one direction's rules live. */
export interface FaultHook {
  ns: string
  iface: string
  hook: 'egress' | 'ingress'
  /** NFQUEUE number, unique within ns. */
  queue: number
}

export interface FaultDirection {
  /** Labels for messages: the sending and receiving node's names. */
  from: string
  to: string
  hook: FaultHook
  state: DirectionState
  installed: boolean
}

/** What the fault code needs from the lab (kept narrow so this file knows nothing of hosts and bridges). */
export interface FaultEnv {
  execIn(ns: string, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>
  logPath(base: string): string
  trackHolder(h: DelayHolder): void
}

function chainName(h: FaultHook): string {
  return `${h.iface}-${h.hook === 'egress' ? 'o' : 'i'}`
}

/** iptables-restore input that (re)writes one direction's chain; the jump is added only once. */
export function renderRules(d: FaultDirection): string {
  const ch = chainName(d.hook)
  const lines = ['*mangle', `:${ch} - [0:0]`]
  if (!d.installed) {
    lines.push(
      d.hook.hook === 'egress'
        ? `-A POSTROUTING -o ${d.hook.iface} -j ${ch}`
        : `-A PREROUTING -i ${d.hook.iface} -j ${ch}`,
    )
  }
  if (d.state.cut) lines.push(`-A ${ch} -j DROP`)
  if (d.state.lossPct > 0) {
    lines.push(
      `-A ${ch} -m statistic --mode random --probability ${(d.state.lossPct / 100).toFixed(6)} -j DROP`,
    )
  }
  if (d.state.delayMs > 0 || d.state.jitterMs > 0)
    lines.push(`-A ${ch} -j NFQUEUE --queue-num ${d.hook.queue}`)
  lines.push('COMMIT', '')
  return lines.join('\n')
}

function checkState(s: DirectionState): void {
  const bad = (what: string) => {
    throw new HarnessError('FAULT', `invalid ${what}: ${JSON.stringify(s)}`)
  }
  if (!(s.delayMs >= 0 && s.delayMs <= 60_000)) bad('delayMs (0..60000)')
  if (!(s.jitterMs >= 0 && s.jitterMs <= 60_000)) bad('jitterMs (0..60000)')
  if (!(s.lossPct >= 0 && s.lossPct <= 100)) bad('lossPct (0..100)')
}

export class LinkFaults {
  readonly directions: readonly FaultDirection[]
  private readonly env: FaultEnv
  private readonly holders = new Map<string, DelayHolder>()
  private chain: Promise<unknown> = Promise.resolve()

  constructor(env: FaultEnv, directions: FaultDirection[]) {
    this.env = env
    this.directions = directions
  }

  /**
   * Applies a change to the directions selected by `which` (all when undefined). Changes are serialized, so
   * concurrent calls on one link apply in call order. Resolves when the new rules and delays are in force.
   */
  update(change: Partial<DirectionState>, which?: (d: FaultDirection) => boolean): Promise<void> {
    const run = () => this.apply(change, which)
    const p = this.chain.then(run, run)
    this.chain = p.catch(() => {})
    return p
  }

  /** The holder serving a namespace of this link (for tests that want nfqdelay's counters). */
  holderIn(ns: string): DelayHolder | undefined {
    return this.holders.get(ns)
  }

  private async apply(
    change: Partial<DirectionState>,
    which?: (d: FaultDirection) => boolean,
  ): Promise<void> {
    const selected = this.directions.filter((d) => which === undefined || which(d))
    if (selected.length === 0) throw new HarnessError('FAULT', 'no link direction matches the selection')
    for (const d of selected) checkState({ ...d.state, ...change })
    for (const d of selected) d.state = { ...d.state, ...change }
    const byNs = new Map<string, FaultDirection[]>()
    for (const d of selected) byNs.set(d.hook.ns, [...(byNs.get(d.hook.ns) ?? []), d])
    await Promise.all([...byNs].map(([ns, dirs]) => this.applyInNamespace(ns, dirs)))
  }

  private async applyInNamespace(ns: string, dirs: FaultDirection[]): Promise<void> {
    const delayed = (d: FaultDirection) => d.state.delayMs > 0 || d.state.jitterMs > 0
    let holder = this.holders.get(ns)
    if (holder === undefined && dirs.some(delayed)) {
      // One holder per (link, namespace), serving every direction of this link hooked there, so later changes
      // are a stdin command rather than a new process.
      const all = this.directions.filter((d) => d.hook.ns === ns)
      const queues = all.map((d) => ({
        queue: d.hook.queue,
        delayMs: d.state.delayMs,
        jitterMs: d.state.jitterMs,
      }))
      holder = await DelayHolder.start(ns, queues, this.env.logPath(`nfqdelay.${all[0]!.hook.iface}`))
      this.env.trackHolder(holder)
      this.holders.set(ns, holder)
    } else if (holder !== undefined) {
      for (const d of dirs)
        await holder.setDelay({ queue: d.hook.queue, delayMs: d.state.delayMs, jitterMs: d.state.jitterMs })
    }
    // Both families: a cut or loss must hit IPv6 (and neighbour discovery) as well as IPv4.
    const rules = dirs.map(renderRules).join('')
    const r = await this.env.execIn(
      ns,
      [
        'sh',
        '-c',
        'iptables-restore -w --noflush && printf %s "$BRT_RULES" | ip6tables-restore -w --noflush',
      ],
      {
        input: rules,
        env: { BRT_RULES: rules },
        timeoutMs: 15_000,
      },
    )
    if (!r.ok) {
      throw new HarnessError(
        'FAULT',
        `installing link faults in ${ns} failed: ${r.stderr.trim() || r.stdout.trim()}`,
        { rules },
      )
    }
    for (const d of dirs) d.installed = true
  }
}
