// Raft behaviours a user would recognise, scripted on the simulator with a quiet network (etcd-raft's
// network tests: isolate, cut, recover, then assert): one leader is elected and kept; a cut-off leader
// steps down and the majority moves on; a node returning from a partition does not disrupt (pre-vote);
// followers forward proposals; a deposed leader cannot answer reads; leadership transfer; learners,
// promotion and removing the leader; a follower far behind catches up by snapshot. Every safety check of
// the simulator tests runs here too.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { NodeId } from '../../src/protocols/core/index.js'
import {
  type RaftReq,
  type RaftRes,
  type RaftTypes,
  type RaftView,
  raft,
} from '../../src/protocols/raft/index.js'
import { Sim } from '../sim/lib/index.js'
import { type RaftGhost, raftGhost, raftInvariants, recordRaft } from '../sim/raft-checks.js'
import { counterApp, SIM_RAFT } from '../sim/raft-harness.js'

const EMAX = SIM_RAFT.electionMaxMs
const app = counterApp()

function cluster(n: number, opts: { voters?: number; snapshotEntries?: number; seed?: number } = {}) {
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`)
  const replies = new Map<number, RaftRes>()
  const ghost = raftGhost()
  const sim = new Sim<RaftTypes, RaftGhost>({
    seed: opts.seed ?? 7,
    nodes: ids,
    protocol: raft(
      {
        ...SIM_RAFT,
        bootstrapVoters: ids.slice(0, opts.voters ?? n),
        snapshotEntries: opts.snapshotEntries ?? 1000,
      },
      app.make,
    ),
    faults: { delay: { min: 2, mean: 0 } },
    ghost,
    record: recordRaft,
    invariants: raftInvariants,
    workload: { onReply: (_s, r) => replies.set(r.id, r.res) },
  })
  const view = (id: NodeId): RaftView => {
    const v = sim.view(id)
    assert.ok(v, `${id} is up`)
    return v
  }
  const leaders = (): RaftView[] =>
    ids.map((id) => sim.view(id)).filter((v): v is RaftView => v !== undefined && v.role === 'leader')
  const leader = (): RaftView => {
    const ls = leaders()
    assert.equal(ls.length, 1, `exactly one leader, got ${ls.map((l) => l.id).join(',') || 'none'}`)
    return ls[0]!
  }
  /** Sends a request and runs until it is answered (or `ms` pass). */
  const ask = (node: NodeId, req: RaftReq, ms = 4 * EMAX): RaftRes | undefined => {
    const id = sim.request(node, req)
    sim.runUntil(() => replies.has(id), sim.now + ms)
    return replies.get(id)
  }
  const propose = (node: NodeId, tag: number): RaftRes | undefined =>
    ask(node, { type: 'propose', command: new Uint8Array([tag]) })
  return { sim, ids, view, leader, leaders, ask, propose }
}

describe('raft scenarios', () => {
  test('three nodes elect one leader within two election timeouts and keep it', () => {
    const c = cluster(3)
    c.sim.runFor(2 * EMAX)
    const first = c.leader()
    const term = first.term
    c.sim.runFor(25 * EMAX)
    assert.equal(c.leader().id, first.id)
    assert.equal(c.leader().term, term, 'no election while the leader is healthy')
  })

  test('a cut-off leader steps down (check-quorum); the majority elects another; no disruption on return', () => {
    const c = cluster(5)
    c.sim.runFor(2 * EMAX)
    const old = c.leader()
    const oldTerm = old.term
    c.sim.isolate(old.id)
    c.sim.runFor(3 * EMAX)
    assert.notEqual(c.view(old.id).role, 'leader', 'the isolated leader stepped down')
    assert.equal(c.view(old.id).term, oldTerm, 'pre-vote kept the isolated node from inflating its term')
    const next = c.leader()
    const nextTerm = next.term
    assert.notEqual(next.id, old.id)
    c.sim.heal()
    c.sim.runFor(5 * EMAX)
    assert.equal(c.leader().id, next.id, 'the returning node did not depose the new leader')
    assert.equal(c.leader().term, nextTerm)
    assert.equal(c.view(old.id).leader, next.id)
  })

  test('a crashed leader: followers told by their failure detector elect a new one before any election timeout', () => {
    const c = cluster(3)
    c.sim.runFor(2 * EMAX)
    const old = c.leader()
    const [f1, f2] = c.ids.filter((id) => id !== old.id) as [NodeId, NodeId]
    // A hint while the leader is alive and talking changes nothing (it was heard within two heartbeats).
    assert.deepEqual(c.ask(f1, { type: 'peerUnreachable', node: old.id }), { ok: true, type: 'noted' })
    c.sim.runFor(EMAX)
    assert.equal(c.leader().id, old.id)
    assert.equal(c.leader().term, old.term)
    c.sim.crash(old.id)
    // Well inside the election timeout (200-400 ms here), the links' failure detector reports the leader gone.
    c.sim.runFor(SIM_RAFT.heartbeatMs * 4)
    const crashedAt = c.sim.now - SIM_RAFT.heartbeatMs * 4
    c.ask(f1, { type: 'peerUnreachable', node: old.id })
    c.ask(f2, { type: 'peerUnreachable', node: old.id })
    c.sim.runUntil(() => c.leaders().length === 1, crashedAt + SIM_RAFT.electionMinMs)
    const next = c.leader()
    assert.ok(
      c.sim.now - crashedAt < SIM_RAFT.electionMinMs,
      `elected ${c.sim.now - crashedAt} ms after the crash`,
    )
    assert.ok([f1, f2].includes(next.id))
    assert.ok(next.term > old.term)
  })

  test('one follower wrongly told the leader is gone: no election, the leader stays', () => {
    const c = cluster(3)
    c.sim.runFor(2 * EMAX)
    const old = c.leader()
    const f1 = c.ids.find((id) => id !== old.id)!
    // Its own link to the leader is cut; the leader still reaches the other follower (a majority with it).
    c.sim.cut(f1, old.id)
    c.sim.runFor(SIM_RAFT.heartbeatMs * 4)
    c.ask(f1, { type: 'peerUnreachable', node: old.id })
    c.sim.runFor(SIM_RAFT.electionMinMs / 2)
    assert.equal(c.leader().id, old.id, 'the other follower, in its lease, refused the pre-vote')
    assert.equal(c.leader().term, old.term)
  })

  test('a proposal at a follower is forwarded, committed, applied everywhere and answered', () => {
    const c = cluster(3)
    c.sim.runFor(2 * EMAX)
    const follower = c.ids.find((id) => id !== c.leader().id)!
    const res = c.propose(follower, 42)
    assert.ok(res?.ok && res.type === 'applied', JSON.stringify(res))
    c.sim.runFor(EMAX)
    for (const id of c.ids) assert.ok(c.view(id).applied >= res.index)
  })

  test('without a leader a proposal is refused NOT_LEADER', () => {
    const c = cluster(3)
    const res = c.ask('n1', { type: 'propose', command: new Uint8Array([1]) }, 1)
    assert.deepEqual(res, { ok: false, code: 'NOT_LEADER', leader: null })
  })

  test('reads: answered at or after every committed entry; a cut-off leader never answers', () => {
    const c = cluster(3)
    c.sim.runFor(2 * EMAX)
    const l = c.leader()
    const w = c.propose(l.id, 1)
    assert.ok(w?.ok && w.type === 'applied')
    const follower = c.ids.find((id) => id !== l.id)!
    for (const node of [l.id, follower]) {
      const r = c.ask(node, { type: 'read', query: new Uint8Array() })
      assert.ok(r?.ok && r.type === 'read' && r.index >= w.index, `read at ${node}: ${JSON.stringify(r)}`)
    }
    c.sim.isolate(l.id)
    const stale = c.ask(l.id, { type: 'read', query: new Uint8Array() }, 3000)
    assert.ok(stale !== undefined && !stale.ok, `a cut-off leader answered a read: ${JSON.stringify(stale)}`)
  })

  test('leadership transfer hands over within one election timeout', () => {
    const c = cluster(3)
    c.sim.runFor(2 * EMAX)
    const l = c.leader()
    const term = l.term // views are live: read before the next step
    const to = c.ids.find((id) => id !== l.id)!
    const res = c.ask(l.id, { type: 'transferLeadership', to }, 1)
    assert.deepEqual(res, { ok: true, type: 'transferring', to })
    c.sim.runFor(SIM_RAFT.electionMinMs)
    assert.equal(c.leader().id, to)
    assert.equal(c.leader().term, term + 1)
  })

  test('membership: add a learner, promote it, then remove the leader, which steps down', () => {
    const c = cluster(4, { voters: 3 })
    c.sim.runFor(2 * EMAX)
    const l = c.leader()
    const add = c.ask(l.id, { type: 'changeMembership', change: { type: 'addLearner', node: 'n4' } })
    assert.ok(add?.ok, JSON.stringify(add))
    assert.deepEqual(c.view(l.id).membership, { voters: ['n1', 'n2', 'n3'], learners: ['n4'] })
    assert.deepEqual(c.ask(l.id, { type: 'changeMembership', change: { type: 'addLearner', node: 'n4' } }), {
      ok: false,
      code: 'BAD_CHANGE',
      leader: l.id,
    })
    c.sim.runFor(EMAX)
    assert.equal(c.view('n4').applied, c.view(l.id).applied, 'the learner receives the log')
    assert.notEqual(c.view('n4').role, 'leader')
    const promote = c.ask(l.id, { type: 'changeMembership', change: { type: 'addVoter', node: 'n4' } })
    assert.ok(promote?.ok, JSON.stringify(promote))
    assert.deepEqual(c.view(l.id).membership, { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] })
    const remove = c.ask(l.id, { type: 'changeMembership', change: { type: 'remove', node: l.id } })
    assert.ok(remove?.ok, JSON.stringify(remove))
    c.sim.runFor(4 * EMAX)
    const next = c.leader()
    assert.notEqual(next.id, l.id)
    assert.ok(!next.membership.voters.includes(l.id))
  })

  test('a follower that missed many entries catches up by snapshot', () => {
    const c = cluster(3, { snapshotEntries: 10 })
    c.sim.runFor(2 * EMAX)
    const l = c.leader()
    const lagging = c.ids.find((id) => id !== l.id)!
    c.sim.crash(lagging)
    for (let i = 0; i < 40; i++) assert.ok(c.propose(l.id, i)?.ok)
    assert.ok(c.view(l.id).snapshotIndex > 10, 'the leader compacted its log')
    c.sim.restart(lagging)
    c.sim.runFor(3 * EMAX)
    assert.equal(c.view(lagging).applied, c.view(l.id).applied)
    assert.ok(c.view(lagging).stats.snapshotsInstalled >= 1, 'caught up through InstallSnapshot')
    assert.ok(c.view(l.id).stats.snapshotsSent >= 1)
  })
})
