// What clients ask of Raft and how each request finds its answer: proposals (appended by the leader or
// forwarded to it by a follower), linearizable reads by ReadIndex (§6.4: the leader notes its commit index,
// confirms with a heartbeat round that a majority still follows it, then answers once it has applied that
// far — no clock is trusted, so clock drift cannot produce a stale read); membership changes and leadership
// transfer are dispatched to membership.ts. Applying committed entries lives here, because that is where
// proposals get their replies.
//
// Outcomes are honest: DROPPED only when a different entry was applied at the proposal's index; a
// proposal whose fate is unknown when its deadline passes is answered TIMEOUT, never as a failure.

import type { NodeId, RequestId } from '../core/index.js'
import { invariant } from '../core/index.js'
import { suspectLeader } from './election.js'
import { changeMembership, transfer } from './membership.js'
import type { RaftNode } from './node.js'
import { broadcastAppend, broadcastHeartbeat, maybeCommit } from './replication.js'
import type { RaftMsg, RaftReq, RaftRes, StateMachine } from './types.js'

export type Origin =
  | { readonly kind: 'local'; readonly id: RequestId }
  | { readonly kind: 'remote'; readonly from: NodeId; readonly forwardId: number }

interface Proposal {
  readonly term: number
  readonly origin: Origin
  readonly deadline: number
}
interface Forwarded {
  readonly id: RequestId
  /** For a forwarded read: the query, evaluated here once the read index is applied. */
  readonly query: Uint8Array | null
  readonly deadline: number
}
interface LeaderRead {
  readonly ctx: number
  readonly index: number
  readonly origin: Origin
  readonly query: Uint8Array | null
  readonly deadline: number
}
interface WaitingRead {
  readonly index: number
  readonly id: RequestId
  readonly query: Uint8Array
  readonly deadline: number
}

export interface RequestBook {
  /** Entries this node appended as leader, by index, until applied or timed out. */
  readonly proposals: Map<number, Proposal>
  /** Requests this node forwarded to a leader, by forward id. */
  readonly forwarded: Map<number, Forwarded>
  /** Leader: reads waiting for a majority to confirm the read context. */
  pendingReads: LeaderRead[]
  /** Leader: reads that arrived before this term's no-op committed. */
  awaitingNoop: Omit<LeaderRead, 'ctx' | 'index'>[]
  /** Reads whose index is confirmed, waiting for this node to apply that far. */
  waitingReads: WaitingRead[]
  nextForwardId: number
  sweepArmed: boolean
}

const EMPTY = new Uint8Array(0)

export function fail(code: Extract<RaftRes, { ok: false }>['code'], leader: NodeId | null): RaftRes {
  return { ok: false, code, leader }
}

function pendingCount(b: RequestBook): number {
  return (
    b.proposals.size +
    b.forwarded.size +
    b.pendingReads.length +
    b.awaitingNoop.length +
    b.waitingReads.length
  )
}

function armSweep<SM extends StateMachine>(n: RaftNode<SM>): void {
  if (n.requests.sweepArmed || pendingCount(n.requests) === 0) return
  n.requests.sweepArmed = true
  n.setTimer('requests', Math.max(1, Math.floor(n.cfg.requestTimeoutMs / 4)))
}

export function onRequest<SM extends StateMachine>(n: RaftNode<SM>, id: RequestId, req: RaftReq): void {
  const local: Origin = { kind: 'local', id }
  if (req.type === 'status') {
    const status = {
      id: n.id,
      role: n.role,
      term: n.term,
      leader: n.leader,
      commit: n.commit,
      applied: n.applied,
      lastIndex: n.lastIndex,
      snapshotIndex: n.snapshotIndex,
      membership: n.membership,
    }
    n.respond(local, { ok: true, type: 'status', status })
    return
  }
  if (req.type === 'peerUnreachable') {
    suspectLeader(n, req.node)
    n.respond(local, { ok: true, type: 'noted' })
    return
  }
  if (pendingCount(n.requests) >= n.cfg.maxPending) {
    n.respond(local, fail('BUSY', n.leader))
    return
  }
  switch (req.type) {
    case 'propose':
      if (req.command.length > n.cfg.maxCommandBytes) {
        n.respond(local, fail('TOO_LARGE', n.leader))
        return
      }
      if (n.role !== 'leader' && n.leader !== null) {
        forward(n, id, { type: 'propose', command: req.command }, null)
        return
      }
      propose(n, local, req.command)
      return
    case 'read':
      if (n.role === 'leader') {
        startRead(n, local, req.query)
        return
      }
      if (n.leader !== null) {
        forward(n, id, { type: 'readIndex' }, req.query)
        return
      }
      n.respond(local, fail('NOT_LEADER', null))
      return
    case 'changeMembership':
      changeMembership(n, local, req.change)
      return
    case 'transferLeadership':
      transfer(n, local, req.to)
      return
  }
}

