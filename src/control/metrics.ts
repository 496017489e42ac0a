// The control plane's Prometheus metrics (blackroad_raft_*). Gauges are read from the Raft view when
// scraped; counters are bumped by the driver: messages dropped by reason (the machine's own reasons are
// folded in as deltas of its counters), proposals and reads by result.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { DropReason, RaftView } from '../protocols/raft/index.js'

export class RaftMetrics {
  private readonly dropped: Counter<'reason'>
  private readonly proposals: Counter<'result'>
  private readonly reads: Counter<'result'>
  private readonly leaderChanges: Counter
  private readonly fsync: Histogram
  private readonly lastDropped = new Map<DropReason, number>()
  private view: (() => RaftView | null) | null = null
  private fsyncSource: (() => number[]) | null = null

  constructor(registry: Registry) {
    const registers = [registry]
    const self = this
    const gauge = (name: string, help: string, read: (v: RaftView) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const v = self.view?.()
          if (v) this.set(read(v))
        },
      })
    gauge('blackroad_raft_term', 'Current Raft term of this node', (v) => v.term)
    gauge('blackroad_raft_is_leader', '1 when this node is the Raft leader', (v) =>
      v.role === 'leader' ? 1 : 0,
    )
    gauge('blackroad_raft_commit_index', 'Highest log index known committed', (v) => v.commit)
    gauge('blackroad_raft_applied_index', 'Highest log index applied to the registry', (v) => v.applied)
    gauge('blackroad_raft_last_index', 'Last index in the local log', (v) => v.lastIndex)
    gauge('blackroad_raft_voters', 'Voters in the membership in force', (v) => v.membership.voters.length)
    gauge(
      'blackroad_raft_learners',
      'Learners in the membership in force',
      (v) => v.membership.learners.length,
    )
    this.dropped = new Counter({
      name: 'blackroad_raft_dropped_messages_total',
      help: 'Raft messages dropped, by reason (bad_signature, undecodable, unknownSender, staleTerm, ...)',
      labelNames: ['reason'],
      registers,
      collect() {
        const v = self.view?.()
        if (v) self.machineDrops(v)
      },
    })
    this.proposals = new Counter({
      name: 'blackroad_raft_proposals_total',
      help: 'Registry proposals by result (applied, rejected, no_leader, timeout, not_running)',
      labelNames: ['result'],
      registers,
    })
    this.reads = new Counter({
      name: 'blackroad_raft_reads_total',
      help: 'Linearizable registry reads by result',
      labelNames: ['result'],
      registers,
    })
    this.leaderChanges = new Counter({
      name: 'blackroad_raft_leader_changes_total',
      help: 'Times this node saw the leader change',
      registers,
    })
    this.fsync = new Histogram({
      name: 'blackroad_raft_fsync_seconds',
      help: 'Time to make one batch of Raft state durable',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
      collect() {
        const ms = self.fsyncSource?.()
        if (ms) self.fsyncs(ms)
      },
    })
  }

  /** Where scrapes read the Raft view and the fsync durations measured since the last scrape. */
  source(view: () => RaftView | null, fsyncMs: () => number[]): void {
    this.view = view
    this.fsyncSource = fsyncMs
  }

  drop(reason: string): void {
    this.dropped.inc({ reason })
  }

  proposal(result: string): void {
    this.proposals.inc({ result })
  }

  read(result: string): void {
    this.reads.inc({ result })
  }

  leaderChanged(): void {
    this.leaderChanges.inc()
  }

  fsyncs(ms: number[]): void {
    for (const m of ms) this.fsync.observe(m / 1000)
    ms.length = 0
  }

  /** Folds the machine's own drop counters in (they only grow). */
  machineDrops(v: RaftView): void {
    const d = v.stats.dropped
    for (const reason of Object.keys(d) as DropReason[]) {
      const now = d[reason]
      const before = this.lastDropped.get(reason) ?? 0
      if (now > before) {
        this.dropped.inc({ reason }, now - before)
        this.lastDropped.set(reason, now)
      }
    }
  }
}
