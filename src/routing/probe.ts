// Link metrics from probes: smoothed RTT, jitter, loss and liveness per linked peer. Pure: the driver sends
// probes on its own timer (about every 200 ms), reports each send and reply here with times from ONE monotonic
// clock in milliseconds (performance.now()), and calls tick() often enough or at nextDeadline(). What comes
// back are events for the driver to act on: link-down/link-up re-originate the link-state record at once,
// metric-changed does too, soon (the thresholds keep that from happening on every probe). downDeadline() says
// when silence could next be declared, so the driver need not wait for its next probe round to notice.
//
// A reply may be held by the peer before it leaves (probe-wire.ts: each probe answers the peer's latest one
// when the peer's own next probe goes out, up to replyDelayMs later, and says how long it held it). The RTT
// sample subtracts that hold, and the grace an unanswered probe gets includes replyDelayMs. A probe that was
// overtaken before the peer answered is acknowledged without a sample (onProbeDelivered), so it is not lost;
// nor is one whose answer came after probeTimeoutMs (see loss below).
// Only these replies make a link alive: a link whose probes go unanswered goes down whatever else still
// arrives from that peer (stream traffic, the peer's own probes).
//
// Liveness: an up link goes down when no reply arrived for deadLinkTimeoutMs (1 s by default, 5 probe
// intervals) AND at least minUnansweredProbes probes older than a grace period are unanswered. The second
// condition is why a stalled driver (event loop blocked, laptop suspended) does not declare every link dead on
// wake-up: silence only counts when we were actually asking. A down link comes back after upAfterReplies
// consecutive replies, which damps flapping links without a separate hold-down timer.
//
// The dead interval scales with the link: silence counts only past max(deadLinkTimeoutMs, 3 srtt + 4 jitter),
// the way TCP's retransmission timeout follows srtt + 4 rttvar. On a LAN or a 50 ms WAN path that is the
// configured second; on a link whose round trips have become slow (a Pi or a host so loaded that replies
// take 300 ms) three missed round trips are needed, so overload does not turn into link flaps, route churn
// and WireGuard reconfigurations that load it further. Measured here: an 11-node mesh on 2 busy cores had
// srtt 300-450 ms on a bridge and, with the fixed interval, links flapping for a minute before converging.
//
// Estimators: srtt is an EWMA with gain 1/8 (RFC 6298); jitter is RFC 3550's mean deviation of successive RTT
// samples with gain 1/16. What records carry, and routes are chosen by, is the base RTT: the smallest of the
// last RTT_WINDOW samples. A sample measures the path plus whatever delayed the two event loops, and under
// load the latter dominates (during a join of 11 daemons on 2 cores srtt reached 270 ms on a 1 ms bridge, and
// traffic went through relays whose samples happened to be less delayed); the minimum keeps the path's latency
// and drops the noise, as a delay-based congestion controller takes its min RTT. A link that really became
// slower shows it once a window of samples is slower. Loss is of round trips, 1 - (1 - out)(1 - back): `out`
// is the fraction of the last lossWindow resolved probes of ours the peer did not acknowledge within
// probeTimeoutMs, less those whose answer came later after all (a late answer gives no RTT sample and no
// liveness, but the probe was not lost: counting CPU contention as loss kept a quiet 5-node mesh re-flooding
// records as such "losses" from its start-up left its loss windows one by one, at the idle probe pace); `back`
// is the fraction of the peer's last lossWindow probes that never reached us (gaps in its sequence,
// onPeerProbe). Coming back up clears the loss history and srtt restarts from the first new sample: the outage
// says nothing about the link that returns.

import { checkOption } from './errors.js'
import { LossWindow } from './loss-window.js'
import type { LinkReport } from './record.js'