function forward<SM extends StateMachine>(
  n: RaftNode<SM>,
  id: RequestId,
  req: Extract<RaftMsg, { type: 'forward' }>['req'],
  query: Uint8Array | null,
): void {
  const fid = ++n.requests.nextForwardId
  n.requests.forwarded.set(fid, { id, query, deadline: n.now() + n.cfg.requestTimeoutMs })
  n.send(n.leader!, { type: 'forward', id: fid, req })
  armSweep(n)
}

function propose<SM extends StateMachine>(n: RaftNode<SM>, origin: Origin, command: Uint8Array): void {
  if (n.role !== 'leader') {
    n.respond(origin, fail('NOT_LEADER', n.leader))
    return
  }
  if (n.transferee !== null) {
    n.respond(origin, fail('TRANSFERRING', n.leader))
    return
  }
  const index = n.lastIndex + 1
  n.log.append([{ index, term: n.term, kind: 'command', data: command }])
  n.markDirty()
  track(n, index, origin)
  broadcastAppend(n, false)
  maybeCommit(n)
}

/** Remembers who waits for the entry just appended at `index`. */
export function track<SM extends StateMachine>(n: RaftNode<SM>, index: number, origin: Origin): void {
  const earlier = n.requests.proposals.get(index)
  // An entry we appended at this index in an earlier term is gone from our log. It might still commit
  // through another node's log, so its proposer learns only that the outcome is unknown.
  if (earlier !== undefined) n.respond(earlier.origin, fail('TIMEOUT', n.leader))
  n.requests.proposals.set(index, { term: n.term, origin, deadline: n.now() + n.cfg.requestTimeoutMs })
  armSweep(n)
}

export function onForward<SM extends StateMachine>(
  n: RaftNode<SM>,
  from: NodeId,
  m: Extract<RaftMsg, { type: 'forward' }>,
): void {
  const origin: Origin = { kind: 'remote', from, forwardId: m.id }
  if (n.role !== 'leader') {
    n.respond(origin, fail('NOT_LEADER', n.leader))
    return
  }
  if (pendingCount(n.requests) >= n.cfg.maxPending) {
    n.respond(origin, fail('BUSY', n.leader))
    return
  }
  if (m.req.type === 'readIndex') {
    startRead(n, origin, null)
    return
  }
  if (m.req.command.length > n.cfg.maxCommandBytes) {
    n.respond(origin, fail('TOO_LARGE', n.leader))
    return
  }
  propose(n, origin, m.req.command)
}

export function onForwardResp<SM extends StateMachine>(
  n: RaftNode<SM>,
  m: Extract<RaftMsg, { type: 'forwardResp' }>,
): void {
  const f = n.requests.forwarded.get(m.id)
  if (f === undefined) {
    n.drop('unexpected')
    return
  }
  const res = m.res
  const isRead = f.query !== null
  const fits = !res.ok || (isRead ? res.type === 'readIndex' : res.type === 'applied')
  if (!fits) {
    n.drop('invalid')
    return
  }
  n.requests.forwarded.delete(m.id)
  if (res.ok && res.type === 'readIndex') {
    n.requests.waitingReads.push({ index: res.index, id: f.id, query: f.query!, deadline: f.deadline })
    serveReads(n)
    return
  }
  n.out.push({ type: 'reply', id: f.id, res })
}

function startRead<SM extends StateMachine>(n: RaftNode<SM>, origin: Origin, query: Uint8Array | null): void {
  const deadline = n.now() + n.cfg.requestTimeoutMs
  if (n.cfg.mutation === 'read-without-quorum') {
    completeRead(n, origin, query, n.commit, deadline)
    return
  }
  // Until this term's no-op commits, our commit index may trail entries committed by earlier leaders.
  if (n.commit < n.noopIndex) {
    n.requests.awaitingNoop.push({ origin, query, deadline })
    armSweep(n)
    return
  }
  const ctx = ++n.readCtx
  n.requests.pendingReads.push({ ctx, index: n.commit, origin, query, deadline })
  armSweep(n)
  checkReads(n)
  if (n.requests.pendingReads.length > 0) broadcastHeartbeat(n, ctx)
}

/** Leader: the no-op of this term committed, so reads that waited for it can start. */
export function startAwaitingReads<SM extends StateMachine>(n: RaftNode<SM>): void {
  if (n.role !== 'leader' || n.commit < n.noopIndex || n.requests.awaitingNoop.length === 0) return
  const waiting = n.requests.awaitingNoop
  n.requests.awaitingNoop = []
  for (const r of waiting) startRead(n, r.origin, r.query)
}

