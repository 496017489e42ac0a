// The nemesis: turns a FaultSpec into fault events over virtual time — periods that are faulty or quiet,
// partitions that start and heal, crashes with restarts, torn crashes, pauses. It decides when and to whom;
// the simulator's host methods carry the faults out, so a scripted test and the nemesis share one
// implementation of "crash" or "partition" and cannot disagree about what it means.

import type { ProtocolTypes, SeededRng } from '../../../src/protocols/core/index.js'
import type { FaultSpec, PartitionKind } from './faults.js'
import { drawPartition } from './network.js'
import type { Sim } from './sim.js'

/** The narrow slice of the simulator the nemesis drives. Node arguments are indices. */
export interface NemesisHost {
  readonly now: number
  readonly n: number
  at(time: number, fn: () => void): void
  isUp(node: number): boolean
  isPaused(node: number): boolean
  isArmed(node: number): boolean
  incarnation(node: number): number
  crash(node: number): void
  /** The node will crash inside its next step that persists, after the persist, mid-sends. */
  arm(node: number): void
  restart(node: number): void
  pause(node: number, forMs: number): void
  partition(kind: PartitionKind): void
  readonly partitioned: boolean
  heal(): void
  /** Whether loss and duplication apply now; `period` says a new fault period began (for stats). */
  setActive(active: boolean, period: boolean): void
}

export class Nemesis {
  private stopped = false
  /** Bumped by every nemesis partition so a heal scheduled for an older one does nothing. */
  private partitionEpoch = 0
  private ownsPartition = false
  private active = true

  constructor(
    private readonly host: NemesisHost,
    private readonly spec: FaultSpec,
    private readonly rng: SeededRng,
  ) {}

  /** True when the spec injects anything that periods switch on and off. */
  get hasPeriodicFaults(): boolean {
    const s = this.spec
    return s.loss > 0 || s.duplicate > 0 || !!s.partitions || !!s.crashes || !!s.pauses
  }

  start(): void {
    if (!this.hasPeriodicFaults) {
      this.host.setActive(false, false)
      return
    }
    this.newPeriod()
    if (this.spec.partitions) this.after(this.spec.partitions.every, () => this.partitionTick())
    if (this.spec.crashes) this.after(this.spec.crashes.every, () => this.crashTick())
    if (this.spec.pauses) this.after(this.spec.pauses.every, () => this.pauseTick())
  }

  /** No new faults from now on; scheduled restarts and resumes still happen. */
  stop(): void {
    this.stopped = true
    this.active = false
    this.host.setActive(false, false)
  }

  /** A torn crash (armed by us) has just happened: schedule its restart like any other crash. */
  crashed(node: number): void {
    this.scheduleRestart(node)
  }

  private after(mean: number, fn: () => void): void {
    this.host.at(this.host.now + Math.max(1, Math.round(this.rng.exponential(mean))), () => {
      if (!this.stopped) fn()
    })
  }

  private newPeriod(): void {
    this.active = !this.rng.chance(this.spec.periods.quiet)
    this.host.setActive(this.active, true)
    if (!this.active && this.ownsPartition) this.healOwn()
    this.after(this.spec.periods.length, () => this.newPeriod())
  }

  private partitionTick(): void {
    const p = this.spec.partitions!
    if (this.active && !this.host.partitioned) {
      this.host.partition(this.rng.pick(p.kinds))
      this.ownsPartition = true
      const epoch = ++this.partitionEpoch
      this.after(p.duration, () => {
        if (epoch === this.partitionEpoch && this.ownsPartition) this.healOwn()
      })
    }
    this.after(p.every, () => this.partitionTick())
  }

  private healOwn(): void {
    this.ownsPartition = false
    this.partitionEpoch++
    this.host.heal()
  }

  private crashTick(): void {
    const c = this.spec.crashes!
    const n = this.host.n
    const maxDown = c.maxDown ?? Math.max(1, Math.floor((n - 1) / 2))
    let down = 0
    const candidates: number[] = []
    for (let i = 0; i < n; i++) {
      if (!this.host.isUp(i) || this.host.isArmed(i)) down++
      else candidates.push(i)
    }
    if (this.active && down < maxDown && candidates.length > 0) {
      const victim = this.rng.pick(candidates)
      if (this.rng.chance(c.torn)) this.host.arm(victim)
      else {
        this.host.crash(victim)
        this.scheduleRestart(victim)
      }
    }
    this.after(c.every, () => this.crashTick())
  }

  private scheduleRestart(node: number): void {
    const inc = this.host.incarnation(node)
    // Restarts are not faults: they happen even after stop(), so no node stays down by accident.
    const delay = Math.max(1, Math.round(this.rng.exponential(this.spec.crashes?.downtime ?? 1)))
    this.host.at(this.host.now + delay, () => {
      if (!this.host.isUp(node) && this.host.incarnation(node) === inc) this.host.restart(node)
    })
  }

  private pauseTick(): void {
    const p = this.spec.pauses!
    if (this.active) {
      const candidates: number[] = []
      for (let i = 0; i < this.host.n; i++)
        if (this.host.isUp(i) && !this.host.isPaused(i)) candidates.push(i)
      if (candidates.length > 0) {
        this.host.pause(this.rng.pick(candidates), Math.max(1, Math.round(this.rng.exponential(p.duration))))
      }
    }
    this.after(p.every, () => this.pauseTick())
  }
}

/** The simulator seen through NemesisHost: the same node operations a scripted test uses. */
export function nemesisHost<T extends ProtocolTypes, G>(sim: Sim<T, G>): NemesisHost {
  const all = sim.nodes.all
  const links = sim.network.links
  return {
    get now() {
      return sim.now
    },
    n: all.length,
    at: (time, fn) => sim.at(time, fn),
    isUp: (i) => all[i]!.machine !== undefined,
    isPaused: (i) => all[i]!.paused,
    isArmed: (i) => all[i]!.armed,
    incarnation: (i) => all[i]!.incarnation,
    crash: (i) => sim.nodes.crash(all[i]!, false),
    arm: (i) => {
      all[i]!.armed = true
    },
    restart: (i) => sim.nodes.boot(all[i]!, true),
    pause: (i, ms) => sim.nodes.pause(all[i]!, ms),
    partition: (kind) => sim.notePartition(kind, drawPartition(links, kind, sim.nemesisRng, sim.ids)),
    get partitioned() {
      return links.partitioned
    },
    heal: () => sim.heal(),
    setActive: (active, period) => {
      sim.network.active = active
      if (period) active ? sim.stats.activePeriods++ : sim.stats.quietPeriods++
    },
  }
}
