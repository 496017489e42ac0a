// One simulated node's life: its machine, its timers, its clock and its "disk". Booting recreates the
// machine from the last persisted bytes only; crashing forgets the machine, its timers and any inputs it
// had not yet taken; pausing stops it stepping while its inputs queue up, as under SIGSTOP. Durable state
// is stored as codec bytes (or a structured clone), never by reference, so a protocol that keeps mutating
// an object it persisted cannot smuggle unpersisted state across a crash.

import type {
  Clock,
  Input,
  Machine,
  NodeId,
  Outputs,
  Protocol,
  ProtocolTypes,
  SeededRng,
} from '../../../src/protocols/core/index.js'
import { decodeWith, encodeWith } from '../../../src/wire/index.js'
import type { SimEvent } from './events.js'
import { SimError, type SimFailureCode } from './failure.js'
import type { Trace } from './trace.js'
import type { GhostEvent, SimStats } from './types.js'

export interface Slot<T extends ProtocolTypes> {
  readonly id: NodeId
  readonly index: number
  /** Undefined while crashed. */
  machine: Machine<T> | undefined
  /** Bumped by every crash, so restarts and timers scheduled for an older life do nothing. */
  incarnation: number
  paused: boolean
  pauseEpoch: number
  /** Inputs that arrived while paused, in arrival order. */
  deferred: SimEvent[]
  /** Timer name → generation of the one live timer event with that name. */
  readonly timers: Map<string, number>
  /** Crash inside the next step that persists (a torn crash), armed by the nemesis. */
  armed: boolean
  hasDurable: boolean
  stored: unknown
  decoded: { value: unknown } | undefined
  readonly clockBase: number
  readonly clockRate: number
  readonly clock: Clock
}

/** What the slot table needs from the simulator around it. */
export interface Host<T extends ProtocolTypes> {
  readonly now: number
  readonly step: number
  readonly stats: SimStats
  readonly trace: Trace
  apply(slot: Slot<T>, outputs: Outputs<T>): void
  fail(code: SimFailureCode, reason: string, cause?: unknown): never
  record(ev: GhostEvent<T>): void
  at(time: number, fn: () => void): void
  timerEvent(slot: Slot<T>, time: number, gen: number, name: string): void
  requeue(ev: SimEvent): void
  isDelivery(ev: SimEvent): boolean
  forgetRequests(slot: Slot<T>): void
}

export class SlotTable<T extends ProtocolTypes> {
  readonly all: Slot<T>[]
  readonly index = new Map<NodeId, number>()
  private timerGen = 0
  private readonly messageCodec: Protocol<T>['messageCodec']

  constructor(
    private readonly host: Host<T>,
    private readonly protocol: Protocol<T>,
    private readonly ids: readonly NodeId[],
    private readonly nodeRng: SeededRng,
    clockRng: SeededRng,
    drift: number,
    encodeMessages: boolean,
  ) {
    this.messageCodec = encodeMessages ? protocol.messageCodec : undefined
    this.all = ids.map((id, index) => {
      this.index.set(id, index)
      // Every node's clock has its own origin (clocks never agree) and, with drift, its own rate.
      const clockBase = clockRng.int(0, 1_000_000_000)
      const clockRate = 1 + drift * (2 * clockRng.next() - 1)
      return {
        id,
        index,
        machine: undefined,
        incarnation: 0,
        paused: false,
        pauseEpoch: 0,
        deferred: [],
        timers: new Map(),
        armed: false,
        hasDurable: false,
        stored: undefined,
        decoded: undefined,
        clockBase,
        clockRate,
        clock: { now: () => clockBase + clockRate * host.now },
      }
    })
  }

  get(id: NodeId): Slot<T> {
    const i = this.index.get(id)
    if (i === undefined) throw new SimError('SIM_UNKNOWN_NODE', `no simulated node ${JSON.stringify(id)}`)
    return this.all[i]!
  }

  boot(slot: Slot<T>, restart: boolean): void {
    const durable = slot.hasDurable ? this.load(slot) : undefined
    const ctx = { id: slot.id, members: this.ids, clock: slot.clock, rng: this.nodeRng.fork() }
    const machine = this.guard(slot, 'create', () => this.protocol.create(ctx, durable))
    slot.machine = machine
    if (restart) this.host.stats.restarts++
    this.host.trace.add(this.host.step, this.host.now, restart ? 'restart' : 'start', slot.index, -1)
    this.host.record({ kind: 'start', node: slot.id, restart })
    this.host.apply(
      slot,
      this.guard(slot, 'start', () => machine.start()),
    )
  }