export interface LinkMonitorOptions {
  deadLinkTimeoutMs?: number
  upAfterReplies?: number
  minUnansweredProbes?: number
  probeTimeoutMs?: number
  /** How long the peer may hold a reply before sending it (its probe interval when replies ride on probes). */
  replyDelayMs?: number
  lossWindow?: number
  maxOutstanding?: number
  /** metric-changed fires when srtt moved by more than max(ratio × reported, minMicros) since last reported… */
  rttChangeRatio?: number
  rttChangeMinMicros?: number
  /** …or loss moved by at least this many permille. */
  lossChangePermille?: number
  /** At most one metric-changed per peer in this interval (each one floods a record); up/down never wait. */
  minMetricIntervalMs?: number
}

export type LinkState = 'up' | 'down'

export interface LinkMetrics {
  peer: string
  state: LinkState
  /** Smoothed RTT in µs; null before the first sample. */
  srttMicros: number | null
  /** Smallest of the last RTT_WINDOW samples in µs (what records carry: see the header); null before one. */
  baseRttMicros: number | null
  jitterMicros: number
  lossPermille: number
  /** Monotonic ms of the last reply; null if none yet. */
  lastReplyAt: number | null
  /** Replies counted since the peer was added. */
  replies: number
  consecutiveReplies: number
}

export type LinkEventType = 'link-up' | 'link-down' | 'metric-changed'

export interface LinkEvent {
  type: LinkEventType
  peer: string
  at: number
  metrics: LinkMetrics
}

/** One of our probes still waiting for its answer. */
interface Sent {
  at: number
  /** It asked for an immediate answer (ANSWER_NOW): its grace has no hold in it. */
  asked: boolean
}

interface PeerState {
  state: LinkState
  /** seq -> our probe, in send order. */
  outstanding: Map<number, Sent>
  srtt: number | null
  reinit: boolean
  jitter: number
  lastSample: number | null
  /** The latest RTT samples (µs), oldest first, at most RTT_WINDOW. */
  recent: number[]
  /** Our probes: acknowledged (0) or lost (1). */
  out: LossWindow
  /** Our probes counted lost (timed out) whose answer may still come: seq -> their index in `out`. */
  timedOut: Map<number, number>
  /** The peer's probes: arrived (0) or missing from its sequence (1). */
  back: LossWindow
  lastReplyAt: number | null
  /** Send time of the newest answered probe: only probes sent after it count against the link. */
  lastAnsweredSentAt: number
  lostSinceReply: number
  consecutive: number
  replies: number
  reportedRtt: number
  reportedLoss: number
  lastMetricEventAt: number
  /** Per-link pace (setPace); undefined = the monitor's options. */
  replyDelayMs: number | undefined
  deadLinkTimeoutMs: number | undefined
}

/** Samples the base RTT is the minimum of. */
const RTT_WINDOW = 8
const RTT_GAIN = 1 / 8
const JITTER_GAIN = 1 / 16
/** Unanswered probes younger than this never count toward down: they may still be in flight. */
const MIN_GRACE_MS = 20
/** Round trips of silence a link always gets before it is declared dead, however short deadLinkTimeoutMs is. */
const DEAD_RTTS = 3

export class LinkMonitor {
  readonly deadLinkTimeoutMs: number
  readonly upAfterReplies: number
  readonly minUnansweredProbes: number
  readonly probeTimeoutMs: number
  readonly replyDelayMs: number
  readonly lossWindow: number
  readonly maxOutstanding: number
  private readonly rttChangeRatio: number
  private readonly rttChangeMinMicros: number
  private readonly lossChangePermille: number
  private readonly minMetricIntervalMs: number
  private readonly peers = new Map<string, PeerState>()

