// The routing driver: the I/O edge around the pure routing parts. It probes every neighbour on a timer
// (LinkMonitor), originates and floods signed link-state records (LinkStateDb), recomputes paths with
// hysteresis (RouteSelector) and publishes a RoutePlan for the WireGuard layer. Sockets are behind the
// RoutingTransport interface so the driver runs the same over real peer links and in tests.

import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import type { KeyPair } from '../identity/index.js'
import { buildGraph } from './graph.js'
import { LinkStateDb } from './lsdb.js'
import { planRoutes, type RoutePlan } from './plan.js'
import { type RouteChange, RouteSelector } from './paths.js'
import { type LinkEvent, type LinkMetrics, LinkMonitor } from './probe.js'
import { sealLinkState, SequenceAllocator } from './record.js'

export interface RoutingTransport {
  /** Sends a probe frame to a neighbour; false when the link is gone or congested (the probe counts as lost). */
  sendProbe(peer: string, frame: Uint8Array): boolean
  /** Sends link-state record bytes (of `origin`) to one neighbour. */
  sendRecord(peer: string, origin: string, record: Uint8Array): void
}

export interface RoutingDriverOptions {
  localId: string
  nodeKey: KeyPair
  /** Node key of a router, from its verified certificate; undefined for unknown or revoked routers. */
  keyOf: (nodeId: string) => Uint8Array | undefined
  /** Mesh prefixes of a router, from its verified certificate. */
  addressesOf: (nodeId: string) => readonly string[]
  transport: RoutingTransport
  probeIntervalMs: number
  deadLinkTimeoutMs: number
  /** Wall clock for record ages (ms since epoch). */
  now?: () => number
}

export interface RoutingDriverEvents {
  plan: [plan: RoutePlan, changes: RouteChange[]]
  link: [event: LinkEvent]
  record: [status: string, origin: string | undefined]
}

const PROBE_PING = 1
const PROBE_PONG = 2
const REFRESH_MS = 20_000

export class RoutingDriver extends EventEmitter<RoutingDriverEvents> {
  readonly monitor: LinkMonitor
  readonly lsdb: LinkStateDb
  private readonly selector: RouteSelector
  private readonly seq = new SequenceAllocator(0)
  private readonly neighbours = new Set<string>()
  private probeSeq = 0
  private probeTimer: NodeJS.Timeout | null = null
  private refreshTimer: NodeJS.Timeout | null = null
  private recomputeQueued = false
  private current: RoutePlan = { peers: [], routes: [], issues: [] }
  private readonly now: () => number
  private stopped = false

  constructor(private readonly opts: RoutingDriverOptions) {
    super()
    this.now = opts.now ?? Date.now
    this.monitor = new LinkMonitor({
      deadLinkTimeoutMs: opts.deadLinkTimeoutMs,
      probeTimeoutMs: Math.max(opts.probeIntervalMs * 2, Math.floor(opts.deadLinkTimeoutMs / 2)),
      // Every metric change re-originates this router's link-state record, which every router then receives
      // once per neighbour. With 10 % / 1 ms a busy LAN re-originated every ~1.7 s per node (12 records/s in
      // at each node of a 5-node mesh); route choice needs neither that precision nor that rate.
      rttChangeRatio: 0.25,
      rttChangeMinMicros: 5_000,
      minMetricIntervalMs: 2_000,
    })
    this.lsdb = new LinkStateDb({ localId: opts.localId, keyOf: opts.keyOf })
    this.selector = new RouteSelector(opts.localId)
  }

  start(): void {
    this.originate()
    this.probeTimer = setInterval(() => this.probeRound(), this.opts.probeIntervalMs)
    this.refreshTimer = setInterval(() => {
      this.originate()
      const expired = this.lsdb.expire(this.now())
      if (expired.length > 0) this.scheduleRecompute()
    }, REFRESH_MS / 4)
  }

  stop(): void {
    this.stopped = true
    if (this.probeTimer) clearInterval(this.probeTimer)
    if (this.refreshTimer) clearInterval(this.refreshTimer)
    this.probeTimer = null
    this.refreshTimer = null
  }

  get plan(): RoutePlan {
    return this.current
  }

  metrics(peer: string): LinkMetrics | undefined {
    return this.monitor.metrics(peer)
  }

