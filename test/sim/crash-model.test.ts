// The simulator's driver semantics, pinned down: a restart sees exactly the last persisted state (even
// when the protocol keeps mutating the object it persisted), timers die with their node, a fired timer
// finds the node's drifting clock at or past its deadline, paused nodes take no input until they resume,
// and protocol mistakes (a reply to nothing, a throw) fail the run with the seed. These are the promises
// Raft's durability invariants will lean on.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Input, Machine, MachineContext, Output, ProtocolTypes } from '../../src/protocols/core/index.js'
import { type PingPongTypes, pingpong } from '../../src/protocols/pingpong/index.js'
import { type Recorder, runSim, Sim, SimError, SimFailure } from './lib/index.js'

interface CounterTypes extends ProtocolTypes {
  readonly Msg: never
  readonly Req: 'get' | 'bad-reply' | 'boom'
  readonly Res: number
  readonly Durable: { count: number; history: number[] }
  readonly Effect: never
  readonly View: { count: number; history: number[] }
}

/**
 * Ticks every 10ms; persists every third tick by handing over its live state object, then mutates it.
 * Every fifth tick arms a 'rare' timer that start() never arms, so a timer outliving a crash shows up.
 */
class Counter implements Machine<CounterTypes> {
  private readonly state: { count: number; history: number[] }
  constructor(
    private readonly ctx: MachineContext,
    durable: CounterTypes['Durable'] | undefined,
  ) {
    this.state = durable ?? { count: 0, history: [] }
  }
  start(): Output<CounterTypes>[] {
    return [this.next(), { type: 'setTimer', name: 'doomed', at: this.ctx.clock.now() + 5 }]
  }
  step(input: Input<CounterTypes>): Output<CounterTypes>[] {
    if (input.type === 'request') {
      if (input.req === 'boom') throw new Error('boom requested')
      return [
        { type: 'reply', id: input.req === 'bad-reply' ? input.id + 1000 : input.id, res: this.state.count },
      ]
    }
    if (input.type === 'timer' && input.name === 'rare') return []
    this.state.count++
    this.state.history.push(this.state.count)
    const out: Output<CounterTypes>[] = [this.next(), { type: 'cancelTimer', name: 'doomed' }]
    if (this.state.count % 3 === 0) out.push({ type: 'persist', state: this.state })
    if (this.state.count % 5 === 0)
      out.push({ type: 'setTimer', name: 'rare', at: this.ctx.clock.now() + 50 })
    return out
  }
  view(): CounterTypes['View'] {
    return this.state
  }
  private next(): Output<CounterTypes> {
    return { type: 'setTimer', name: 'tick', at: this.ctx.clock.now() + 10 }
  }
}

const counter = {
  name: 'counter',
  create: (ctx: MachineContext, d: CounterTypes['Durable'] | undefined) => new Counter(ctx, d),
}

interface CounterGhost {
  persisted: Map<string, CounterTypes['Durable']>
  timers: Map<string, Map<string, number>>
  restarts: number
  timerChecks: number
}

const checkCounter: Recorder<CounterTypes, CounterGhost> = (g, ev, world) => {
  const timers = g.timers.get(ev.node) ?? new Map<string, number>()
  g.timers.set(ev.node, timers)
  if (ev.kind === 'start') {
    timers.clear()
    if (ev.restart) {
      g.restarts++
      const expected = g.persisted.get(ev.node) ?? { count: 0, history: [] }
      assert.deepEqual(world.view(ev.node), expected, `${ev.node} restarted with more than it persisted`)
    }
  } else if (ev.kind === 'output') {
    const o = ev.output
    if (o.type === 'persist') g.persisted.set(ev.node, structuredClone(o.state))
    if (o.type === 'setTimer') timers.set(o.name, o.at)
    if (o.type === 'cancelTimer') timers.delete(o.name)
  } else if (ev.kind === 'input' && ev.input.type === 'timer') {
    const at = timers.get(ev.input.name)
    if (at === undefined)
      return `${ev.node}: timer ${ev.input.name} fired but is not armed in this incarnation`
    if (world.clock(ev.node).now() < at) return `${ev.node}: timer ${ev.input.name} fired early`
    timers.delete(ev.input.name)
    g.timerChecks++
  }
}

