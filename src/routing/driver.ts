// The routing driver: the I/O edge around the pure routing parts. It probes every neighbour on a timer
// (LinkMonitor, with probe datagrams that also answer the neighbour's: probe-wire.ts), originates and floods
// signed link-state records (LinkStateDb), recomputes best paths (RouteSelector) and publishes a
// RoutePlan for the WireGuard layer. Sockets are behind the RoutingTransport interface so the driver runs the
// same over real peer links and in tests.
//
// Probing is traffic-aware. A link is probed every probe interval while it is not up, for a watch interval
// after it came up, while it carries traffic (noteTraffic: WireGuard counters and bus bytes, from the daemon)
// and while it is suspected; an idle watch link (watch.ts: a matching, so every router is probed by one
// neighbour) every watch interval; any other idle link every idle interval, each with the dead-link timeout
// scaled alike. A quiet mesh thus sends about one watch link's probes per router plus a trickle on the others,
// whatever its size. A router may be gone when another router's record shows a link to it gone, or when its
// TCP lane closed (the daemon calls suspect(): the kernel of a killed daemon closes its lanes at once); each
// router then checks its own link to it at once (probes asking for immediate answers), so a dead router is
// marked down everywhere within about the dead-link timeout of its last answer. A router whose record shows
// its link to US gone is suspected the same way: the link may have failed for both ends while ours was idle,
// and at the idle pace this end would hold it up for the idle dead interval (and keep the outage's losses in
// its loss window after the link healed, with nothing to clear them). A link that is not up asks for
// an immediate answer (ANSWER_NOW), so a new or recovering link is measured in round trips rather than
// intervals. Silence is checked after every probe round and at the instant a link could be declared dead
// (LinkMonitor.downDeadline), so detection takes the dead interval, not that plus up to a round. Records are
// re-originated when a link comes up or goes down (at once), when metrics moved (LinkMonitor's thresholds; at
// most once per METRIC_HOLD_MS for the whole node, since each origination floods every link's metrics anyway)
// and otherwise every REFRESH_MS, a third of their maximum age. Flooding is reliable (peer-link streams), a
// record that came from its origin is not passed to routers the origin lists as linked (it sent them the
// record itself), and a new neighbour gets every record on link-up.
// A link whose reported RTT rose above the lowest it reported since it came up is re-measured at the fast pace
// (sampling only: its dead interval stays its pace's) until its price is back within a quarter and a
// millisecond of that floor, for at most REMEASURE_MS per rise. A link's price is the smallest of its recent
// samples, so a rise is either real or every sample of a window was delayed by loaded event loops (a CPU
// spike; 11 daemons starting on 2 cores: 50-400 ms on a 1 ms bridge); at the idle pace a loaded window
// outlived the load by up to the idle interval, with traffic relayed all that while. A link that came up
// during the load has no clean floor to compare with: a link younger than settleMs (default REMEASURE_MS) is
// also sampled fast until its recent samples agree (at least half a window, the largest at most twice the
// smallest plus 20 ms: a loaded window spreads far wider, timer noise on a quiet LAN does not), which on a
// quiet LAN is within its first fast period and after a load a few rounds after the load ended. Without it, in
// an 11-node mesh started on 2 cores, 6 to 9 of 10 routes per node were still relayed 5 s after every pair had
// pinged, all direct only 20 s later.

import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import type { KeyPair } from '../identity/index.js'
import { isDecodeError } from '../wire/index.js'
import { buildGraph, DEFAULT_COST, pathRttMicros } from './graph.js'
import { DEFAULT_REFRESH_INTERVAL_MS, LinkStateDb } from './lsdb.js'
import { type RouteChange, RouteSelector } from './paths.js'
import { planRoutes, type RoutePlan } from './plan.js'
import { type LinkEvent, type LinkMetrics, LinkMonitor } from './probe.js'
import { decodeProbe, encodeProbe, MASK_BITS, ProbeEcho } from './probe-wire.js'
import { SequenceAllocator, sealLinkState, upPeers } from './record.js'
import { watchPartners } from './watch.js'