  /** A peer link came up: start probing it and give it everything we know. */
  neighbourUp(peer: string): void {
    this.neighbours.add(peer)
    this.monitor.addPeer(peer)
    for (const s of this.lsdb.signedRecords()) this.opts.transport.sendRecord(peer, s.record.origin, s.bytes)
    // A new link needs several answered probes to count as up; a short burst gets there in tens of ms
    // instead of waiting for the regular probe rounds.
    this.probe(peer, performance.now())
    for (const delay of [15, 30, 45]) {
      setTimeout(() => {
        if (!this.stopped && this.neighbours.has(peer)) this.probe(peer, performance.now())
      }, delay).unref()
    }
  }

  /** A peer link closed: the link is down now, without waiting for probes to time out. */
  neighbourDown(peer: string): void {
    if (!this.neighbours.delete(peer)) return
    this.monitor.removePeer(peer)
    this.originate()
  }

  onProbeFrame(peer: string, frame: Uint8Array): void {
    if (frame.length !== 5) return
    const seq = ((frame[1]! << 24) | (frame[2]! << 16) | (frame[3]! << 8) | frame[4]!) >>> 0
    if (frame[0] === PROBE_PING) {
      const pong = Uint8Array.from(frame)
      pong[0] = PROBE_PONG
      this.opts.transport.sendProbe(peer, pong)
    } else if (frame[0] === PROBE_PONG && this.neighbours.has(peer)) {
      this.handleLinkEvents(this.monitor.onProbeReply(peer, seq, performance.now()))
    }
  }

  /** A link-state record from a neighbour; floods it on when it is new. Returns the receive status. */
  onRecord(peer: string, bytes: Uint8Array): string {
    const r = this.lsdb.receive(bytes, this.now())
    this.emit('record', r.status, r.origin)
    if (r.selfSeqSeen !== undefined) {
      this.seq.observe(r.selfSeqSeen)
      this.originate()
    }
    if (r.status === 'accepted' && r.signed) {
      for (const n of this.neighbours) if (n !== peer) this.opts.transport.sendRecord(n, r.signed.record.origin, r.signed.bytes)
      this.scheduleRecompute()
    }
    return r.status
  }

  /** Origins whose records we hold, for status output. */
  knownRouters(): string[] {
    return this.lsdb.records().map((r) => r.origin)
  }

  private probeRound(): void {
    const t = performance.now()
    for (const peer of this.neighbours) this.probe(peer, t)
    this.handleLinkEvents(this.monitor.tick(t))
  }

  private probe(peer: string, at: number): void {
    this.probeSeq = (this.probeSeq + 1) >>> 0
    const seq = this.probeSeq
    this.monitor.onProbeSent(peer, seq, at)
    const frame = new Uint8Array([PROBE_PING, seq >>> 24, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff])
    this.opts.transport.sendProbe(peer, frame)
  }

  private handleLinkEvents(events: LinkEvent[]): void {
    if (events.length === 0) return
    for (const e of events) this.emit('link', e)
    this.originate()
  }

  /** Signs a fresh record of our links and floods it; link up/down must reach everyone at once. */
  private originate(): void {
    if (this.stopped) return
    const issuedAt = this.now()
    const signed = sealLinkState(
      {
        origin: this.opts.localId,
        seq: this.seq.next(issuedAt),
        issuedAt,
        links: this.monitor.linkReports(),
        addresses: [...this.opts.addressesOf(this.opts.localId)],
      },
      this.opts.nodeKey,
    )
    this.lsdb.installLocal(signed)
    for (const n of this.neighbours) this.opts.transport.sendRecord(n, this.opts.localId, signed.bytes)
    this.scheduleRecompute()
  }

  private scheduleRecompute(): void {
    if (this.recomputeQueued || this.stopped) return
    this.recomputeQueued = true
    setImmediate(() => {
      this.recomputeQueued = false
      if (this.stopped) return
      const graph = buildGraph(this.lsdb.records())
      const { table, changes } = this.selector.update(graph)
      this.current = planRoutes({
        localId: this.opts.localId,
        routes: table,
        neighbours: graph.adj.get(this.opts.localId)?.keys() ?? [],
        addressesOf: this.opts.addressesOf,
      })
      this.emit('plan', this.current, changes)
    })
  }
}
