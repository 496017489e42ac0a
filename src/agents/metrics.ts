// Counters of the bus stream connections and local agents: what an operator needs to see when a client is
// slow, floods, or sends garbage. Kept as plain numbers too, so the API (`GET /v1/bus/sessions`) can show them
// without scraping Prometheus.

import { Counter, Gauge, type Registry } from 'prom-client'

export type StreamDropReason = 'slow_consumer' | 'reply_evicted'
export type StreamErrorCode = string

export class StreamMetrics {
  readonly totals = {
    connections: 0,
    open: 0,
    frames_in: 0,
    frames_out: 0,
    malformed: 0,
    dropped_slow_consumer: 0,
    dropped_reply_evicted: 0,
    disconnected_slow_consumer: 0,
    disconnected_malformed: 0,
    errors: 0,
  }
  private readonly open?: Gauge
  private readonly connections?: Counter
  private readonly dropped?: Counter<'reason'>
  private readonly errors?: Counter<'code'>
  private readonly agents?: Gauge

  constructor(registry?: Registry, agentCount?: () => number) {
    if (registry === undefined) return
    const registers = [registry]
    this.open = new Gauge({
      name: 'blackroad_bus_stream_sessions',
      help: 'Open bus stream connections',
      registers,
    })
    this.connections = new Counter({
      name: 'blackroad_bus_stream_connections_total',
      help: 'Bus stream connections accepted',
      registers,
    })
    const totals = this.totals
    // Read from the totals when scraped: a labelled inc() per socket read and per write cost about as much
    // as the rest of the session's bookkeeping for a request.
    new Counter({
      name: 'blackroad_bus_stream_frames_total',
      help: 'Bus stream frames by direction (in = from clients)',
      labelNames: ['direction'],
      registers,
      collect() {
        this.reset()
        this.inc({ direction: 'in' }, totals.frames_in)
        this.inc({ direction: 'out' }, totals.frames_out)
      },
    })
    this.dropped = new Counter({
      name: 'blackroad_bus_stream_dropped_total',
      help: 'Messages a bus stream connection did not get: slow_consumer (its queue was full), reply_evicted',
      labelNames: ['reason'],
      registers,
    })
    this.errors = new Counter({
      name: 'blackroad_bus_stream_errors_total',
      help: 'ERROR frames sent to bus stream clients, by code (MALFORMED_FRAME, SLOW_CONSUMER, bus codes...)',
      labelNames: ['code'],
      registers,
    })
    this.agents = new Gauge({
      name: 'blackroad_agents_registered',
      help: 'Agents registered on this node over the local socket',
      registers,
      collect() {
        this.set(agentCount?.() ?? 0)
      },
    })
    void this.agents
  }

  opened(): void {
    this.totals.connections++
    this.totals.open++
    this.connections?.inc()
    this.open?.inc()
  }

  closed(): void {
    this.totals.open--
    this.open?.dec()
  }

  /** Frame counts are added in bulk (per data chunk / per flush) to keep the hot path cheap. */
  framesIn(n: number): void {
    this.totals.frames_in += n
  }

  framesOut(n: number): void {
    this.totals.frames_out += n
  }

  drop(reason: StreamDropReason, n = 1): void {
    if (reason === 'slow_consumer') this.totals.dropped_slow_consumer += n
    else this.totals.dropped_reply_evicted += n
    this.dropped?.inc({ reason }, n)
  }

  error(code: StreamErrorCode): void {
    this.totals.errors++
    if (code === 'MALFORMED_FRAME') this.totals.malformed++
    this.errors?.inc({ code })
  }

  disconnected(code: 'SLOW_CONSUMER' | 'MALFORMED_FRAME'): void {
    if (code === 'SLOW_CONSUMER') this.totals.disconnected_slow_consumer++
    else this.totals.disconnected_malformed++
  }
}