test('crash model: restart sees only the last persist; timers die with the node and never fire early', () => {
  const ghost: CounterGhost = { persisted: new Map(), timers: new Map(), restarts: 0, timerChecks: 0 }
  for (let seed = 1; seed <= 50; seed++) {
    ghost.persisted.clear()
    ghost.timers.clear()
    runSim({
      seed,
      nodes: 3,
      protocol: counter,
      faults: {
        crashes: { every: 200, downtime: 100, torn: 0.5, maxDown: 3 },
        pauses: { every: 300, duration: 100 },
        clockDrift: 0.1,
        periods: { length: 1000, quiet: 0.25 },
      },
      until: 5_000,
      ghost,
      record: checkCounter,
    })
  }
  assert.ok(
    ghost.restarts > 500 && ghost.timerChecks > 50_000,
    `${ghost.restarts} restarts, ${ghost.timerChecks} timers`,
  )
})

test('crash model: a paused node takes no input, then gets what queued up when it resumes', () => {
  let resumedAt = -1
  let firstInputAfter = -1
  const sim = new Sim<PingPongTypes, undefined>({
    seed: 3,
    nodes: 3,
    protocol: pingpong({ interval: 20 }),
    record: (_g, ev, world) => {
      if (ev.kind !== 'input' || ev.node !== 'n1') return
      if (world.isPaused('n1')) return 'n1 stepped while paused'
      if (resumedAt >= 0 && firstInputAfter < 0) firstInputAfter = world.now
    },
  })
  sim.runFor(100)
  sim.pause('n1', 300)
  sim.runFor(299)
  assert.ok(sim.isPaused('n1'))
  resumedAt = sim.now + 1
  sim.runFor(50)
  assert.ok(!sim.isPaused('n1'))
  assert.equal(firstInputAfter, resumedAt)
})

test('crash model: requests to a crashed node fail; replies to unknown requests and throws fail the run', () => {
  const failed: number[] = []
  const sim = new Sim<CounterTypes, undefined>({
    seed: 9,
    nodes: 2,
    protocol: counter,
    workload: { onRequestFailed: (_s, f) => failed.push(f.id) },
  })
  sim.crash('n2')
  const id = sim.request('n2', 'get')
  sim.runFor(5)
  assert.deepEqual(failed, [id])
  assert.throws(
    () => sim.crash('n9'),
    (e: unknown) => e instanceof SimError && e.code === 'SIM_UNKNOWN_NODE',
  )

  sim.request('n1', 'bad-reply')
  assert.throws(
    () => sim.runFor(5),
    (e: unknown) => e instanceof SimFailure && e.code === 'SIM_BAD_OUTPUT',
  )

  const other = new Sim<CounterTypes, undefined>({ seed: 9, nodes: 2, protocol: counter })
  other.request('n1', 'boom')
  assert.throws(
    () => other.runFor(5),
    (e: unknown) =>
      e instanceof SimFailure &&
      e.code === 'SIM_PROTOCOL_THREW' &&
      /boom requested/.test(e.message) &&
      /SIM_SEED=9 /.test(e.message),
  )
})

test('liveness: a predicate that never holds fails with SIM_LIVENESS after its bound', () => {
  const sim = new Sim<CounterTypes, undefined>({ seed: 5, nodes: 2, protocol: counter })
  sim.runFor(100)
  assert.throws(
    () => sim.requireLiveness(() => false, 1_000, 'the impossible'),
    (e: unknown) =>
      e instanceof SimFailure &&
      e.code === 'SIM_LIVENESS' &&
      /the impossible/.test(e.reason) &&
      e.time === 1_100,
  )
})

test('running: runFor never takes a step past its deadline, and the clock then reads the deadline', () => {
  let latest = 0
  const sim = new Sim<PingPongTypes, undefined>({
    seed: 11,
    nodes: 4,
    protocol: pingpong({ interval: 7 }),
    faults: { delay: { min: 0, mean: 5 } },
    invariants: (world) => {
      latest = world.now
    },
  })
  for (let deadline = 13; deadline < 2_000; deadline += 13) {
    sim.runFor(13)
    assert.ok(latest <= deadline, `stepped at ${latest}, past ${deadline}`)
    assert.equal(sim.now, deadline)
  }
  const before = sim.step
  sim.runSteps(10)
  assert.equal(sim.step, before + 10)
})
