// Runs one Raft machine for real: a monotonic clock, setTimeout timers, the durable log in src/raftlog, and a
// transport callback for messages. The only rule that matters for safety is the order within and across
// batches: every 'persist' is fsync'ed before any send, reply or effect of the same batch leaves, and a batch
// never overtakes the persist of an earlier one (a retransmitted append answered from state that is still
// being written must wait for it). The one exception is a send the machine marks `early` (a leader's
// appends): it leaves at once, and the machine hears {type:'persisted'} once the write is durable, so the
// leader's fsync and its followers' run at the same time. Timers are volatile and set at once. This is the
// same order the simulator's driver uses (src/protocols/core/order.ts), so its crash model tests this code.
//
// A failed write stops the machine for good (the store refuses further saves; the kernel may have dropped
// what it did not write): the node then behaves as a crashed replica until the daemon restarts.

import { randomInt } from 'node:crypto'
import type { Clock, NodeId, Output } from '../protocols/core/index.js'
import { SeededRng } from '../protocols/core/index.js'
import {
  type RaftConfig,
  type RaftDurable,
  type RaftEffect,
  type RaftMachine,
  type RaftMsg,
  type RaftReq,
  type RaftRes,
  type RaftTypes,
  type RaftView,
  raft,
  type StateMachine,
} from '../protocols/raft/index.js'
import type { RaftLogStore } from '../raftlog/index.js'

export const monotonicClock: Clock = { now: () => performance.now() }

export interface DriverLogger {
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export interface RaftDriverOptions<SM extends StateMachine> {
  readonly id: NodeId
  /** The bus group: the voters (and, on a learner, itself). */
  readonly members: readonly NodeId[]
  readonly config: RaftConfig
  readonly makeStateMachine: () => SM
  readonly store: RaftLogStore
  /** Hands a message to the network; best effort, must not throw. */
  readonly send: (to: NodeId, msg: RaftMsg) => void
  /** Called after the batch's persist, in batch order. */
  readonly onEffect?: (effect: RaftEffect) => void
  /** Called after every step with the machine's view (metrics). */
  readonly onStep?: (view: RaftView<SM>) => void
  readonly clock?: Clock
  readonly log?: DriverLogger
}

export class DriverStopped extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'DriverStopped'
  }
}

type Pending = { resolve: (res: RaftRes) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }

export class RaftDriver<SM extends StateMachine> {
  private readonly machine: RaftMachine<SM>
  private readonly timers = new Map<string, NodeJS.Timeout>()
  private readonly pending = new Map<number, Pending>()
  private readonly clock: Clock
  private nextId = 1
  /** Resolves when every persist handed to the store so far is durable. */
  private tail: Promise<void> = Promise.resolve()
  /** Saves and deferred batches not yet done: while > 0, a new batch must queue behind them. */
  private saving = 0
  private flushing = false
  private nextState: RaftDurable | null = null
  private nextWaiters: { resolve: () => void; reject: (err: Error) => void }[] = []
  private stopped: string | null = null
  /** fsync durations (ms) since the last drain, for the metrics. */
  readonly fsyncMs: number[] = []

  constructor(private readonly opts: RaftDriverOptions<SM>) {
    this.clock = opts.clock ?? monotonicClock
    const protocol = raft(opts.config, opts.makeStateMachine)
    this.machine = protocol.create(
      { id: opts.id, members: opts.members, clock: this.clock, rng: new SeededRng(randomInt(2 ** 47)) },
      opts.store.initial,
    )
  }

  get id(): NodeId {
    return this.opts.id
  }

  /** Why the driver stopped (a storage failure, or close), or null while it runs. */
  get stoppedReason(): string | null {
    return this.stopped
  }

  view(): RaftView<SM> {
    return this.machine.view()
  }

  start(): void {
    this.run(this.machine.start())
  }

  /** A message that arrived from `from` (already authenticated by the caller). */
  deliver(from: NodeId, msg: RaftMsg): void {
    if (this.stopped !== null) return
    this.run(this.machine.step({ type: 'message', from, msg }))
  }

  noteUndecodable(from: NodeId): void {
    this.machine.noteUndecodable(from)
  }

