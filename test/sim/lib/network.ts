// The simulated network: what happens to one message (cut, lost, delayed, duplicated, reordered), who can
// reach whom (a directed n×n matrix of cut links) and the partition shapes the nemesis draws (isolate one
// node, split in two, a one-way cut, a bridge). Links are directed because real failures are (a firewall
// rule, a broken NAT mapping, a half-dead NIC), and asymmetric cuts are where failure detectors and leader
// leases go wrong.

import type { SeededRng } from '../../../src/protocols/core/index.js'
import type { SimEvent } from './events.js'
import type { FaultSpec, PartitionKind } from './faults.js'
import type { Trace } from './trace.js'
import type { SimStats } from './types.js'

export class Network {
  readonly links: LinkMatrix
  /** Whether the current fault period injects loss and duplication. */
  active = false
  /** Highest send sequence delivered per directed link, to count reordering. */
  private readonly lastArrival: Float64Array

  constructor(
    private readonly n: number,
    private readonly faults: FaultSpec,
    private readonly rng: SeededRng,
    private readonly stats: SimStats,
    private readonly trace: Trace,
  ) {
    this.links = new LinkMatrix(n)
    this.lastArrival = new Float64Array(n * n).fill(-1)
  }

  /** Decides one message's fate at send time; `enqueue(time)` is called once per copy that will arrive. */
  transmit(step: number, now: number, from: number, to: number, enqueue: (time: number) => void): void {
    if (this.links.isCut(from, to)) {
      this.stats.droppedPartition++
      this.trace.add(step, now, 'drop', from, to, 'partition')
      return
    }
    const f = this.faults
    if (this.active && f.loss > 0 && this.rng.chance(f.loss)) {
      this.stats.droppedLoss++
      this.trace.add(step, now, 'drop', from, to, 'loss')
      return
    }
    enqueue(now + this.delay())
    if (this.active && f.duplicate > 0 && this.rng.chance(f.duplicate)) {
      this.stats.duplicated++
      this.trace.add(step, now, 'dup', from, to)
      enqueue(now + this.delay())
    }
  }

  /** At arrival: a cut made while the message was in flight drops it too. Counts reordering. */
  admit(step: number, now: number, ev: SimEvent): boolean {
    if (this.links.isCut(ev.peer, ev.node)) {
      this.stats.droppedPartition++
      this.trace.add(step, now, 'drop', ev.peer, ev.node, 'partition (in flight)')
      return false
    }
    return true
  }

  /** Called for each delivered message, to count those that overtook an earlier one on their link. */
  arrived(ev: SimEvent): void {
    const link = ev.peer * this.n + ev.node
    if (ev.seq < this.lastArrival[link]!) this.stats.reordered++
    else this.lastArrival[link] = ev.seq
  }

  private delay(): number {
    const d = this.faults.delay
    return d.mean > 0 ? Math.floor(d.min + this.rng.exponential(d.mean)) : d.min
  }
}

export class LinkMatrix {
  private readonly cut: Uint8Array
  private cutCount = 0

  constructor(readonly n: number) {
    this.cut = new Uint8Array(n * n)
  }

  /** True when messages from `from` to `to` are dropped. A node always reaches itself. */
  isCut(from: number, to: number): boolean {
    return this.cut[from * this.n + to] === 1
  }

  get partitioned(): boolean {
    return this.cutCount > 0
  }

  cutLink(from: number, to: number): void {
    if (from === to) return
    const k = from * this.n + to
    if (this.cut[k] === 0) {
      this.cut[k] = 1
      this.cutCount++
    }
  }

  isolate(node: number): void {
    for (let other = 0; other < this.n; other++) {
      this.cutLink(node, other)
      this.cutLink(other, node)
    }
  }

  /**
   * Two nodes stay connected only if some group holds both; a node in no group is cut off entirely.
   * Overlapping groups make bridges: `[[a,b,c],[c,d,e]]` leaves c talking to everyone.
   */
  groups(groups: readonly (readonly number[])[]): void {
    const member = groups.map((g) => new Set(g))
    for (let a = 0; a < this.n; a++) {
      for (let b = 0; b < this.n; b++) {
        if (a !== b && !member.some((g) => g.has(a) && g.has(b))) this.cutLink(a, b)
      }
    }
  }

  /** Cuts every link from a node of `from` to a node of `to`, leaving the reverse direction alone. */
  oneWay(from: readonly number[], to: readonly number[]): void {
    for (const a of from) for (const b of to) this.cutLink(a, b)
  }

  heal(): void {
    this.cut.fill(0)
    this.cutCount = 0
  }
}

/**
 * Installs one partition of the given kind, drawn from `rng`, and says what it did in one line for the
 * trace. With fewer nodes than a shape needs it falls back to the nearest shape that exists.
 */
export function drawPartition(
  links: LinkMatrix,
  kind: PartitionKind,
  rng: SeededRng,
  ids: readonly string[],
): string {
  const n = links.n
  const name = (xs: readonly number[]): string => `{${xs.map((i) => ids[i]).join(',')}}`
  const order = rng.shuffle(Array.from({ length: n }, (_, i) => i))
  if (n < 2) return 'none (one node)'
  if (kind === 'isolate') {
    links.isolate(order[0]!)
    return `isolate ${ids[order[0]!]}`
  }
  if (kind === 'bridge' && n >= 3) {
    const bridge = order[0]!
    const rest = order.slice(1)
    const k = rng.int(1, rest.length - 1)
    const left = [...rest.slice(0, k), bridge]
    const right = [...rest.slice(k), bridge]
    links.groups([left, right])
    return `bridge ${name(left)}|${name(right)} via ${ids[bridge]}`
  }
  const k = rng.int(1, n - 1)
  const a = order.slice(0, k)
  const b = order.slice(k)
  if (kind === 'oneWay') {
    links.oneWay(a, b)
    return `oneWay ${name(a)}->${name(b)}`
  }
  links.groups([a, b])
  return `split ${name(a)}|${name(b)}`
}
