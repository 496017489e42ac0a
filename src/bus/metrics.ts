// Bus metrics on an injected prom-client Registry. The hot path only bumps plain numbers in nested Maps;
// prom-client sees them when scraped (collect callbacks), because a labelled Counter.inc costs a label
// hash per call, which at hundreds of thousands of messages a second would be a visible share of the CPU.
//
// Labels: `link` is a peer id or "local" (the node's own clients); `prefix` is a subject's first token, or
// "_agent", "_node", "_reply", "_ack" for messages without a subject. Prefixes are user-chosen strings, so
// only the first MAX_PREFIXES distinct ones get their own label; the rest count as "_other".

import { Counter, Gauge, type Registry } from 'prom-client'
import { DROP_REASONS, type DropReason } from './errors.js'

export const MAX_PREFIXES = 64
const OTHER = '_other'

/** Counts by two labels; counters are objects so the hot path increments a field, not a Map entry. */
type Tally = Map<string, Map<string, { n: number }>>

function bump(t: Tally, a: string, b: string, by = 1): void {
  let inner = t.get(a)
  if (inner === undefined) {
    inner = new Map()
    t.set(a, inner)
  }
  const c = inner.get(b)
  if (c === undefined) inner.set(b, { n: by })
  else c.n += by
}

export interface QueueSample {
  link: string
  count: number
  bytes: number
}

/** What the router reports; tests read the same numbers through `snapshot()`. */
export class BusMetrics {
  private readonly inTally: Tally = new Map()
  private readonly outTally: Tally = new Map()
  private readonly dropTally: Tally = new Map()
  private readonly prefixMemo = new Map<string, string>()
  private readonly knownPrefixes = new Set<string>()
  private retryCount = 0
  private queues: () => QueueSample[] = () => []
  private gauges: () => { pendingRequests: number; pendingAcks: number; blockedSends: number } = () => ({
    pendingRequests: 0,
    pendingAcks: 0,
    blockedSends: 0,
  })

  constructor(registry?: Registry) {
    if (registry !== undefined) this.register(registry)
  }

  /** The label for a subject ('' = a message without one, labelled by `kind`). */
  prefix(subject: string, kind: string): string {
    if (subject === '') return kind
    const hit = this.prefixMemo.get(subject)
    if (hit !== undefined) return hit
    const dot = subject.indexOf('.')
    const first = dot < 0 ? subject : subject.slice(0, dot)
    let label = OTHER
    if (this.knownPrefixes.has(first) || this.knownPrefixes.size < MAX_PREFIXES) {
      this.knownPrefixes.add(first)
      label = first
    }
    // Subjects are unbounded; forget the memo rather than let it grow.
    if (this.prefixMemo.size >= 4096) this.prefixMemo.clear()
    this.prefixMemo.set(subject, label)
    return label
  }

  in(link: string, prefix: string, n = 1): void {
    bump(this.inTally, link, prefix, n)
  }

  out(link: string, prefix: string, n = 1): void {
    bump(this.outTally, link, prefix, n)
  }

  dropped(reason: DropReason, prefix: string, n = 1): void {
    bump(this.dropTally, reason, prefix, n)
  }

  retried(): void {
    this.retryCount++
  }

  /** Where queue depths and pending counts are read from at scrape time. */
  sources(
    queues: () => QueueSample[],
    gauges: () => { pendingRequests: number; pendingAcks: number; blockedSends: number },
  ): void {
    this.queues = queues
    this.gauges = gauges
  }

  /** Totals as plain numbers: in/out by `link/prefix`, dropped by `reason/prefix`. */
  snapshot(): {
    in: Record<string, number>
    out: Record<string, number>
    dropped: Record<string, number>
    retries: number
  } {
    const flat = (t: Tally) => {
      const o: Record<string, number> = {}
      for (const [a, inner] of t) for (const [b, c] of inner) o[`${a}/${b}`] = c.n
      return o
    }
    return {
      in: flat(this.inTally),
      out: flat(this.outTally),
      dropped: flat(this.dropTally),
      retries: this.retryCount,
    }
  }

  /** Sum of drops for one reason over all prefixes. */
  droppedTotal(reason: DropReason): number {
    let n = 0
    for (const c of this.dropTally.get(reason)?.values() ?? []) n += c.n
    return n
  }

  private register(registry: Registry): void {
    const self = this
    const fromTally = (c: Counter<string>, t: Tally, a: string, b: string) => {
      c.reset()
      for (const [x, inner] of t) for (const [y, v] of inner) c.inc({ [a]: x, [b]: y }, v.n)
    }
    new Counter({
      name: 'blackroad_bus_messages_in_total',
      help: 'Bus messages received, by link (peer id or "local" for local clients) and subject prefix',
      labelNames: ['link', 'prefix'],
      registers: [registry],
      collect() {
        fromTally(this, self.inTally, 'link', 'prefix')
      },
    })
    new Counter({
      name: 'blackroad_bus_messages_out_total',
      help: 'Bus messages queued to a link or delivered to local clients ("local"), by subject prefix',
      labelNames: ['link', 'prefix'],
      registers: [registry],
      collect() {
        fromTally(this, self.outTally, 'link', 'prefix')
      },
    })
    new Counter({
      name: 'blackroad_bus_messages_dropped_total',
      help: `Bus messages dropped, by reason (${DROP_REASONS.join(', ')}) and subject prefix`,
      labelNames: ['reason', 'prefix'],
      registers: [registry],
      collect() {
        fromTally(this, self.dropTally, 'reason', 'prefix')
      },
    })
    new Counter({
      name: 'blackroad_bus_retries_total',
      help: 'Retransmissions of at-least-once messages whose ack did not come in time',
      registers: [registry],
      collect() {
        this.reset()
        this.inc(self.retryCount)
      },
    })
    new Gauge({
      name: 'blackroad_bus_queue_depth',
      help: 'Messages waiting in the send queue of each link',
      labelNames: ['link'],
      registers: [registry],
      collect() {
        this.reset()
        for (const q of self.queues()) this.set({ link: q.link }, q.count)
      },
    })
    new Gauge({
      name: 'blackroad_bus_queue_bytes',
      help: 'Bytes waiting in the send queue of each link',
      labelNames: ['link'],
      registers: [registry],
      collect() {
        this.reset()
        for (const q of self.queues()) this.set({ link: q.link }, q.bytes)
      },
    })
    new Gauge({
      name: 'blackroad_bus_pending',
      help: 'Operations in flight: requests awaiting a reply, sends awaiting acks, sends blocked on full queues',
      labelNames: ['kind'],
      registers: [registry],
      collect() {
        const g = self.gauges()
        this.set({ kind: 'requests' }, g.pendingRequests)
        this.set({ kind: 'acks' }, g.pendingAcks)
        this.set({ kind: 'blocked_sends' }, g.blockedSends)
      },
    })
  }
}

export type { DropReason }