  constructor(opts: LinkMonitorOptions = {}) {
    this.deadLinkTimeoutMs = checkOption('deadLinkTimeoutMs', opts.deadLinkTimeoutMs ?? 1000, 1)
    this.upAfterReplies = checkOption('upAfterReplies', opts.upAfterReplies ?? 3, 1, 1000)
    this.minUnansweredProbes = checkOption('minUnansweredProbes', opts.minUnansweredProbes ?? 2, 0, 1000)
    this.probeTimeoutMs = checkOption('probeTimeoutMs', opts.probeTimeoutMs ?? this.deadLinkTimeoutMs, 1)
    this.replyDelayMs = checkOption('replyDelayMs', opts.replyDelayMs ?? 0, 0)
    this.lossWindow = checkOption('lossWindow', opts.lossWindow ?? 50, 1, 10_000)
    this.maxOutstanding = checkOption('maxOutstanding', opts.maxOutstanding ?? 64, 1, 10_000)
    this.rttChangeRatio = checkOption('rttChangeRatio', opts.rttChangeRatio ?? 0.1, 0)
    this.rttChangeMinMicros = checkOption('rttChangeMinMicros', opts.rttChangeMinMicros ?? 1000, 0)
    this.lossChangePermille = checkOption('lossChangePermille', opts.lossChangePermille ?? 20, 1, 1000)
    this.minMetricIntervalMs = checkOption('minMetricIntervalMs', opts.minMetricIntervalMs ?? 1000, 0)
  }

  /** Starts tracking a peer (also implied by the first probe). It starts down until it has answered. */
  addPeer(peer: string): void {
    if (this.peers.has(peer)) return
    this.peers.set(peer, {
      state: 'down',
      outstanding: new Map(),
      srtt: null,
      reinit: false,
      jitter: 0,
      lastSample: null,
      recent: [],
      out: new LossWindow(this.lossWindow),
      timedOut: new Map(),
      back: new LossWindow(this.lossWindow),
      lastReplyAt: null,
      lastAnsweredSentAt: Number.NEGATIVE_INFINITY,
      lostSinceReply: 0,
      consecutive: 0,
      replies: 0,
      reportedRtt: 0,
      reportedLoss: 0,
      lastMetricEventAt: Number.NEGATIVE_INFINITY,
      replyDelayMs: undefined,
      deadLinkTimeoutMs: undefined,
    })
  }

  /**
   * Sets one link's pace: how long the peer may hold a reply (its probe interval when answers ride on its own
   * probes, 0 when it answers at once) and the silence after which the link is dead. A link probed slowly
   * because it carries no traffic gets a longer dead interval; one probed fast again gets the options' values
   * back (undefined). Probes already out are judged by the new pace.
   */
  setPace(peer: string, pace: { replyDelayMs?: number; deadLinkTimeoutMs?: number }): void {
    const p = this.peers.get(peer)
    if (!p) return
    const before = p.replyDelayMs ?? this.replyDelayMs
    p.replyDelayMs = pace.replyDelayMs
    p.deadLinkTimeoutMs = pace.deadLinkTimeoutMs
    // Probes sent at a slower pace may still be held by the peer for its next probe: judged by a shorter
    // hold they would count as unanswered at once. They are forgotten (neither lost nor answered); the probes
    // sent from now on decide.
    if ((p.replyDelayMs ?? this.replyDelayMs) < before) {
      for (const [seq, sent] of p.outstanding) if (sent.at > p.lastAnsweredSentAt) p.outstanding.delete(seq)
    }
  }

  /** The peer link closed or the peer left: forget it. No event; the driver knows why. */
  removePeer(peer: string): boolean {
    return this.peers.delete(peer)
  }

  peerIds(): string[] {
    return [...this.peers.keys()].sort()
  }

  /** Our probe `seq` left at `at`; `asked`: it asks for an immediate answer (ANSWER_NOW). */
  onProbeSent(peer: string, seq: number, at: number, asked = false): void {
    this.addPeer(peer)
    const p = this.peers.get(peer)!
    const reused = p.outstanding.get(seq)
    p.timedOut.delete(seq)
    if (reused !== undefined) {
      // A reused sequence number: the earlier probe can no longer be matched, so it is lost.
      p.outstanding.delete(seq)
      this.recordLost(p, reused.at)
    }
    p.outstanding.set(seq, { at, asked })
    while (p.outstanding.size > this.maxOutstanding) {
      const [oldest, { at: sentAt }] = p.outstanding.entries().next().value as [number, Sent]
      p.outstanding.delete(oldest)
      this.recordLost(p, sentAt)
    }
  }