export interface RoutingTransport {
  /** Sends a probe datagram to a neighbour (unreliable); false when it could not be sent (it counts as lost). */
  sendProbe(peer: string, datagram: Uint8Array): boolean
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
  /**
   * Probe interval of a link that is idle: no traffic noted (noteTraffic), not a watch link, up and not
   * suspected. Default 50 × probeIntervalMs; its dead-link timeout scales the same way.
   */
  idleProbeIntervalMs?: number
  /**
   * Probe interval of an idle watch link (watch.ts); at most idleProbeIntervalMs. Default 10 ×
   * probeIntervalMs; its dead-link timeout scales the same way.
   */
  watchProbeIntervalMs?: number
  /**
   * For how long after it came up a link is sampled at the fast pace while its samples disagree (see the
   * header). Default REMEASURE_MS; 0 turns it off.
   */
  settleMs?: number
  /** Wall clock for record ages (ms since epoch). */
  now?: () => number
  /** Monotonic clock (ms) for probes, paces and link timers; default performance.now. */
  monotonicNow?: () => number
}

export interface RoutingDriverEvents {
  plan: [plan: RoutePlan, changes: RouteChange[]]
  link: [event: LinkEvent]
  record: [status: string, origin: string | undefined]
}

/** What became of a probe datagram: taken, undecodable, or from a router that is not a neighbour (now). */
export type ProbeVerdict = 'accepted' | 'malformed' | 'not-linked'

const REFRESH_MS = DEFAULT_REFRESH_INTERVAL_MS
const METRIC_HOLD_MS = 2_000
/** Delays of the extra probes that check a suspected link (each asks for an answer at once). */
const SUSPECT_BURST_MS = [40, 80]
/** A link whose price rose is re-measured fast for at most this long per rise (see the header). */
const REMEASURE_MS = 30_000

/** How one link is probed now (see the header). */
interface Pace {
  /** Our probe interval on this link, ms. */
  interval: number
  /** The link stays fast until then (monotonic ms): traffic, a fresh link-up or a suspicion. */
  fastUntil: number
  lastSentAt: number
  replyDelayMs: number | undefined
  deadLinkTimeoutMs: number | undefined
  /** Lowest base RTT (µs) the link reported since it came up: what a risen price is judged against. */
  floorRtt: number | null
  /** Sampled at the fast pace until then: its price rose (see the header); 0 when it has not. */
  remeasureUntil: number
  /** Monotonic ms of the link's last link-up; a young link is sampled fast while its samples disagree. */
  upAt: number
}

export class RoutingDriver extends EventEmitter<RoutingDriverEvents> {
  readonly monitor: LinkMonitor
  readonly lsdb: LinkStateDb
  private readonly selector: RouteSelector
  private readonly seq = new SequenceAllocator(0)
  private readonly neighbours = new Set<string>()
  /** Per neighbour: our probe sequence and what we echo of theirs. */
  private readonly echoes = new Map<string, ProbeEcho>()
  /** Per neighbour: how it is probed. */
  private readonly paces = new Map<string, Pace>()
  /** Neighbours on our watch links (watch.ts). */
  private watch = new Set<string>()
  private readonly idleIntervalMs: number
  private readonly idleDeadMs: number
  private readonly watchIntervalMs: number
  private readonly watchDeadMs: number
  private lastOriginatedAt = Number.NEGATIVE_INFINITY
  private probeTimer: NodeJS.Timeout | null = null
  private refreshTimer: NodeJS.Timeout | null = null
  /** Fires when an up link could be declared dead (LinkMonitor.downDeadline). */
  private downTimer: NodeJS.Timeout | null = null
  /** A metric-driven origination waiting for METRIC_HOLD_MS since the last one. */
  private metricTimer: NodeJS.Timeout | null = null
  private recomputeQueued = false
  private current: RoutePlan = { peers: [], routes: [], issues: [] }
  private readonly now: () => number
  private readonly mono: () => number
  private stopped = false

