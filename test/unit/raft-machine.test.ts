// One Raft machine stepped by hand: what a driver sees. Persist comes before the sends that depend on it;
// a single voter elects itself and commits alone; forged, malformed and stale messages are dropped and
// counted by reason; requests are refused with their codes; a restart re-applies the committed log;
// bad configurations and unusable durable states are refused with typed errors.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Output } from '../../src/protocols/core/index.js'
import { inDriverOrder, ProtocolError, SeededRng } from '../../src/protocols/core/index.js'
import {
  initialSnapshot,
  type RaftConfig,
  type RaftDurable,
  type RaftMsg,
  type RaftTypes,
  raft,
} from '../../src/protocols/raft/index.js'
import { counterApp, SIM_RAFT } from '../sim/raft-harness.js'

type Out = Output<RaftTypes>
const app = counterApp()

function machine(
  opts: { id?: string; members?: string[]; durable?: RaftDurable; config?: RaftConfig; seed?: number } = {},
) {
  let now = 1_000_000
  const members = opts.members ?? ['n1', 'n2', 'n3']
  const ctx = { id: opts.id ?? 'n1', members, clock: { now: () => now }, rng: new SeededRng(opts.seed ?? 1) }
  const m = raft({ ...SIM_RAFT, ...opts.config }, app.make).create(ctx, opts.durable)
  const start = m.start()
  return {
    m,
    start,
    advance: (ms: number) => {
      now += ms
    },
    msg: (from: string, msg: RaftMsg) => m.step({ type: 'message', from, msg }),
    timer: (name: string) => m.step({ type: 'timer', name }),
    request: (id: number, req: RaftTypes['Req']) => m.step({ type: 'request', id, req }),
    dropped: () => m.view().stats.dropped,
  }
}

function persistOf(out: readonly Out[]): RaftDurable {
  const p = out.find((o): o is Extract<Out, { type: 'persist' }> => o.type === 'persist')
  assert.ok(p, 'the step persisted')
  return p.state
}

const sends = (out: readonly Out[]) =>
  out.filter((o): o is Extract<Out, { type: 'send' }> => o.type === 'send')
const replies = (out: readonly Out[]) =>
  out.filter((o): o is Extract<Out, { type: 'reply' }> => o.type === 'reply')

