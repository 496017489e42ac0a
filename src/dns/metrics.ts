// Prometheus metrics of the mesh DNS server. Queries are counted in a typed array on the hot path and handed to
// prom-client when the registry is scraped (a labelled Counter#inc per query would cost more than answering it);
// the exported values are the same, just settled at scrape time.

import { Counter, Gauge, type Registry } from 'prom-client'
import { Rcode, RRType, rcodeLabel, typeLabel } from './constants.js'
import { MALFORMED_REASONS, type MalformedReason } from './errors.js'

const TYPES: readonly number[] = [0, ...Object.values(RRType)]
const RCODE_SLOTS = 32

export type ForwardResult = 'answered' | 'timeout' | 'overloaded' | 'error'

export class DnsMetrics {
  private readonly typeIndex = new Uint8Array(65536)
  private readonly pending = new Float64Array(TYPES.length * RCODE_SLOTS)
  private readonly totals = new Float64Array(TYPES.length * RCODE_SLOTS)
  private readonly malformedCounts = new Map<MalformedReason, number>(MALFORMED_REASONS.map((r) => [r, 0]))
  private readonly queries: Counter<'type' | 'rcode'>
  private readonly malformedTotal: Counter<'reason'>
  private readonly forwarded: Counter<'result'>
  readonly tcpConnections: Gauge<string>
  readonly tcpRejected: Counter<string>

  constructor(registry: Registry) {
    TYPES.forEach((t, i) => {
      if (t !== 0) this.typeIndex[t] = i
    })
    const flush = (): void => this.flush()
    this.queries = new Counter({
      name: 'blackroad_dns_queries_total',
      help: 'DNS queries answered, by query type and response code',
      labelNames: ['type', 'rcode'],
      registers: [registry],
      collect: flush,
    })
    this.malformedTotal = new Counter({
      name: 'blackroad_dns_malformed_total',
      help: 'DNS packets that were not well-formed queries, by reason (answered FORMERR/NOTIMP or dropped)',
      labelNames: ['reason'],
      registers: [registry],
    })
    for (const r of MALFORMED_REASONS) this.malformedTotal.inc({ reason: r }, 0)
    this.forwarded = new Counter({
      name: 'blackroad_dns_forwarded_total',
      help: 'Queries outside the mesh zone forwarded to dns.upstream, by result',
      labelNames: ['result'],
      registers: [registry],
    })
    this.tcpConnections = new Gauge({
      name: 'blackroad_dns_tcp_connections',
      help: 'Open DNS-over-TCP connections',
      registers: [registry],
    })
    this.tcpRejected = new Counter({
      name: 'blackroad_dns_tcp_rejected_total',
      help: 'DNS-over-TCP connections closed at once because the connection limit was reached',
      registers: [registry],
    })
  }

  /** One answered query. Hot path: two array writes. */
  query(qtype: number, rcode: number): void {
    const slot = this.typeIndex[qtype]! * RCODE_SLOTS + (rcode & (RCODE_SLOTS - 1))
    this.pending[slot]!++
    this.totals[slot]!++
  }

  malformed(reason: MalformedReason): void {
    this.malformedCounts.set(reason, (this.malformedCounts.get(reason) ?? 0) + 1)
    this.malformedTotal.inc({ reason })
  }

  forward(result: ForwardResult): void {
    this.forwarded.inc({ result })
  }

  /** Malformed packets seen, for one reason or all. */
  malformedCount(reason?: MalformedReason): number {
    if (reason !== undefined) return this.malformedCounts.get(reason) ?? 0
    let n = 0
    for (const v of this.malformedCounts.values()) n += v
    return n
  }

  /** Answered queries, optionally of one type (number) and/or rcode (number, BADVERS = 16). */
  queryCount(qtype?: number, rcode?: number): number {
    let n = 0
    for (let i = 0; i < TYPES.length; i++) {
      if (qtype !== undefined && i !== this.typeIndex[qtype]) continue
      for (let r = 0; r < RCODE_SLOTS; r++) {
        if (rcode !== undefined && r !== rcode) continue
        n += this.totals[i * RCODE_SLOTS + r]!
      }
    }
    return n
  }

  private flush(): void {
    for (let i = 0; i < this.pending.length; i++) {
      const v = this.pending[i]!
      if (v === 0) continue
      this.pending[i] = 0
      const t = TYPES[Math.floor(i / RCODE_SLOTS)]!
      const r = i % RCODE_SLOTS
      this.queries.inc(
        { type: t === 0 ? 'OTHER' : typeLabel(t), rcode: r === Rcode.BADVERS ? 'BADVERS' : rcodeLabel(r) },
        v,
      )
    }
  }
}