  constructor(private readonly opts: RoutingDriverOptions) {
    super()
    this.now = opts.now ?? Date.now
    this.mono = opts.monotonicNow ?? (() => performance.now())
    this.idleIntervalMs = Math.max(
      opts.probeIntervalMs,
      opts.idleProbeIntervalMs ?? 50 * opts.probeIntervalMs,
    )
    this.watchIntervalMs = Math.min(
      this.idleIntervalMs,
      Math.max(opts.probeIntervalMs, opts.watchProbeIntervalMs ?? 10 * opts.probeIntervalMs),
    )
    const scaled = (interval: number) =>
      Math.round((opts.deadLinkTimeoutMs * interval) / opts.probeIntervalMs)
    this.idleDeadMs = scaled(this.idleIntervalMs)
    this.watchDeadMs = scaled(this.watchIntervalMs)
    this.monitor = new LinkMonitor({
      deadLinkTimeoutMs: opts.deadLinkTimeoutMs,
      // A neighbour answers our probe with its own next one, up to one of its intervals later; one whose
      // interval is longer than ours answers at once (onProbeDatagram), so ours bounds the wait.
      replyDelayMs: opts.probeIntervalMs,
      probeTimeoutMs: Math.max(opts.probeIntervalMs * 3, Math.floor(opts.deadLinkTimeoutMs / 2)),
      // Every metric change re-originates this router's link-state record, which every router then receives
      // once per neighbour. With 10 % / 1 ms a busy LAN re-originated every ~1.7 s per node (12 records/s in
      // at each node of a 5-node mesh); route choice needs neither that precision nor that rate. The graph's
      // hop cost covers the error this leaves in records (graph.ts), so the two stay one number.
      rttChangeRatio: 0.25,
      rttChangeMinMicros: DEFAULT_COST.hopCostMicros,
      minMetricIntervalMs: 2_000,
    })
    this.lsdb = new LinkStateDb({ localId: opts.localId, keyOf: opts.keyOf })
    this.selector = new RouteSelector(opts.localId)
  }

  start(): void {
    this.originate()
    this.probeTimer = setInterval(() => this.probeRound(), this.opts.probeIntervalMs)
    this.refreshTimer = setInterval(() => {
      if (this.now() - this.lastOriginatedAt >= REFRESH_MS) this.originate()
      const expired = this.lsdb.expire(this.now())
      if (expired.length > 0) this.scheduleRecompute()
    }, REFRESH_MS / 4)
  }

  stop(): void {
    this.stopped = true
    if (this.probeTimer) clearInterval(this.probeTimer)
    if (this.refreshTimer) clearInterval(this.refreshTimer)
    if (this.downTimer) clearTimeout(this.downTimer)
    if (this.metricTimer) clearTimeout(this.metricTimer)
    this.probeTimer = this.refreshTimer = this.downTimer = this.metricTimer = null
  }

  get plan(): RoutePlan {
    return this.current
  }

  /** The round trip the links of `path` (from this router) add up to in the current records, µs. */
  pathRtt(path: readonly string[]): number | undefined {
    return pathRttMicros((origin) => this.lsdb.get(origin)?.record, this.opts.localId, path)
  }

  metrics(peer: string): LinkMetrics | undefined {
    return this.monitor.metrics(peer)
  }

  /** A peer link came up: start probing it and give it everything we know. */
  neighbourUp(peer: string): void {
    this.neighbours.add(peer)
    this.echoes.set(peer, new ProbeEcho())
    this.monitor.addPeer(peer)
    const t = this.mono()
    this.paces.set(peer, {
      interval: this.opts.probeIntervalMs,
      // A new link is measured at the fast pace for a while: its first routes depend on those samples.
      fastUntil: t + this.watchIntervalMs,
      floorRtt: null,
      remeasureUntil: 0,
      upAt: Number.NEGATIVE_INFINITY,
      lastSentAt: Number.NEGATIVE_INFINITY,
      replyDelayMs: undefined,
      deadLinkTimeoutMs: undefined,
    })
    for (const s of this.lsdb.signedRecords()) this.opts.transport.sendRecord(peer, s.record.origin, s.bytes)
    // The new neighbour gets its WireGuard entry now, so its first handshake runs while probes bring the link up.
    this.scheduleRecompute()
    // A new link needs several answered probes to count as up; a short burst (each asking for an answer at
    // once) gets there in tens of ms instead of waiting for the regular probe rounds.
    this.probe(peer, this.mono())
    for (const delay of [5, 10, 20]) {
      setTimeout(() => {
        if (!this.stopped && this.neighbours.has(peer)) this.probe(peer, this.mono())
      }, delay).unref()
    }
  }

