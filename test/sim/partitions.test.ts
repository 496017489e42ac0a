// Partitions block exactly the directions they cut: no message crosses a cut link (not even one already
// in flight), every link left alone keeps delivering, and heal() restores them all. Checked on scripted
// partitions through the explicit API and on the shapes the nemesis draws by itself.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { NodeId } from '../../src/protocols/core/index.js'
import { type PingPongTypes, pingpong } from '../../src/protocols/pingpong/index.js'
import { type Recorder, Sim } from './lib/index.js'

interface Counts {
  delivered: Map<string, number>
  sent: Map<string, number>
}

const bump = (m: Map<string, number>, k: string): void => {
  m.set(k, (m.get(k) ?? 0) + 1)
}

const countDeliveries: Recorder<PingPongTypes, Counts> = (g, ev) => {
  if (ev.kind === 'input' && ev.input.type === 'message') bump(g.delivered, `${ev.input.from}>${ev.node}`)
  if (ev.kind === 'output' && ev.output.type === 'send') bump(g.sent, `${ev.node}>${ev.output.to}`)
}

function scripted(): Sim<PingPongTypes, Counts> {
  // delay up to a few ms so some messages are in flight at the moment a cut starts.
  return new Sim({
    seed: 7,
    nodes: 5,
    protocol: pingpong({ interval: 20 }),
    faults: { delay: { min: 2, mean: 3 } },
    ghost: { delivered: new Map(), sent: new Map() },
    record: countDeliveries,
  })
}

/** Runs a window and asserts, for every ordered pair, deliveries happened iff `open(from, to)`. */
function expectLinks(sim: Sim<PingPongTypes, Counts>, open: (from: NodeId, to: NodeId) => boolean): void {
  sim.ghost.delivered.clear()
  sim.runFor(500)
  for (const a of sim.ids) {
    for (const b of sim.ids) {
      if (a === b) continue
      const n = sim.ghost.delivered.get(`${a}>${b}`) ?? 0
      assert.equal(sim.connected(a, b), open(a, b), `connected(${a}, ${b})`)
      if (open(a, b)) assert.ok(n > 0, `${a}->${b} should deliver`)
      else assert.equal(n, 0, `${a}->${b} is cut but delivered ${n}`)
    }
  }
}

const all = (): boolean => true
const pair = (a: NodeId, b: NodeId, x: string, y: string): boolean => a === x && b === y

test('partitions: a one-way cut blocks only its direction, including messages already in flight', () => {
  const sim = scripted()
  sim.runFor(200)
  // Cut just after n1 sent to n2: with a 2ms minimum delay that message is still on the wire.
  const sent = (): number => sim.ghost.sent.get('n1>n2') ?? 0
  const before = sent()
  sim.runUntil(() => sent() > before)
  sim.cut('n1', 'n2', { oneWay: true })
  expectLinks(sim, (a, b) => !pair(a, b, 'n1', 'n2'))
  assert.ok(sim.result().droppedPartition > 0)
  sim.heal()
  expectLinks(sim, all)
})

test('partitions: a two-way cut blocks both directions of one link', () => {
  const sim = scripted()
  sim.cut('n4', 'n5')
  expectLinks(sim, (a, b) => !pair(a, b, 'n4', 'n5') && !pair(a, b, 'n5', 'n4'))
})

test('partitions: isolate cuts a node off from everyone, both ways', () => {
  const sim = scripted()
  sim.isolate('n3')
  expectLinks(sim, (a, b) => a !== 'n3' && b !== 'n3')
  sim.heal()
  expectLinks(sim, all)
})

test('partitions: groups split the federation; overlapping groups make a bridge', () => {
  const sim = scripted()
  const left = new Set(['n1', 'n2'])
  sim.partition([
    ['n1', 'n2'],
    ['n3', 'n4', 'n5'],
  ])
  expectLinks(sim, (a, b) => left.has(a) === left.has(b))
  sim.heal()
  sim.partition([
    ['n1', 'n2', 'n3'],
    ['n3', 'n4', 'n5'],
  ])
  const side = (x: NodeId): number => (x === 'n3' ? 0 : left.has(x) ? 1 : 2)
  expectLinks(sim, (a, b) => side(a) === 0 || side(b) === 0 || side(a) === side(b))
  sim.heal()
  expectLinks(sim, all)
})

test('partitions: nemesis partitions never let a message cross a cut, and one-way cuts are one-way', () => {
  for (let seed = 1; seed <= 20; seed++) {
    let asymmetric = false
    const sim = new Sim<PingPongTypes, undefined>({
      seed,
      nodes: 5,
      protocol: pingpong({ interval: 20 }),
      faults: {
        partitions: { every: 300, duration: 300, kinds: ['oneWay'] },
        periods: { length: 1000, quiet: 0 },
      },
      record: (_g, ev, world) => {
        if (ev.kind === 'input' && ev.input.type === 'message' && !world.connected(ev.input.from, ev.node)) {
          return `delivered ${ev.input.from}->${ev.node} across a cut`
        }
      },
      invariants: (world) => {
        for (const a of world.ids)
          for (const b of world.ids) if (world.connected(a, b) !== world.connected(b, a)) asymmetric = true
      },
    })
    sim.runFor(5_000)
    assert.ok(sim.result().partitions > 0)
    assert.ok(asymmetric, `seed ${seed}: a oneWay partition was never asymmetric`)
  }
})