  /**
   * A reply to probe `seq` arrived at `at`, after the peer held it for heldMs. Unknown, late or repeated
   * replies are ignored.
   */
  onProbeReply(peer: string, seq: number, at: number, heldMs = 0): LinkEvent[] {
    const p = this.peers.get(peer)
    if (!p) return []
    const sentAt = p.outstanding.get(seq)?.at
    if (sentAt === undefined) {
      this.answeredLate(p, seq)
      return []
    }
    p.outstanding.delete(seq)
    p.out.record(0)
    const sample = Math.max(0, at - sentAt - heldMs) * 1000
    if (p.srtt === null || p.reinit) {
      p.srtt = sample
      p.jitter = 0
      p.reinit = false
      p.recent.length = 0
    } else {
      p.srtt += (sample - p.srtt) * RTT_GAIN
      p.jitter += (Math.abs(sample - (p.lastSample ?? sample)) - p.jitter) * JITTER_GAIN
    }
    p.lastSample = sample
    p.recent.push(sample)
    if (p.recent.length > RTT_WINDOW) p.recent.shift()
    p.lastReplyAt = p.lastReplyAt === null ? at : Math.max(p.lastReplyAt, at)
    if (sentAt > p.lastAnsweredSentAt) {
      p.lastAnsweredSentAt = sentAt
      p.lostSinceReply = 0
    }
    p.consecutive++
    p.replies++

    const events: LinkEvent[] = []
    if (p.state === 'down' && p.consecutive >= this.upAfterReplies) {
      p.state = 'up'
      p.lastMetricEventAt = Number.NEGATIVE_INFINITY
      // Probes still unanswered from before the recovery were lost in the outage; drop them uncounted.
      for (const [seq, sent] of p.outstanding) if (sent.at < p.lastAnsweredSentAt) p.outstanding.delete(seq)
      // Probes lost while the link was down say nothing about the link that came back; keep only the run of
      // replies that brought it up.
      p.out.clear()
      p.timedOut.clear()
      p.back.clear()
      for (let i = 0; i < Math.min(p.consecutive, this.lossWindow); i++) p.out.record(0)
      this.markReported(p)
      events.push(this.event('link-up', peer, p, at))
    } else if (p.state === 'up' && this.metricMoved(p, at)) {
      this.markReported(p, at)
      events.push(this.event('metric-changed', peer, p, at))
    }
    return events
  }

  /**
   * The peer acknowledged probe `seq` without answering it (a newer one overtook it): it is not lost, but it
   * gives no RTT sample and proves nothing new about liveness. Returns whether it was outstanding.
   */
  onProbeDelivered(peer: string, seq: number): boolean {
    const p = this.peers.get(peer)
    if (!p) return false
    if (!p.outstanding.delete(seq)) {
      this.answeredLate(p, seq)
      return false
    }
    p.out.record(0)
    return true
  }

  /** The peer's next probe arrived, `missing` of its probes after the previous one never did (back-path loss). */
  onPeerProbe(peer: string, missing: number): void {
    const p = this.peers.get(peer)
    if (!p) return
    for (let i = 0; i < Math.min(missing, this.lossWindow); i++) p.back.record(1)
    p.back.record(0)
  }

  /** Advances time: times out probes, declares silent links down, reports loss changes. */
  tick(now: number): LinkEvent[] {
    const events: LinkEvent[] = []
    for (const peer of this.peerIds()) {
      const p = this.peers.get(peer)!
      const timeout = this.probeTimeout(p)
      for (const [seq, sent] of p.outstanding) {
        if (now - sent.at < timeout) break // send order: the rest are younger
        p.outstanding.delete(seq)
        this.recordLost(p, sent.at, seq)
      }
      if (p.state !== 'up') continue
      if (this.isSilent(p, now)) {
        p.state = 'down'
        p.consecutive = 0
        p.reinit = true
        events.push(this.event('link-down', peer, p, now))
      } else if (this.metricMoved(p, now)) {
        this.markReported(p, now)
        events.push(this.event('metric-changed', peer, p, now))
      }
    }
    return events
  }