  /** A peer link closed: the link is down now, without waiting for probes to time out. */
  neighbourDown(peer: string): void {
    if (!this.neighbours.delete(peer)) return
    this.echoes.delete(peer)
    this.paces.delete(peer)
    this.monitor.removePeer(peer)
    this.originate()
  }

  /**
   * A probe datagram from a neighbour: its echo answers one of our probes (and its mask acknowledges earlier
   * ones), its seq is what our next probe echoes. One asking for an immediate answer gets it.
   */
  onProbeDatagram(peer: string, datagram: Uint8Array): ProbeVerdict {
    const echo = this.echoes.get(peer)
    if (!echo) return 'not-linked'
    let d: ReturnType<typeof decodeProbe>
    try {
      d = decodeProbe(datagram)
    } catch (err) {
      if (isDecodeError(err)) return 'malformed'
      throw err
    }
    const at = this.mono()
    const pace = this.paces.get(peer)
    const missing = echo.received(d.seq, at)
    if (missing !== null) this.monitor.onPeerProbe(peer, missing)
    if (d.echo !== 0) {
      const events = this.monitor.onProbeReply(peer, d.echo, at, d.heldMs)
      for (let i = 0; i < MASK_BITS; i++) {
        if (d.mask & (1 << i)) this.monitor.onProbeDelivered(peer, d.echo - 1 - i)
      }
      this.handleLinkEvents(events)
    }
    // Only a new probe is answered, and the answer never asks for one back: no ping-pong between two routers
    // whose links are both down, and a replayed datagram makes us send nothing. A neighbour that probes faster
    // than we do expects answers at its pace, so it gets each one at once.
    const hurry = d.answerNow || d.intervalMs < (pace?.interval ?? this.opts.probeIntervalMs)
    if (hurry && missing !== null) this.probe(peer, at, false)
    return 'accepted'
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
      const { origin } = r.signed.record
      // The origin sent its record to every neighbour it lists as up; from the origin itself, it goes on only
      // to the others. In a full mesh that makes a flood N-1 sends instead of (N-1)².
      const upNow = upPeers(r.signed.record)
      const sentByOrigin = peer === origin ? upNow : null
      for (const n of this.neighbours)
        if (n !== peer && n !== origin && !sentByOrigin?.has(n))
          this.opts.transport.sendRecord(n, origin, r.signed.bytes)
      if (r.previous) this.suspectLost(origin, upPeers(r.previous), upNow)
      this.scheduleRecompute()
    }
    return r.status
  }

  /**
   * Traffic crossed the link to `peer` (WireGuard counters, bus frames): probe it fast for a while, so a
   * silent failure of a link in use is noticed within the dead-link timeout.
   */
  noteTraffic(peer: string): void {
    const pace = this.paces.get(peer)
    if (!pace) return
    const t = this.mono()
    pace.fastUntil = Math.max(pace.fastUntil, t + Math.max(5_000, 2 * this.watchIntervalMs))
    if (pace.interval !== this.opts.probeIntervalMs) {
      this.applyPace(peer, pace, t)
      this.probe(peer, t)
    }
  }

  /** Our probe interval on the link to `peer` now (status, tests); undefined for a non-neighbour. */
  probeIntervalOf(peer: string): number | undefined {
    return this.paces.get(peer)?.interval
  }

  /** The neighbours on our watch links (watch.ts). */
  watching(): string[] {
    return [...this.watch]
  }

  /**
   * A router reported links as gone that it had up (a record's links against its previous one): each of those
   * routers may have died. Ours to it is checked at once (suspect), instead of at its slow idle pace, so a dead
   * router is marked down everywhere shortly after its watcher noticed.
   */
  private suspectLost(origin: string, previousUp: ReadonlySet<string>, upNow: ReadonlySet<string>): void {
    for (const lost of previousUp) {
      if (!upNow.has(lost)) this.suspect(lost === this.opts.localId ? origin : lost)
    }
  }

  /**
   * `peer` may be gone (another router's record lost it, or its TCP lane closed: the kernel of a killed
   * daemon closes it at once): the link is probed fast from now, with probes asking for immediate answers,
   * so it is declared dead within the dead-link timeout of its last reply if nothing answers, and stays up
   * at the cost of a few probes if the peer does. A link probed fast already needs nothing.
   */
  suspect(peer: string): void {
    const pace = this.paces.get(peer)
    if (!pace || this.monitor.state(peer) !== 'up') return
    const t = this.mono()
    // A link fast for traffic already is checked at the dead-link timeout; it stays fast long enough for that.
    pace.fastUntil = Math.max(pace.fastUntil, t + this.watchIntervalMs)
    if (pace.interval === this.opts.probeIntervalMs) return
    this.applyPace(peer, pace, t)
    this.probe(peer, t, true)
    for (const delay of SUSPECT_BURST_MS) {
      setTimeout(() => {
        if (this.stopped || !this.neighbours.has(peer)) return
        const at = this.mono()
        this.probe(peer, at, true)
        // With this probe out, silence may be declarable before the next round: wake up then.
        this.armDownCheck(at)
      }, delay).unref()
    }
    this.armDownCheck(t)
  }

  /**
   * Sets a link's probe interval from its state (fast while not up, in use or suspected; the watch interval
   * on an idle watch link; idle otherwise) and tells the monitor what pace to expect back.
   */
  private applyPace(peer: string, pace: Pace, t: number): void {
    const fast = t < pace.fastUntil || this.monitor.state(peer) !== 'up'
    const watched = this.watch.has(peer)
    const sampling = fast || t < pace.remeasureUntil || this.unsettled(peer, pace, t)
    pace.interval = sampling
      ? this.opts.probeIntervalMs
      : watched
        ? this.watchIntervalMs
        : this.idleIntervalMs
    // A peer that probes more slowly than we do answers at once, one as fast or faster with its next probe,
    // so it holds ours for at most our interval. Its own interval would be a tighter bound only if we knew it:
    // what we know is the interval of its last probe, and both ends of a link often change pace together (the
    // watch matching, traffic, a fast period ending): a peer that just slowed down to our idle pace holds our
    // probe for up to that interval, and min(ours, its last) counted each such held answer as a lost probe
    // (a loss flooded in records, routes moved to relays at idle, until its next probe forgave it).
    const replyDelayMs = pace.interval
    const deadLinkTimeoutMs = fast ? undefined : watched ? this.watchDeadMs : this.idleDeadMs
    if (replyDelayMs === pace.replyDelayMs && deadLinkTimeoutMs === pace.deadLinkTimeoutMs) return
    pace.replyDelayMs = replyDelayMs
    pace.deadLinkTimeoutMs = deadLinkTimeoutMs
    this.monitor.setPace(peer, { replyDelayMs, deadLinkTimeoutMs })
  }

  /** Origins whose records we hold, for status output. */
  knownRouters(): string[] {
    return this.lsdb.records().map((r) => r.origin)
  }

  private probeRound(): void {
    const t = this.mono()
    for (const peer of this.neighbours) {
      const pace = this.paces.get(peer)
      if (!pace) continue
      this.applyPace(peer, pace, t)
      // Rounds come every fast interval: an idle link is probed on the round nearest its own interval.
      if (t - pace.lastSentAt >= pace.interval - this.opts.probeIntervalMs / 2) this.probe(peer, t)
    }
    this.handleLinkEvents(this.monitor.tick(t))
    this.armDownCheck(t)
  }

  /** Ticks again when an up link could be declared dead; replies only move that later (one early wake-up). */
  private armDownCheck(now: number): void {
    if (this.downTimer) clearTimeout(this.downTimer)
    this.downTimer = null
    const at = this.monitor.downDeadline(now)
    if (at === undefined || this.stopped) return
    this.downTimer = setTimeout(
      () => {
        this.downTimer = null
        const t = this.mono()
        this.handleLinkEvents(this.monitor.tick(t))
        this.armDownCheck(t)
      },
      Math.ceil(at - now),
    )
    this.downTimer.unref()
  }

  /**
   * Sends one probe; it asks for an immediate answer while the link is not up (or when `ask` is true), unless
   * it is an answer itself (`ask` false).
   */
  private probe(peer: string, at: number, ask?: boolean): void {
    const echo = this.echoes.get(peer)
    if (!echo) return
    const seq = echo.takeSeq()
    const answerNow = ask ?? this.monitor.state(peer) !== 'up'
    this.monitor.onProbeSent(peer, seq, at, answerNow)
    const pace = this.paces.get(peer)
    if (pace) pace.lastSentAt = at
    const interval = pace?.interval ?? this.opts.probeIntervalMs
    const intervalMs = Math.min(0xffff, Math.max(1, Math.round(interval)))
    this.opts.transport.sendProbe(peer, encodeProbe({ answerNow, seq, ...echo.echoAt(at), intervalMs }))
  }

  private handleLinkEvents(events: LinkEvent[]): void {
    if (events.length === 0) return
    for (const e of events) {
      this.remeasure(e)
      this.emit('link', e)
    }
    if (events.some((e) => e.type !== 'metric-changed')) this.originate()
    else this.originateSoon()
  }

  /** Follows a link's reported price against its floor: re-measured fast while it sits above (see the header). */
  private remeasure(e: LinkEvent): void {
    const pace = this.paces.get(e.peer)
    const base = e.metrics.baseRttMicros
    if (!pace || base === null) return
    if (e.type === 'link-up') {
      pace.floorRtt = base
      pace.remeasureUntil = 0
      pace.upAt = this.mono()
      return
    }
    if (e.type !== 'metric-changed') return
    if (pace.floorRtt === null || base < pace.floorRtt) pace.floorRtt = base
    const t = this.mono()
    if (base <= pace.floorRtt * 1.25 + 1000) pace.remeasureUntil = 0
    else if (pace.remeasureUntil === 0) pace.remeasureUntil = t + REMEASURE_MS
    this.applyPace(e.peer, pace, t)
  }

  /**
   * A link that came up less than settleMs ago without recent samples that agree (half a window at least,
   * the largest at most twice the smallest plus 20 ms): its price may be a loaded window's, so it is sampled fast
   * until they do (see the header).
   */
  private unsettled(peer: string, pace: Pace, t: number): boolean {
    return t - pace.upAt < (this.opts.settleMs ?? REMEASURE_MS) && !this.monitor.samplesAgree(peer, 1, 20_000)
  }

  /** Originates for metric changes now, or once METRIC_HOLD_MS has passed since the last origination. */
  private originateSoon(): void {
    if (this.metricTimer || this.stopped) return
    const wait = this.lastOriginatedAt + METRIC_HOLD_MS - this.now()
    if (wait <= 0) {
      this.originate()
      return
    }
    this.metricTimer = setTimeout(() => {
      this.metricTimer = null
      this.originate()
    }, wait)
    this.metricTimer.unref()
  }

  /** Signs a fresh record of our links and floods it; link up/down must reach everyone at once. */
  private originate(): void {
    if (this.stopped) return
    // This record carries every link's current metrics: a pending metric-driven origination is done too.
    if (this.metricTimer) clearTimeout(this.metricTimer)
    this.metricTimer = null
    const issuedAt = this.now()
    this.lastOriginatedAt = issuedAt
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
      this.watch = new Set(watchPartners(graph, this.opts.localId))
      const { table, changes } = this.selector.update(graph)
      this.current = planRoutes({
        localId: this.opts.localId,
        routes: table,
        // Every router with an up peer link keeps its WireGuard entry, also while probes hold the routing link
        // down: its session survives, and the route coming back only moves addresses (plan.ts).
        neighbours: this.neighbours,
        addressesOf: this.opts.addressesOf,
      })
      this.emit('plan', this.current, changes)
    })
  }
}