/** Leader: completes, in order, every pending read whose context a majority of voters confirmed. */
export function checkReads<SM extends StateMachine>(n: RaftNode<SM>): void {
  const reads = n.requests.pendingReads
  let done = 0
  while (done < reads.length) {
    const r = reads[done]!
    let acks = n.isVoter() ? 1 : 0
    for (const v of n.membership.voters) {
      if (v !== n.id && (n.progress.get(v)?.ackedCtx ?? 0) >= r.ctx) acks++
    }
    if (acks < n.quorum()) break
    done++
  }
  if (done === 0) return
  n.requests.pendingReads = reads.slice(done)
  for (const r of reads.slice(0, done)) completeRead(n, r.origin, r.query, r.index, r.deadline)
}

function completeRead<SM extends StateMachine>(
  n: RaftNode<SM>,
  origin: Origin,
  query: Uint8Array | null,
  index: number,
  deadline: number,
): void {
  if (origin.kind === 'remote') {
    n.respond(origin, { ok: true, type: 'readIndex', index })
    return
  }
  invariant(query !== null, 'a local read without a query')
  n.requests.waitingReads.push({ index, id: origin.id, query, deadline })
  serveReads(n)
}

function serveReads<SM extends StateMachine>(n: RaftNode<SM>): void {
  const waiting = n.requests.waitingReads
  if (waiting.length === 0) return
  const still: WaitingRead[] = []
  for (const r of waiting) {
    if (r.index > n.applied) still.push(r)
    else {
      const result = n.stateMachine.query(r.query)
      n.out.push({ type: 'reply', id: r.id, res: { ok: true, type: 'read', index: n.applied, result } })
    }
  }
  n.requests.waitingReads = still
}

/** A leader stepping down: reads not yet confirmed cannot be; proposals wait for their entries' fate. */
export function failLeaderRequests<SM extends StateMachine>(n: RaftNode<SM>): void {
  const b = n.requests
  for (const r of [...b.pendingReads, ...b.awaitingNoop]) n.respond(r.origin, fail('NOT_LEADER', null))
  b.pendingReads = []
  b.awaitingNoop = []
}

/** Applies committed entries in order, answers their proposers, then snapshots if the log grew long. */
export function applyCommitted<SM extends StateMachine>(n: RaftNode<SM>): void {
  let removed = false
  while (n.applied < n.commit) {
    const index = n.applied + 1
    const e = n.log.entryAt(index)
    invariant(e !== undefined, `${n.id}: committed entry ${index} missing from the log`)
    const result = e.kind === 'command' ? n.stateMachine.apply(e.data, index) : EMPTY
    n.applied = index
    n.effect({ type: 'applied', index, term: e.term, entry: e, result })
    const p = n.requests.proposals.get(index)
    if (p !== undefined) {
      n.requests.proposals.delete(index)
      n.respond(
        p.origin,
        p.term === e.term ? { ok: true, type: 'applied', index, result } : fail('DROPPED', n.leader),
      )
    }
    // A leader removed by a committed change hands over by stepping down (dissertation §4.2.2).
    if (e.kind === 'config' && n.role === 'leader' && !e.config.voters.includes(n.id)) removed = true
  }
  serveReads(n)
  if (n.applied - n.snapshotIndex >= n.cfg.snapshotEntries) {
    n.log.compact(n.applied, n.stateMachine.snapshot())
    n.markDirty()
    n.counters.snapshotsTaken++
  }
  if (removed) n.becomeFollower(n.term, null)
}

/** Answers TIMEOUT to everything past its deadline; the outcome of those requests is unknown. */
export function onSweep<SM extends StateMachine>(n: RaftNode<SM>): void {
  const b = n.requests
  b.sweepArmed = false
  const now = n.now()
  const timeout = fail('TIMEOUT', n.leader)
  for (const [index, p] of b.proposals) {
    if (p.deadline <= now) {
      b.proposals.delete(index)
      n.respond(p.origin, timeout)
    }
  }
  for (const [fid, f] of b.forwarded) {
    if (f.deadline <= now) {
      b.forwarded.delete(fid)
      n.out.push({ type: 'reply', id: f.id, res: timeout })
    }
  }
  const expire = <R extends { deadline: number }>(list: R[], answer: (r: R) => void): R[] => {
    for (const r of list) if (r.deadline <= now) answer(r)
    return list.filter((r) => r.deadline > now)
  }
  b.pendingReads = expire(b.pendingReads, (r) => n.respond(r.origin, timeout))
  b.awaitingNoop = expire(b.awaitingNoop, (r) => n.respond(r.origin, timeout))
  b.waitingReads = expire(b.waitingReads, (r) => n.out.push({ type: 'reply', id: r.id, res: timeout }))
  armSweep(n)
}
