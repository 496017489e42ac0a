// The properties pingpong promises, written as the simulator's ghost recorder, invariants and liveness
// predicate; shared by the pingpong, teeth and determinism tests. Also the template for a real protocol's
// checks: record what was observable (sends, deliveries) in ghost state, judge it after every step.

import type { NodeId } from '../../../src/protocols/core/index.js'
import type { PingPongTypes } from '../../../src/protocols/pingpong/index.js'
import type { Invariant, Recorder, World } from './types.js'

type PairMap<V> = Map<NodeId, Map<NodeId, V>>

export interface PingPongGhost {
  /** Highest ping sequence number each node ever sent, across incarnations, and the step it was used in. */
  readonly lastPing: Map<NodeId, { seq: number; step: number }>
  /** node → peer → sequence numbers node sent to peer in pings. */
  readonly pingsSent: PairMap<Set<number>>
  /** node → peer → sequence numbers node received from peer in pings. */
  readonly pingsReceived: PairMap<Set<number>>
  /** node → peer → global time node last received a pong from peer. */
  readonly lastPongAt: PairMap<number>
}

export function pingPongGhost(): PingPongGhost {
  return { lastPing: new Map(), pingsSent: new Map(), pingsReceived: new Map(), lastPongAt: new Map() }
}

function inner<V>(m: PairMap<V>, a: NodeId): Map<NodeId, V> {
  let row = m.get(a)
  if (row === undefined) {
    row = new Map()
    m.set(a, row)
  }
  return row
}

function seqs(m: PairMap<Set<number>>, a: NodeId, b: NodeId): Set<number> {
  const row = inner(m, a)
  let s = row.get(b)
  if (s === undefined) {
    s = new Set()
    row.set(b, s)
  }
  return s
}

export const recordPingPong: Recorder<PingPongTypes, PingPongGhost> = (g, ev, world) => {
  if (ev.kind === 'output' && ev.output.type === 'send') {
    const { to, msg } = ev.output
    if (msg.type === 'ping') {
      // One round sends the same number to every peer within one step; any later step must use a higher one.
      const last = g.lastPing.get(ev.node)
      if (last !== undefined && (msg.seq < last.seq || (msg.seq === last.seq && last.step !== world.step))) {
        return `${ev.node} reused ping seq ${msg.seq} (highest used before: ${last.seq} at step ${last.step})`
      }
      if (last === undefined || msg.seq > last.seq)
        g.lastPing.set(ev.node, { seq: msg.seq, step: world.step })
      seqs(g.pingsSent, ev.node, to).add(msg.seq)
    } else if (!seqs(g.pingsReceived, ev.node, to).has(msg.seq)) {
      return `${ev.node} sent pong ${msg.seq} to ${to}, which never pinged it with that number`
    }
  } else if (ev.kind === 'input' && ev.input.type === 'message') {
    const { from, msg } = ev.input
    if (msg.type === 'ping') seqs(g.pingsReceived, ev.node, from).add(msg.seq)
    else {
      if (!seqs(g.pingsSent, ev.node, from).has(msg.seq)) {
        return `${ev.node} got pong ${msg.seq} from ${from} for a ping it never sent`
      }
      inner(g.lastPongAt, ev.node).set(from, world.now)
    }
  }
}

/** State invariants: the durable sequence number never runs ahead of the one in memory. */
export const pingPongInvariants: Invariant<PingPongTypes, PingPongGhost> = (world) => {
  for (const id of world.ids) {
    const view = world.view(id)
    const durable = world.durable(id)
    if (view !== undefined && durable !== undefined && durable.highestSent > view.highestSent) {
      return `${id}: durable highestSent ${durable.highestSent} ahead of memory ${view.highestSent}`
    }
  }
}

/** Liveness: every node has had a pong from every other node since `since`. */
export function everyoneHeardFromEveryone(
  world: World<PingPongTypes, PingPongGhost>,
  since: number,
): boolean {
  for (const a of world.ids) {
    const row = world.ghost.lastPongAt.get(a)
    for (const b of world.ids) {
      if (a === b) continue
      const at = row?.get(b)
      if (at === undefined || at < since) return false
    }
  }
  return true
}