  crash(slot: Slot<T>, torn: boolean): void {
    if (slot.machine === undefined) return
    slot.machine = undefined
    slot.incarnation++
    slot.timers.clear()
    slot.armed = false
    slot.paused = false
    slot.pauseEpoch++
    for (const ev of slot.deferred) if (this.host.isDelivery(ev)) this.host.stats.droppedDown++
    slot.deferred = []
    this.host.forgetRequests(slot)
    this.host.stats.crashes++
    if (torn) this.host.stats.tornCrashes++
    this.host.trace.add(this.host.step, this.host.now, torn ? 'torn' : 'crash', slot.index, -1)
    this.host.record({ kind: 'crash', node: slot.id, torn })
  }

  pause(slot: Slot<T>, forMs: number): void {
    if (slot.machine === undefined || slot.paused) return
    slot.paused = true
    const epoch = ++slot.pauseEpoch
    this.host.stats.pauses++
    this.host.trace.add(this.host.step, this.host.now, 'pause', slot.index, -1, `${forMs}ms`)
    this.host.at(this.host.now + forMs, () => {
      if (slot.paused && slot.pauseEpoch === epoch) this.resume(slot)
    })
  }

  resume(slot: Slot<T>): void {
    if (!slot.paused) return
    slot.paused = false
    slot.pauseEpoch++
    this.host.trace.add(this.host.step, this.host.now, 'resume', slot.index, -1)
    const deferred = slot.deferred
    slot.deferred = []
    for (const ev of deferred) this.host.requeue(ev)
  }

  persist(slot: Slot<T>, state: T['Durable']): void {
    const codec = this.protocol.durableCodec
    slot.stored = codec ? encodeWith(codec, state) : structuredClone(state)
    slot.hasDurable = true
    slot.decoded = undefined
    this.host.stats.persists++
    this.host.trace.add(this.host.step, this.host.now, 'persist', slot.index, -1, state)
  }

  /** The persisted state for invariants: decoded once per persist, shared, not to be mutated. */
  durable(slot: Slot<T>): T['Durable'] | undefined {
    if (!slot.hasDurable) return undefined
    if (!this.protocol.durableCodec) return slot.stored as T['Durable']
    slot.decoded ??= { value: this.load(slot) }
    return slot.decoded.value as T['Durable']
  }

  /** A fresh copy of the persisted state, for a booting machine to own. */
  private load(slot: Slot<T>): T['Durable'] {
    const codec = this.protocol.durableCodec
    if (!codec) return structuredClone(slot.stored) as T['Durable']
    return this.guard(slot, 'durable decode', () => decodeWith(codec, slot.stored as Uint8Array))
  }

  setTimer(slot: Slot<T>, name: string, at: number): void {
    if (!Number.isFinite(at)) this.host.fail('SIM_BAD_OUTPUT', `${slot.id} set timer ${name} at ${at}`)
    const gen = ++this.timerGen
    slot.timers.set(name, gen)
    // The local deadline in global time, rounded up so the node's clock reads at least `at` when it fires.
    let t = Math.ceil((at - slot.clockBase) / slot.clockRate)
    if (slot.clockBase + slot.clockRate * t < at) t++
    this.host.timerEvent(slot, Math.max(this.host.now, t), gen, name)
  }

  encodeMessage(msg: T['Msg']): unknown {
    const codec = this.messageCodec
    return codec ? encodeWith(codec, msg) : msg
  }

  decodeMessage(slot: Slot<T>, payload: unknown): T['Msg'] {
    const codec = this.messageCodec
    if (!codec) return payload as T['Msg']
    return this.guard(slot, 'message decode', () => decodeWith(codec, payload as Uint8Array))
  }

  stepMachine(slot: Slot<T>, input: Input<T>): Outputs<T> {
    return this.guard(slot, input.type, () => slot.machine!.step(input))
  }

  private guard<R>(slot: Slot<T>, what: string, fn: () => R): R {
    try {
      return fn()
    } catch (err) {
      const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
      return this.host.fail('SIM_PROTOCOL_THREW', `${slot.id} threw during ${what}: ${message}`, err)
    }
  }
}