describe('raft machine', () => {
  test('a single voter elects itself and commits a proposal alone, once its write is durable', () => {
    const n = machine({ members: ['n1'] })
    assert.ok(n.start.some((o) => o.type === 'setTimer' && o.name === 'election'))
    n.advance(SIM_RAFT.electionMaxMs)
    const elected = n.timer('election')
    assert.equal(n.m.view().role, 'leader')
    n.m.step({ type: 'persisted', state: persistOf(elected) })
    const out = inDriverOrder(n.request(1, { type: 'propose', command: new Uint8Array([7]) }))
    assert.equal(replies(out).length, 0, 'no answer before its own write is durable')
    assert.equal(n.m.view().commit, 1)
    const done = n.m.step({ type: 'persisted', state: persistOf(out) })
    const res = replies(done)[0]!.res
    assert.ok(res.ok && res.type === 'applied' && res.index === 2, JSON.stringify(res))
  })

  test("a leader's appends leave early; it counts its own log only once 'persisted' says so", () => {
    const n = machine()
    n.advance(SIM_RAFT.electionMaxMs)
    const pre = n.timer('election')
    assert.ok(sends(pre).every((s) => s.msg.type === 'preVote'))
    // A majority of pre-votes (itself and n2): it raises its term and persists term and vote.
    const cand = n.msg('n2', { type: 'preVoteResp', term: 1, granted: true })
    const term = n.m.view().term
    assert.equal(n.m.view().role, 'candidate')
    n.m.step({ type: 'persisted', state: persistOf(cand) })
    const won = n.msg('n2', { type: 'voteResp', term, granted: true })
    assert.equal(n.m.view().role, 'leader')
    // Elected: its term is durable, so the no-op's appends may leave before the no-op is written.
    const appends = sends(won).filter((s) => s.msg.type === 'append')
    assert.ok(appends.length === 2 && appends.every((s) => s.early === true), JSON.stringify(sends(won)))
    const noop = n.m.view().lastIndex
    // One follower holds the no-op: with the leader's own write not yet durable, that is no majority.
    n.msg('n2', { type: 'appendResp', term, success: true, index: noop, hintIndex: 0, hintTerm: 0 })
    assert.equal(n.m.view().commit, 0, 'the leader did not count its own unwritten log')
    n.m.step({ type: 'persisted', state: persistOf(won) })
    assert.equal(n.m.view().commit, noop)
  })

  test('a vote is persisted in the same batch that grants it, and only once per term', () => {
    const n = machine()
    const out = inDriverOrder(
      n.msg('n2', { type: 'vote', term: 1, lastIndex: 0, lastTerm: 0, transfer: false }),
    )
    assert.equal(out[0]?.type, 'persist')
    assert.deepEqual(out[0]?.type === 'persist' && [out[0].state.term, out[0].state.vote], [1, 'n2'])
    assert.deepEqual(sends(out)[0]?.msg, { type: 'voteResp', term: 1, granted: true })
    const again = n.msg('n3', { type: 'vote', term: 1, lastIndex: 5, lastTerm: 1, transfer: false })
    assert.deepEqual(sends(again)[0]?.msg, { type: 'voteResp', term: 1, granted: false })
  })

  test('a stale log gets no vote (§5.4.1)', () => {
    const durable: RaftDurable = {
      term: 2,
      vote: null,
      commit: 0,
      snapshot: initialSnapshot(['n1', 'n2', 'n3']),
      entries: [{ index: 1, term: 2, kind: 'noop' }],
    }
    const n = machine({ durable })
    const out = n.msg('n2', { type: 'vote', term: 3, lastIndex: 5, lastTerm: 1, transfer: false })
    assert.deepEqual(sends(out)[0]?.msg, { type: 'voteResp', term: 3, granted: false })
  })

  test('forged, malformed and stale messages are dropped and counted by reason', () => {
    const n = machine()
    n.msg('x9', { type: 'heartbeat', term: 1, commit: 0, ctx: 0 })
    assert.equal(n.dropped().unknownSender, 1)
    n.msg('n2', { type: 'heartbeat', term: 0, commit: 0, ctx: 0 })
    assert.equal(n.dropped().invalid, 1)
    n.msg('n2', {
      type: 'append',
      term: 2,
      prevIndex: 0,
      prevTerm: 0,
      commit: 0,
      entries: [{ index: 2, term: 2, kind: 'noop' }],
    })
    assert.equal(n.dropped().invalid, 2, 'entries not contiguous with prevIndex')
    n.msg('n2', {
      type: 'append',
      term: 2,
      prevIndex: 0,
      prevTerm: 0,
      commit: 0,
      entries: [{ index: 1, term: 3, kind: 'noop' }],
    })
    assert.equal(n.dropped().invalid, 3, 'an entry from a term after the message')
    n.msg('n2', { type: 'heartbeat', term: 2, commit: 0, ctx: 0 })
    assert.equal(n.m.view().leader, 'n2')
    n.msg('n3', { type: 'heartbeat', term: 2, commit: 0, ctx: 0 })
    assert.equal(n.dropped().conflictingLeader, 1, 'a second leader in one term')
    const stale = n.msg('n3', { type: 'heartbeat', term: 1, commit: 0, ctx: 0 })
    assert.equal(n.dropped().staleTerm, 1)
    assert.deepEqual(
      sends(stale)[0]?.msg,
      { type: 'heartbeatResp', term: 2, ctx: 0 },
      'the stale leader learns the term',
    )
    n.msg('n3', { type: 'preVote', term: 3, lastIndex: 9, lastTerm: 2 })
    assert.equal(n.dropped().inLease, 1, 'no pre-vote while the leader is heard from')
    n.msg('n3', { type: 'voteResp', term: 2, granted: true })
    assert.equal(n.dropped().unexpected, 1)
    n.m.noteUndecodable('n2')
    assert.equal(n.dropped().undecodable, 1)
    assert.equal(n.m.view().term, 2, 'nothing dropped changed the term')
  })

  test('requests are refused with their codes', () => {
    const n = machine({ config: { maxCommandBytes: 4 } })
    const big = replies(n.request(1, { type: 'propose', command: new Uint8Array(5) }))[0]?.res
    assert.deepEqual(big, { ok: false, code: 'TOO_LARGE', leader: null })
    const none = replies(n.request(2, { type: 'read', query: new Uint8Array() }))[0]?.res
    assert.deepEqual(none, { ok: false, code: 'NOT_LEADER', leader: null })
    const change = replies(
      n.request(3, { type: 'changeMembership', change: { type: 'remove', node: 'n2' } }),
    )[0]?.res
    assert.deepEqual(change, { ok: false, code: 'NOT_LEADER', leader: null })
    const status = replies(n.request(4, { type: 'status' }))[0]?.res
    assert.ok(status?.ok && status.type === 'status' && status.status.role === 'follower')
  })

  test('a follower forwards a proposal to its leader and relays the answer', () => {
    const n = machine()
    n.msg('n2', { type: 'heartbeat', term: 1, commit: 0, ctx: 0 })
    const fwd = sends(n.request(9, { type: 'propose', command: new Uint8Array([1]) }))[0]
    assert.equal(fwd?.to, 'n2')
    assert.ok(fwd?.msg.type === 'forward')
    const answer = { ok: true as const, type: 'applied' as const, index: 3, result: new Uint8Array([1]) }
    const out = n.msg('n2', { type: 'forwardResp', id: fwd.msg.id, res: answer })
    assert.deepEqual(replies(out)[0], { type: 'reply', id: 9, res: answer })
    n.msg('n2', { type: 'forwardResp', id: fwd.msg.id, res: answer })
    assert.equal(n.dropped().unexpected, 1, 'a duplicated answer is dropped')
  })

  test('an answer forwarded to an earlier incarnation does not answer a request of this one', () => {
    // Regression (simulator seed 22523 before the fix): forward ids restarted at 1 after a crash, so the
    // leader's late answer to a proposal forwarded before the crash acknowledged a different proposal.
    const durable: RaftDurable = {
      term: 1,
      vote: null,
      commit: 0,
      snapshot: initialSnapshot(['n1', 'n2', 'n3']),
      entries: [],
    }
    const forwardId = (seed: number): { n: ReturnType<typeof machine>; id: number } => {
      const n = machine({ durable, seed })
      n.msg('n2', { type: 'heartbeat', term: 1, commit: 0, ctx: 0 })
      const fwd = sends(n.request(1, { type: 'propose', command: new Uint8Array([seed]) }))[0]
      assert.ok(fwd?.msg.type === 'forward')
      return { n, id: fwd.msg.id }
    }
    const before = forwardId(1)
    const after = forwardId(2)
    assert.notEqual(before.id, after.id, 'each incarnation numbers its forwards afresh')
    const late = { ok: true as const, type: 'applied' as const, index: 15, result: new Uint8Array() }
    const out = after.n.msg('n2', { type: 'forwardResp', id: before.id, res: late })
    assert.deepEqual(replies(out), [])
    assert.equal(after.n.dropped().unexpected, 1)
  })

  test('a restart re-applies the committed log over the snapshot', () => {
    const durable: RaftDurable = {
      term: 3,
      vote: 'n1',
      commit: 3,
      snapshot: {
        index: 1,
        term: 1,
        config: { voters: ['n1', 'n2', 'n3'], learners: [] },
        data: new Uint8Array(8),
      },
      entries: [
        { index: 2, term: 2, kind: 'command', data: new Uint8Array([1]) },
        { index: 3, term: 3, kind: 'noop' },
        { index: 4, term: 3, kind: 'command', data: new Uint8Array([2]) },
      ],
    }
    const n = machine({ durable })
    const effects = n.start
      .filter((o) => o.type === 'effect')
      .map((o) => (o.type === 'effect' ? o.effect : undefined))
    assert.deepEqual(
      effects.map((e) => (e?.type === 'applied' ? `applied ${e.index}` : e?.type)),
      ['restored', 'applied 2', 'applied 3'],
    )
    assert.equal(n.m.view().applied, 3, 'entry 4 waits for the leader to say it is committed')
  })

  test('unknown timers, bad configurations and unusable durable state are typed errors', () => {
    const n = machine()
    assert.throws(
      () => n.timer('nope'),
      (e) => e instanceof ProtocolError && e.code === 'UNEXPECTED_INPUT',
    )
    assert.throws(
      () => raft({ electionMinMs: 100, electionMaxMs: 100 }, app.make),
      (e) => e instanceof ProtocolError && e.code === 'BAD_CONFIG',
    )
    assert.throws(
      () => raft({ heartbeatMs: 100, electionMinMs: 200 }, app.make),
      (e) => e instanceof ProtocolError && e.code === 'BAD_CONFIG',
    )
    const bad: RaftDurable = {
      term: 1,
      vote: null,
      commit: 5,
      snapshot: initialSnapshot(['n1']),
      entries: [],
    }
    assert.throws(
      () => machine({ durable: bad }),
      (e) => e instanceof ProtocolError && e.code === 'ASSERTION',
    )
  })
})