  /** A local request; rejects with DriverStopped, or resolves with the machine's answer (ok or not). */
  request(req: RaftReq, timeoutMs: number): Promise<RaftRes> {
    if (this.stopped !== null) return Promise.reject(new DriverStopped(this.stopped))
    const id = this.nextId++
    return new Promise<RaftRes>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        resolve({ ok: false, code: 'TIMEOUT', leader: this.machine.view().leader })
      }, timeoutMs)
      this.pending.set(id, { resolve, reject, timer })
      this.run(this.machine.step({ type: 'request', id, req }))
    })
  }

  /** Stops timers and waits for writes in flight; the store is the caller's to close. */
  async close(): Promise<void> {
    this.stop('closed')
    await this.tail.catch(() => undefined)
  }

  private stop(reason: string): void {
    if (this.stopped !== null) return
    this.stopped = reason
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.reject(new DriverStopped(reason))
    }
    this.pending.clear()
  }

  private run(outputs: readonly Output<RaftTypes<SM>>[]): void {
    let persist: Extract<Output<RaftTypes>, { type: 'persist' }> | undefined
    const later: Output<RaftTypes<SM>>[] = []
    const early: Extract<Output<RaftTypes<SM>>, { type: 'send' }>[] = []
    for (const o of outputs) {
      switch (o.type) {
        case 'persist':
          persist = o
          break
        case 'setTimer':
          this.setTimer(o.name, o.at)
          break
        case 'cancelTimer': {
          const t = this.timers.get(o.name)
          if (t !== undefined) clearTimeout(t)
          this.timers.delete(o.name)
          break
        }
        case 'send':
          if (o.early) early.push(o)
          else later.push(o)
          break
        default:
          later.push(o)
      }
    }
    this.opts.onStep?.(this.machine.view())
    if (persist !== undefined) {
      this.saving++
      const durable = this.groupSave(persist.state).finally(() => {
        this.saving--
      })
      this.tail = this.tail.then(() => durable).catch(() => undefined)
    }
    for (const o of early) this.opts.send(o.to, o.msg)
    if (later.length === 0) return
    // Fast path: nothing is being written, so nothing this batch depends on can still be lost.
    if (this.saving === 0) this.emit(later)
    else {
      this.saving++
      this.tail = this.tail.then(() => {
        this.saving--
        this.emit(later)
      })
    }
  }

  private emit(outputs: readonly Output<RaftTypes<SM>>[]): void {
    if (this.stopped !== null) return
    for (const o of outputs) {
      if (o.type === 'send') this.opts.send(o.to, o.msg)
      else if (o.type === 'reply') {
        const p = this.pending.get(o.id)
        if (p === undefined) continue
        this.pending.delete(o.id)
        clearTimeout(p.timer)
        p.resolve(o.res)
      } else if (o.type === 'effect') {
        try {
          this.opts.onEffect?.(o.effect)
        } catch (err) {
          this.opts.log?.warn({ err }, 'raft: an effect listener threw')
        }
      }
    }
  }

  /**
   * Group commit: while one fsync runs, later states queue and only the newest is written next (each state
   * is the whole durable state and the store writes the difference, so it covers the ones it replaces).
   * Resolves once a write that includes `state` is durable.
   */
  private groupSave(state: RaftDurable): Promise<void> {
    this.nextState = state
    const done = new Promise<void>((resolve, reject) => this.nextWaiters.push({ resolve, reject }))
    if (!this.flushing) void this.flush()
    return done
  }

  private async flush(): Promise<void> {
    this.flushing = true
    while (this.nextState !== null && this.stopped === null) {
      const state = this.nextState
      const waiters = this.nextWaiters
      this.nextState = null
      this.nextWaiters = []
      const started = performance.now()
      try {
        await this.opts.store.save(state)
        this.fsyncMs.push(performance.now() - started)
        if (this.fsyncMs.length > 4096) this.fsyncMs.splice(0, 2048)
        // Before the waiters: outputs of this step queue behind the current write like any other batch.
        if (this.stopped === null) this.run(this.machine.step({ type: 'persisted', state }))
        for (const w of waiters) w.resolve()
      } catch (err) {
        this.opts.log?.error({ err }, 'raft: writing the log failed; this replica stops until restarted')
        this.stop(`storage failure: ${(err as Error).message}`)
        for (const w of waiters) w.reject(err as Error)
      }
    }
    // Stopped with states still queued: nothing of them may leave the node.
    for (const w of this.nextWaiters) w.reject(new DriverStopped(this.stopped ?? 'stopped'))
    this.nextWaiters = []
    this.nextState = null
    this.flushing = false
  }

  private setTimer(name: string, at: number): void {
    const old = this.timers.get(name)
    if (old !== undefined) clearTimeout(old)
    const t = setTimeout(
      () => {
        this.timers.delete(name)
        if (this.stopped === null) this.run(this.machine.step({ type: 'timer', name }))
      },
      Math.max(0, at - this.clock.now()),
    )
    this.timers.set(name, t)
  }
}