  /**
   * The earliest time after `now` at which tick() could change something, for the driver's timer (call tick(now)
   * first); undefined when nothing is pending. Only future instants, so a timer loop cannot spin.
   */
  nextDeadline(now: number): number | undefined {
    let next: number | undefined
    const consider = (t: number) => {
      if (t > now && (next === undefined || t < next)) next = t
    }
    for (const p of this.peers.values()) {
      for (const sent of p.outstanding.values()) {
        consider(sent.at + this.probeTimeout(p))
        if (p.state === 'up' && sent.at > p.lastAnsweredSentAt) consider(sent.at + this.grace(p, sent))
      }
      if (p.state === 'up' && p.lastReplyAt !== null) consider(p.lastReplyAt + this.deadAfter(p))
    }
    return next
  }

  /**
   * The earliest time after `now` at which tick() could declare an up link down, given the probes already
   * sent; undefined when none could before more probes go out (the driver ticks after each probe round). A
   * driver that ticks then too detects silence at the dead interval itself, not at the next probe round.
   */
  downDeadline(now: number): number | undefined {
    let next: number | undefined
    for (const p of this.peers.values()) {
      if (p.state !== 'up' || p.lastReplyAt === null) continue
      let at = p.lastReplyAt + this.deadAfter(p)
      const need = this.minUnansweredProbes - p.lostSinceReply
      if (need > 0) {
        // The need-th unanswered probe to leave its grace (graces differ: a probe that asked has no hold).
        const leave: number[] = []
        for (const sent of p.outstanding.values())
          if (sent.at > p.lastAnsweredSentAt) leave.push(sent.at + this.grace(p, sent))
        if (leave.length < need) continue
        leave.sort((a, b) => a - b)
        at = Math.max(at, leave[need - 1]!)
      }
      if (at > now && (next === undefined || at < next)) next = at
    }
    return next
  }

  state(peer: string): LinkState | undefined {
    return this.peers.get(peer)?.state
  }

  /**
   * Whether a link's price is settled: at least half a window of recent samples, the largest of which is
   * within `ratio` of the smallest (the price) plus `slackMicros`.
   */
  samplesAgree(peer: string, ratio: number, slackMicros: number): boolean {
    const recent = this.peers.get(peer)?.recent
    if (!recent || recent.length < RTT_WINDOW / 2) return false
    let min = recent[0]!
    let max = min
    for (const x of recent) {
      if (x < min) min = x
      else if (x > max) max = x
    }
    return max <= min * (1 + ratio) + slackMicros
  }

  metrics(peer: string): LinkMetrics | undefined {
    const p = this.peers.get(peer)
    return p ? this.snapshot(peer, p) : undefined
  }

  all(): LinkMetrics[] {
    return this.peerIds().map((peer) => this.snapshot(peer, this.peers.get(peer)!))
  }

  /** The links to put in this node's link-state record. */
  linkReports(): LinkReport[] {
    return this.all().map((m) => ({
      peer: m.peer,
      rttMicros: m.baseRttMicros === null ? 0xffff_ffff : Math.min(0xffff_ffff, m.baseRttMicros),
      lossPermille: m.lossPermille,
      up: m.state === 'up',
    }))
  }

  private isSilent(p: PeerState, now: number): boolean {
    if (p.lastReplyAt === null || now - p.lastReplyAt < this.deadAfter(p)) return false
    let unanswered = p.lostSinceReply
    for (const sent of p.outstanding.values()) {
      if (sent.at > p.lastAnsweredSentAt && now - sent.at >= this.grace(p, sent)) unanswered++
    }
    return unanswered >= this.minUnansweredProbes
  }

  /**
   * How long a probe may be in flight before its silence counts: about two RTTs, plus the peer's hold unless
   * the probe asked for an immediate answer (a suspected link's probes: a dead peer is declared so in round
   * trips, not holds).
   */
  private grace(p: PeerState, sent: Sent): number {
    const srttMs = (p.srtt ?? 0) / 1000
    const hold = sent.asked ? 0 : (p.replyDelayMs ?? this.replyDelayMs)
    const inFlight = hold + 2 * srttMs + (4 * p.jitter) / 1000
    return Math.min(this.deadAfter(p) / 2, Math.max(MIN_GRACE_MS, inFlight))
  }

