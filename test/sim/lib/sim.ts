// The deterministic simulator: every node's protocol machine in one process, driven by one seed through a
// virtual clock, a (time, seq)-ordered event queue and a faulty network. It is the protocols' second
// driver (the daemon's is the first) and applies outputs the same way: persist, timers, sends, replies.
// A crash keeps only what was persisted, so a protocol that sends what it has not made durable fails
// here, reproducibly, instead of flaking in production. Invariants run after every step.

import type {
  Clock,
  Input,
  NodeId,
  Output,
  Outputs,
  ProtocolTypes,
  RequestId,
} from '../../../src/protocols/core/index.js'
import { inDriverOrder, SeededRng } from '../../../src/protocols/core/index.js'
import { CALL, DELIVER, emptyStats, REQUEST, type SimEvent, TIMER } from './events.js'
import { replayCommand, SimError, SimFailure, type SimFailureCode } from './failure.js'
import { describeFaults, type FaultSpec, resolveFaults } from './faults.js'
import { EventHeap } from './heap.js'
import { Nemesis, nemesisHost } from './nemesis.js'
import { Network } from './network.js'
import { type Host, type Slot, SlotTable } from './slots.js'
import { Trace } from './trace.js'
import type {
  GhostEvent,
  Invariant,
  Recorder,
  SimControl,
  SimOptions,
  SimStats,
  Verdict,
  Workload,
} from './types.js'

/** One node's disk for a protocol with asynchronous persistence (see Sim.applyAsync). */
interface Disk<T extends ProtocolTypes> {
  readonly incarnation: number
  writing: boolean
  /** Persists handed over / made durable so far (ids are counts). */
  queued: number
  done: number
  /** The newest state not yet being written. */
  next: T['Durable'] | undefined
  /** Outputs waiting for the write with id `after` to be durable, in order. */
  held: { after: number; outputs: Output<T>[] }[]
}

export class Sim<T extends ProtocolTypes, G = undefined> implements SimControl<T, G>, Host<T> {
  readonly seed: number
  readonly ids: readonly NodeId[]
  readonly ghost: G
  readonly faults: FaultSpec
  readonly rng: SeededRng
  readonly stats: SimStats
  readonly nemesisRng: SeededRng
  readonly trace: Trace
  readonly network: Network
  readonly nodes: SlotTable<T>
  now = 0
  step = 0
  private seq = 0
  private nextRequestId = 0
  private readonly queue = new EventHeap<SimEvent>()
  private readonly pending = new Map<RequestId, number>()
  private readonly invariants: readonly Invariant<T, G>[]
  private readonly recorder: Recorder<T, G> | undefined
  /** The protocol hears {type:'persisted'} after each persist (see core Input). */
  private readonly persistedInput: boolean
  /** Writes in flight per node (asynchronous persistence only), by slot index. */
  private readonly disks: (Disk<T> | undefined)[] = []
  private readonly workload: Workload<T, G> | undefined
  private readonly nemesis: Nemesis

  constructor(readonly options: SimOptions<T, G>) {
    const { seed, nodes } = options
    if (!Number.isSafeInteger(seed) || seed < 0) throw new SimError('SIM_BAD_OPTION', `bad seed ${seed}`)
    const ids = typeof nodes === 'number' ? Array.from({ length: nodes }, (_, i) => `n${i + 1}`) : [...nodes]
    if (ids.length === 0 || new Set(ids).size !== ids.length) {
      throw new SimError('SIM_BAD_OPTION', `nodes must be distinct and non-empty: ${ids.join(',')}`)
    }
    this.seed = seed
    this.ids = ids
    // One root stream, forked per concern, so adding a draw in one concern leaves the others' draws alone.
    const root = new SeededRng(seed)
    this.faults = resolveFaults(options.faults, root.fork())
    const netRng = root.fork()
    this.nemesisRng = root.fork()
    this.rng = root.fork()
    const nodeRng = root.fork()
    const clockRng = root.fork()
    this.ghost = options.ghost as G
    this.invariants = options.invariants === undefined ? [] : [options.invariants].flat()
    this.recorder = options.record
    this.persistedInput = options.protocol.persistedInput === true
    this.workload = options.workload
    this.trace = new Trace(options.traceSize ?? 40, options.hashMessages ?? false)
    this.stats = emptyStats(seed)
    this.network = new Network(ids.length, this.faults, netRng, this.stats, this.trace)
    this.nodes = new SlotTable(
      this,
      options.protocol,
      ids,
      nodeRng,
      clockRng,
      this.faults.clockDrift,
      options.encodeMessages ?? true,
    )
    this.nemesis = new Nemesis(nemesisHost(this), this.faults, this.nemesisRng)
    for (const slot of this.nodes.all) this.nodes.boot(slot, false)
    this.checkInvariants()
    this.nemesis.start()
    this.workload?.start?.(this)
  }

