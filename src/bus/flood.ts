// The interest protocol of one router (see interest.ts for the records and why they are node-scoped):
// counts the patterns of local subscriptions, announces this node's record when it changes (coalesced to
// one announcement per turn), on every refresh interval and to each new link, takes newer records of other
// nodes and passes them on to every other link, and expires records that stop being refreshed.

import type { Clock } from '../protocols/core/index.js'
import { BusError } from './errors.js'
import { decodeInterest, encodeInterest, type InterestRecord, InterestTable } from './interest.js'
import type { LinkPort } from './ports.js'
import type { Scheduler, TimerHandle } from './scheduler.js'

export interface FloodLimits {
  maxPatterns: number
  maxInterestNodes: number
  interestTtlMs: number
  interestRefreshMs: number
}

export class InterestFlood {
  readonly table: InterestTable
  private readonly patterns = new Map<string, number>()
  private version: number
  private announcePending = false
  private known = new Set<string>()
  /** The nodes a node has links to (routing's view): those it announces to itself. */
  private linksOf: (node: string) => ReadonlySet<string> | undefined = () => undefined
  private timer: TimerHandle | null = null
  private closed = false

  constructor(
    private readonly nodeId: string,
    private readonly limits: FloodLimits,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
    private readonly ports: ReadonlyMap<string, LinkPort>,
    private readonly onMalformed: () => void,
  ) {
    this.table = new InterestTable({ maxNodes: limits.maxInterestNodes, ttlMs: limits.interestTtlMs })
    this.version = this.now()
    this.armRefresh()
  }

  private now(): number {
    return Math.floor(this.clock.now())
  }

  /** One more local subscription with `pattern`; LIMIT when it would be one distinct pattern too many. */
  addPattern(pattern: string): void {
    const refs = this.patterns.get(pattern) ?? 0
    if (refs === 0 && this.patterns.size >= this.limits.maxPatterns)
      throw new BusError(
        'LIMIT',
        `at most ${this.limits.maxPatterns} distinct subscription patterns per node`,
      )
    this.patterns.set(pattern, refs + 1)
    if (refs === 0) this.changed()
  }

  removePattern(pattern: string): void {
    const left = (this.patterns.get(pattern) ?? 1) - 1
    if (left > 0) this.patterns.set(pattern, left)
    else if (this.patterns.delete(pattern)) this.changed()
  }

  /** A new link: the peer learns our record and every record we hold (but its own). */
  linkUp(port: LinkPort): void {
    port.sendControl(encodeInterest(this.own()))
    for (const rec of this.table.records())
      if (rec.node !== port.peerId) port.sendControl(encodeInterest(rec))
  }

  /** An INTEREST frame from the link to `peerId`. */
  receive(peerId: string, frame: Uint8Array): void {
    let rec: InterestRecord
    try {
      rec = decodeInterest(frame)
    } catch {
      this.onMalformed()
      return
    }
    if (rec.node === this.nodeId) {
      // Our own current record coming back (a neighbour that did not know we reach its neighbours passed it on):
      // the flood ends here. Announcing again on it, as this once did, started a new flood per echo for as
      // long as routing's view was incomplete, i.e. all through a mesh's start. A record of ours from a
      // previous life still circulating, newer than ours or as new with other patterns: outrank it.
      if (rec.version > this.version || (rec.version === this.version && !this.holdsExactly(rec.patterns))) {
        this.version = rec.version
        this.announce()
      }
      return
    }
    if (!this.table.apply(rec, this.now())) return
    // From its node itself: that node announced it on every link it has, so the neighbours it shares with us
    // have it already. In a full mesh a record then costs N-1 sends instead of (N-1)².
    const reached = peerId === rec.node ? this.linksOf(rec.node) : undefined
    for (const port of this.ports.values())
      if (port.peerId !== peerId && !reached?.has(port.peerId)) port.sendControl(frame)
  }

  /** Routing's links per node (its link-state records): see receive(). */
  setDirectLinks(linksOf: (node: string) => ReadonlySet<string> | undefined): void {
    this.linksOf = linksOf
  }

  /** Routing's node set: interest of nodes that were known and no longer are is dropped at once. */
  setKnownNodes(nodes: Iterable<string>): void {
    const next = new Set(nodes)
    for (const n of this.known) if (!next.has(n)) this.table.remove(n)
    this.known = next
  }

  close(): void {
    this.closed = true
    if (this.timer !== null) this.scheduler.clearTimer(this.timer)
  }

  private holdsExactly(patterns: readonly string[]): boolean {
    return patterns.length === this.patterns.size && patterns.every((p) => this.patterns.has(p))
  }

  private own(): InterestRecord {
    return { node: this.nodeId, version: this.version, patterns: [...this.patterns.keys()] }
  }

  private changed(): void {
    if (this.announcePending || this.closed) return
    this.announcePending = true
    this.scheduler.defer(() => {
      this.announcePending = false
      if (!this.closed) this.announce()
    })
  }

  private announce(): void {
    this.version = Math.max(this.version + 1, this.now())
    const frame = encodeInterest(this.own())
    for (const port of this.ports.values()) port.sendControl(frame)
  }

  private armRefresh(): void {
    this.timer = this.scheduler.setTimer(this.limits.interestRefreshMs, () => {
      if (this.closed) return
      this.announce()
      this.table.expire(this.now())
      this.armRefresh()
    })
  }
}