  /** A probe unanswered this long is lost; a peer that holds replies longer than ours gets as many holds more. */
  private probeTimeout(p: PeerState): number {
    const extra = Math.max(0, (p.replyDelayMs ?? this.replyDelayMs) - this.replyDelayMs)
    return this.probeTimeoutMs + extra
  }

  /** Silence (ms since the last reply) after which this link is dead: the configured interval or 3 RTTs. */
  private deadAfter(p: Pick<PeerState, 'srtt' | 'jitter' | 'deadLinkTimeoutMs'>): number {
    const rto = (DEAD_RTTS * (p.srtt ?? 0) + 4 * p.jitter) / 1000
    return Math.max(p.deadLinkTimeoutMs ?? this.deadLinkTimeoutMs, rto)
  }

  private recordLost(p: PeerState, sentAt: number, seq?: number): void {
    const index = p.out.record(1)
    if (seq !== undefined) {
      p.timedOut.set(seq, index)
      // Older than the window: forgiving them would change nothing.
      if (p.timedOut.size > this.lossWindow) p.timedOut.delete(p.timedOut.keys().next().value as number)
    }
    // A probe sent before the newest answered one was overtaken (or lost before the link healed): it counts
    // as loss, but it does not break the run of replies nor add to the silence.
    if (sentAt > p.lastAnsweredSentAt) {
      p.lostSinceReply++
      p.consecutive = 0
    }
  }

  /**
   * An answer to a probe that had timed out: too late for liveness and for an RTT sample, but the probe was
   * not lost, so it leaves the loss count (a reply held up by a busy peer is latency, not loss).
   */
  private answeredLate(p: PeerState, seq: number): void {
    const index = p.timedOut.get(seq)
    if (index === undefined) return
    p.timedOut.delete(seq)
    p.out.forgive(index)
  }

  /** Round-trip loss in permille from the two directions' windows. */
  private loss(p: PeerState): number {
    return Math.round(1000 * (1 - (1 - p.out.fraction()) * (1 - p.back.fraction())))
  }

  /** The smallest recent sample: the link's latency without the queueing and busy event loops on top. */
  private baseRtt(p: PeerState): number | null {
    if (p.recent.length === 0) return p.srtt
    let min = p.recent[0]!
    for (const r of p.recent) if (r < min) min = r
    return min
  }

  private metricMoved(p: PeerState, now: number): boolean {
    if (now - p.lastMetricEventAt < this.minMetricIntervalMs) return false
    const rtt = this.baseRtt(p) ?? 0
    const threshold = Math.max(this.rttChangeRatio * p.reportedRtt, this.rttChangeMinMicros)
    return (
      Math.abs(rtt - p.reportedRtt) > threshold ||
      Math.abs(this.loss(p) - p.reportedLoss) >= this.lossChangePermille
    )
  }

  private markReported(p: PeerState, at?: number): void {
    p.reportedRtt = this.baseRtt(p) ?? 0
    p.reportedLoss = this.loss(p)
    if (at !== undefined) p.lastMetricEventAt = at
  }

  private snapshot(peer: string, p: PeerState): LinkMetrics {
    const base = this.baseRtt(p)
    return {
      peer,
      state: p.state,
      srttMicros: p.srtt === null ? null : Math.round(p.srtt),
      baseRttMicros: base === null ? null : Math.round(base),
      jitterMicros: Math.round(p.jitter),
      lossPermille: this.loss(p),
      lastReplyAt: p.lastReplyAt,
      replies: p.replies,
      consecutiveReplies: p.consecutive,
    }
  }

  private event(type: LinkEventType, peer: string, p: PeerState, at: number): LinkEvent {
    return { type, peer, at, metrics: this.snapshot(peer, p) }
  }
}