  // ---- World -------------------------------------------------------------------------------------------

  isUp(id: NodeId): boolean {
    return this.nodes.get(id).machine !== undefined
  }
  isPaused(id: NodeId): boolean {
    return this.nodes.get(id).paused
  }
  view(id: NodeId): T['View'] | undefined {
    return this.nodes.get(id).machine?.view()
  }
  durable(id: NodeId): T['Durable'] | undefined {
    return this.nodes.durable(this.nodes.get(id))
  }
  connected(from: NodeId, to: NodeId): boolean {
    return !this.network.links.isCut(this.nodes.get(from).index, this.nodes.get(to).index)
  }
  clock(id: NodeId): Clock {
    return this.nodes.get(id).clock
  }
  /** This node's clock rate (1 ± drift). */
  clockRate(id: NodeId): number {
    return this.nodes.get(id).clockRate
  }

  // ---- Control -----------------------------------------------------------------------------------------

  request(node: NodeId, req: T['Req'], at?: number): RequestId {
    const slot = this.nodes.get(node)
    const id = ++this.nextRequestId
    this.stats.requests++
    this.schedule(Math.max(this.now, Math.ceil(at ?? this.now)), REQUEST, slot.index, -1, id, req)
    return id
  }
  at(time: number, fn: () => void): void {
    this.schedule(Math.max(this.now, Math.ceil(time)), CALL, -1, -1, 0, fn)
  }
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.network.links.groups(groups.map((g) => g.map((id) => this.nodes.get(id).index)))
    this.notePartition('explicit', JSON.stringify(groups))
  }
  isolate(id: NodeId): void {
    this.network.links.isolate(this.nodes.get(id).index)
    this.notePartition('explicit', `isolate ${id}`)
  }
  cut(from: NodeId, to: NodeId, opts: { oneWay?: boolean } = {}): void {
    const a = this.nodes.get(from).index
    const b = this.nodes.get(to).index
    this.network.links.cutLink(a, b)
    if (!opts.oneWay) this.network.links.cutLink(b, a)
    this.notePartition('explicit', `cut ${from}${opts.oneWay ? '->' : '<->'}${to}`)
  }
  heal(): void {
    this.network.links.heal()
    this.stats.heals++
    this.trace.add(this.step, this.now, 'heal', -1, -1)
  }
  crash(id: NodeId): void {
    this.nodes.crash(this.nodes.get(id), false)
  }
  restart(id: NodeId): void {
    const slot = this.nodes.get(id)
    if (slot.machine !== undefined) throw new SimError('SIM_BAD_STATE', `restart ${id}: it is up`)
    this.nodes.boot(slot, true)
  }
  pause(id: NodeId, forMs: number): void {
    this.nodes.pause(this.nodes.get(id), forMs)
  }
  resume(id: NodeId): void {
    this.nodes.resume(this.nodes.get(id))
  }

  /**
   * The start of a liveness phase (TigerBeetle's VOPR): no new faults, partitions healed, paused nodes
   * resumed, crashed nodes restarted. Delays and clock drift stay: they are the network, not faults.
   */
  stabilize(): void {
    this.nemesis.stop()
    this.trace.add(this.step, this.now, 'phase', -1, -1, 'stabilize')
    if (this.network.links.partitioned) this.heal()
    for (const slot of this.nodes.all) {
      slot.armed = false
      if (slot.paused) this.nodes.resume(slot)
      if (slot.machine === undefined) this.nodes.boot(slot, true)
    }
    this.checkInvariants()
  }

  // ---- Running -----------------------------------------------------------------------------------------

  /** Processes events until `n` steps were taken or nothing is left to do. */
  runSteps(n: number): void {
    const target = this.step + n
    while (this.step < target && this.stepOnce());
  }

  /** Processes every event up to virtual time now + ms; the clock then reads now + ms. */
  runFor(ms: number): void {
    this.runUntil(() => false, this.now + ms)
  }

  /**
   * Steps until `pred` holds (checked before the first step and after each), `maxSteps` more steps were
   * taken, or no event is left at or before `deadline` — then the clock moves to the deadline, as time
   * passes whether or not anything happens. Returns whether `pred` held.
   */
  runUntil(
    pred: () => boolean,
    deadline = Number.POSITIVE_INFINITY,
    maxSteps = Number.POSITIVE_INFINITY,
  ): boolean {
    const stepLimit = this.step + maxSteps
    for (;;) {
      if (pred()) return true
      if (this.step >= stepLimit) return false
      if (!this.stepWithin(deadline)) break
    }
    if (Number.isFinite(deadline) && this.now < deadline) this.now = deadline
    return false
  }

  /** Stabilizes, then requires `pred` within `within` ms of virtual time, else fails with SIM_LIVENESS. */
  requireLiveness(pred: (since: number) => boolean, within: number, what = 'liveness predicate'): void {
    this.stabilize()
    const since = this.now
    if (!this.runUntil(() => pred(since), since + within)) {
      this.fail('SIM_LIVENESS', `${what} not true within ${within}ms after stabilizing at t=${since}`)
    }
  }

  /** Takes one step (skipping stale events); false when the queue is empty. */
  stepOnce(): boolean {
    return this.stepWithin(Number.POSITIVE_INFINITY)
  }

  /** Takes one step no later than `deadline`, skipping stale events; false when there is none. */
  private stepWithin(deadline: number): boolean {
    for (;;) {
      const next = this.queue.peek()
      if (next === undefined || next.time > deadline) return false
      this.queue.pop()
      this.now = next.time
      if (this.process(next)) {
        this.checkInvariants()
        return true
      }
    }
  }

  /** Final stats (the trace hash is filled in on each call). */
  result(): SimStats {
    this.stats.steps = this.step
    this.stats.time = this.now
    this.stats.traceHash = this.trace.hash
    return this.stats
  }

  private process(ev: SimEvent): boolean {
    if (ev.kind === CALL) {
      this.step++
      ;(ev.payload as () => void)()
      return true
    }
    const slot = this.nodes.all[ev.node]!
    if (
      ev.kind === TIMER &&
      (slot.machine === undefined || slot.timers.get(ev.payload as string) !== ev.id)
    ) {
      return false
    }
    if (ev.kind === DELIVER && !this.network.admit(this.step, this.now, ev)) return false
    if (slot.machine === undefined) {
      if (ev.kind === DELIVER) {
        this.stats.droppedDown++
        this.trace.add(this.step, this.now, 'drop', ev.peer, ev.node, 'down')
        return false
      }
      this.step++
      this.stats.requestsFailed++
      this.workload?.onRequestFailed?.(this, { node: slot.id, id: ev.id, time: this.now })
      return true
    }
    if (slot.paused) {
      slot.deferred.push(ev)
      return false
    }
    this.step++
    let input: Input<T>
    if (ev.kind === DELIVER) {
      this.stats.delivered++
      this.network.arrived(ev)
      const msg = this.nodes.decodeMessage(slot, ev.payload)
      this.trace.add(this.step, this.now, 'deliver', ev.node, ev.peer, msg)
      input = { type: 'message', from: this.ids[ev.peer]!, msg }
    } else if (ev.kind === TIMER) {
      slot.timers.delete(ev.payload as string)
      this.stats.timersFired++
      this.trace.add(this.step, this.now, 'timer', ev.node, -1, ev.payload)
      input = { type: 'timer', name: ev.payload as string }
    } else {
      this.pending.set(ev.id, slot.index)
      this.trace.add(this.step, this.now, 'request', ev.node, -1, ev.payload)
      input = { type: 'request', id: ev.id, req: ev.payload as T['Req'] }
    }
    if (this.recorder) this.record({ kind: 'input', node: slot.id, input })
    this.apply(slot, this.nodes.stepMachine(slot, input))
    return true
  }

  // ---- Host: what SlotTable calls back into ------------------------------------------------------------

  /**
   * Applies one batch in driver order. For most protocols a persist is durable at once. A protocol that asks
   * for {type:'persisted'} gets the daemon driver's model instead (src/control/driver.ts): the write takes
   * simulated time, sends marked `early` leave at once, everything else of the batch (and of every later
   * batch) waits until the write is durable, and a crash meanwhile loses the write and what waited for it.
   * A node armed for a torn crash dies inside its next batch that persists: after the persist, having sent a
   * random prefix of its sends, before replies and effects (or, with an asynchronous write, before it is
   * durable, having sent a random prefix of its early sends).
   */
  apply(slot: Slot<T>, outputs: Outputs<T>): void {
    if (this.persistedInput) {
      this.applyAsync(slot, outputs)
      return
    }
    const out = inDriverOrder(outputs)
    if (!(slot.armed && out.length > 0 && out[0]!.type === 'persist')) {
      for (const o of out) {
        this.applyOne(slot, o)
        if (slot.machine === undefined) return // a workload callback crashed this node mid-batch
      }
      return
    }
    let i = 0
    while (i < out.length && out[i]!.type === 'persist') this.applyOne(slot, out[i++]!)
    const sends = out.slice(i).filter((o) => o.type === 'send')
    const survivors = this.nemesisRng.int(0, sends.length)
    for (let j = 0; j < survivors; j++) this.applyOne(slot, sends[j]!)
    this.nodes.crash(slot, true)
    this.nemesis.crashed(slot.index)
  }

  private applyAsync(slot: Slot<T>, outputs: Outputs<T>): void {
    const disk = this.diskOf(slot)
    let persist: T['Durable'] | undefined
    const early: Output<T>[] = []
    const later: Output<T>[] = []
    for (const o of inDriverOrder(outputs)) {
      if (o.type === 'persist') persist = o.state
      else if (o.type === 'setTimer' || o.type === 'cancelTimer') this.applyOne(slot, o)
      else if (o.type === 'send' && o.early === true) early.push(o)
      else later.push(o)
    }
    if (persist !== undefined && slot.armed) {
      const survivors = this.nemesisRng.int(0, early.length)
      for (let j = 0; j < survivors; j++) this.applyOne(slot, early[j]!)
      this.nodes.crash(slot, true)
      this.nemesis.crashed(slot.index)
      return
    }
    if (persist !== undefined) {
      disk.queued++
      disk.next = persist
      if (!disk.writing) this.startWrite(slot, disk)
    }
    for (const o of early) {
      this.applyOne(slot, o)
      if (slot.machine === undefined) return
    }
    if (later.length === 0) return
    if (disk.queued > disk.done) disk.held.push({ after: disk.queued, outputs: later })
    else
      for (const o of later) {
        this.applyOne(slot, o)
        if (slot.machine === undefined) return
      }
  }

  private diskOf(slot: Slot<T>): Disk<T> {
    let d = this.disks[slot.index]
    if (d === undefined || d.incarnation !== slot.incarnation) {
      d = { incarnation: slot.incarnation, writing: false, queued: 0, done: 0, next: undefined, held: [] }
      this.disks[slot.index] = d
    }
    return d
  }

  /** Group commit, as the daemon's driver: one write at a time, of the newest state queued. */
  private startWrite(slot: Slot<T>, disk: Disk<T>): void {
    const state = disk.next as T['Durable']
    const id = disk.queued
    disk.next = undefined
    disk.writing = true
    const finish = (): void => {
      if (slot.incarnation !== disk.incarnation || slot.machine === undefined) return // lost in a crash
      if (slot.paused) {
        this.at(this.now + 1, finish)
        return
      }
      this.applyOne(slot, { type: 'persist', state }) // durable now: recorded (and checked) at this moment
      disk.writing = false
      disk.done = id
      while (disk.held.length > 0 && disk.held[0]!.after <= id) {
        for (const o of disk.held.shift()!.outputs) {
          this.applyOne(slot, o)
          if (slot.machine === undefined) return
        }
      }
      const input: Input<T> = { type: 'persisted', state }
      if (this.recorder) this.record({ kind: 'input', node: slot.id, input })
      this.apply(slot, this.nodes.stepMachine(slot, input))
      if (slot.machine !== undefined && !disk.writing && disk.next !== undefined) this.startWrite(slot, disk)
    }
    this.at(this.now + this.rng.int(0, 3), finish)
  }

  private applyOne(slot: Slot<T>, o: Output<T>): void {
    switch (o.type) {
      case 'persist':
        this.nodes.persist(slot, o.state)
        break
      case 'setTimer':
        this.nodes.setTimer(slot, o.name, o.at)
        break
      case 'cancelTimer':
        slot.timers.delete(o.name)
        break
      case 'send':
        this.send(slot, o.to, o.msg)
        break
      case 'reply': {
        if (this.pending.get(o.id) !== slot.index) {
          this.fail('SIM_BAD_OUTPUT', `${slot.id} replied to request ${o.id}, which it does not hold`)
        }
        this.pending.delete(o.id)
        this.stats.replies++
        this.trace.add(this.step, this.now, 'reply', slot.index, -1, o.res)
        break
      }
      case 'effect':
        this.stats.effects++
        this.trace.add(this.step, this.now, 'effect', slot.index, -1, o.effect)
        break
    }
    if (this.recorder) this.record({ kind: 'output', node: slot.id, output: o })
    if (o.type === 'reply')
      this.workload?.onReply?.(this, { node: slot.id, id: o.id, res: o.res, time: this.now })
  }

  private send(slot: Slot<T>, toId: NodeId, msg: T['Msg']): void {
    const to = this.nodes.index.get(toId)
    if (to === undefined) this.fail('SIM_BAD_OUTPUT', `${slot.id} sent to unknown node ${toId}`)
    const from = slot.index
    this.stats.sent++
    this.trace.add(this.step, this.now, 'send', from, to, msg)
    const payload = this.nodes.encodeMessage(msg)
    if (from === to) {
      // Loopback never touches the network: no delay, no loss.
      this.schedule(this.now, DELIVER, to, from, 0, payload)
      return
    }
    this.network.transmit(this.step, this.now, from, to, (time) =>
      this.schedule(time, DELIVER, to, from, 0, payload),
    )
  }

  schedule(time: number, kind: number, node: number, peer: number, id: number, payload: unknown): void {
    this.queue.push({ time, seq: ++this.seq, kind, node, peer, id, payload })
  }

  /** Requeues a resumed node's deferred inputs at the current time, in their original order. */
  requeue(ev: SimEvent): void {
    ev.time = this.now
    ev.seq = ++this.seq
    this.queue.push(ev)
  }

  timerEvent(slot: Slot<T>, time: number, gen: number, name: string): void {
    this.schedule(time, TIMER, slot.index, -1, gen, name)
  }

  isDelivery(ev: SimEvent): boolean {
    return ev.kind === DELIVER
  }

  forgetRequests(slot: Slot<T>): void {
    for (const [id, node] of this.pending) if (node === slot.index) this.pending.delete(id)
  }

  record(ev: GhostEvent<T>): void {
    if (this.recorder === undefined) return
    this.judge(this.recorder, ev)
  }

  checkInvariants(): void {
    for (const inv of this.invariants) this.judge(inv, undefined)
  }

  /** Runs a recorder or invariant; a returned string or a throw (an assert inside it) fails the run. */
  private judge(check: Recorder<T, G> | Invariant<T, G>, ev: GhostEvent<T> | undefined): void {
    let violation: Verdict
    try {
      violation =
        ev === undefined ? (check as Invariant<T, G>)(this) : (check as Recorder<T, G>)(this.ghost, ev, this)
    } catch (err) {
      if (err instanceof SimFailure) throw err
      this.fail('SIM_INVARIANT', err instanceof Error ? err.message : String(err), err)
    }
    if (typeof violation === 'string') this.fail('SIM_INVARIANT', violation)
  }

  fail(code: SimFailureCode, reason: string, cause?: unknown): never {
    throw new SimFailure({
      code,
      reason,
      seed: this.seed,
      step: this.step,
      time: this.now,
      faults: describeFaults(this.faults),
      replay: this.options.replay ?? replayCommand(this.seed, this.options.testName),
      trace: this.trace.lines(this.ids),
      cause,
    })
  }

  /** Counts and traces a partition, whether scripted or drawn by the nemesis. */
  notePartition(kind: string, what: string): void {
    this.stats.partitions++
    this.stats.partitionsByKind[kind] = (this.stats.partitionsByKind[kind] ?? 0) + 1
    this.trace.add(this.step, this.now, 'partition', -1, -1, what)
  }
}
