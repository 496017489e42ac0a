// Log replication (Raft §5.3, §5.4.2, §7): the leader's per-follower progress (probe, replicate, snapshot,
// as in etcd-raft), the follower's side of append and InstallSnapshot, and commitment. The network may
// lose, duplicate and reorder anything, so every response is checked against the progress it claims to
// answer, and retransmission is driven by the heartbeat rather than by per-message timers.

import type { NodeId } from '../core/index.js'
import { invariant } from '../core/index.js'
import type { Progress, RaftNode } from './node.js'
import { applyCommitted, checkReads, startAwaitingReads } from './requests.js'
import type { RaftMsg, StateMachine } from './types.js'

type Msg<T extends RaftMsg['type']> = Extract<RaftMsg, { type: T }>
/** Append messages kept in flight per follower while streaming. */
const PIPELINE = 4

export function broadcastAppend<SM extends StateMachine>(n: RaftNode<SM>, allowEmpty: boolean): void {
  for (const [peer, pr] of n.progress) sendAppend(n, peer, pr, allowEmpty)
}

export function sendAppend<SM extends StateMachine>(
  n: RaftNode<SM>,
  to: NodeId,
  pr: Progress,
  allowEmpty: boolean,
): void {
  for (let sent = 0; sent < PIPELINE; sent++) {
    if (pr.state === 'snapshot' || (pr.state === 'probe' && pr.paused)) return
    invariant(pr.next <= n.lastIndex + 1, `progress of ${to}: next ${pr.next} beyond ${n.lastIndex + 1}`)
    const prevIndex = pr.next - 1
    const prevTerm = n.log.termAt(prevIndex)
    // The entries the follower needs were folded into our snapshot: only the snapshot can help.
    if (prevTerm === undefined) {
      sendSnapshot(n, to, pr)
      return
    }
    const entries = n.log.slice(pr.next, n.lastIndex, n.cfg.maxEntriesPerAppend)
    if (entries.length === 0 && !(allowEmpty && sent === 0)) return
    n.send(to, { type: 'append', term: n.term, prevIndex, prevTerm, entries, commit: n.commit })
    if (pr.state === 'probe') {
      pr.paused = true
      return
    }
    pr.next += entries.length
    if (entries.length === 0) return
  }
}

function sendSnapshot<SM extends StateMachine>(n: RaftNode<SM>, to: NodeId, pr: Progress): void {
  const snapshot = n.log.snapshot
  n.send(to, { type: 'snapshot', term: n.term, snapshot })
  pr.state = 'snapshot'
  pr.pendingSnapshot = snapshot.index
  pr.lastProgress = n.now()
  n.counters.snapshotsSent++
}

/**
 * Leader: heartbeats carry the commit index and the newest read context; stalled streams fall back to
 * probing.
 */
export function onHeartbeatTimer<SM extends StateMachine>(n: RaftNode<SM>): void {
  n.setTimer('heartbeat', n.cfg.heartbeatMs)
  const ctx = n.requests.pendingReads.length > 0 ? n.readCtx : 0
  const now = n.now()
  for (const [peer, pr] of n.progress) {
    n.send(peer, { type: 'heartbeat', term: n.term, commit: Math.min(pr.match, n.commit), ctx })
    const stalled =
      (pr.state === 'replicate' && pr.match < n.lastIndex && now - pr.lastProgress > 2 * n.cfg.heartbeatMs) ||
      (pr.state === 'snapshot' && now - pr.lastProgress > n.cfg.electionMinMs)
    if (stalled) {
      // Something was lost on the way: resume from what the follower is known to hold.
      pr.state = 'probe'
      pr.next = pr.match + 1
      pr.paused = false
      sendAppend(n, peer, pr, true)
    }
  }
}

/** Leader: a broadcast of the current read context, so pending reads need not wait for the next tick. */
export function broadcastHeartbeat<SM extends StateMachine>(n: RaftNode<SM>, ctx: number): void {
  for (const [peer, pr] of n.progress) {
    n.send(peer, { type: 'heartbeat', term: n.term, commit: Math.min(pr.match, n.commit), ctx })
  }
}

/**
 * Leader: commit the highest index a majority holds, counting only entries of its own term (§5.4.2). The
 * leader counts its own log only as far as it is durable: its appends leave before its own fsync (§10.2.1
 * of the Raft thesis), so the write to its disk runs in parallel with the followers'.
 */
export function maybeCommit<SM extends StateMachine>(n: RaftNode<SM>): void {
  if (n.role !== 'leader') return
  const voters = n.membership.voters
  const matches = voters.map((v) => (v === n.id ? n.durableMatch() : (n.progress.get(v)?.match ?? 0)))
  matches.sort((a, b) => b - a)
  const q = matches[n.quorum() - 1] ?? 0
  if (q <= n.commit) return
  if (n.log.termAt(q) !== n.term && n.cfg.mutation !== 'commit-old-term') return
  n.commit = q
  applyCommitted(n)
  startAwaitingReads(n)
}

export function onAppendResp<SM extends StateMachine>(
  n: RaftNode<SM>,
  from: NodeId,
  m: Msg<'appendResp'>,
): void {
  const pr = n.role === 'leader' ? n.progress.get(from) : undefined
  if (pr === undefined) {
    n.drop('unexpected')
    return
  }
  n.recentActive.add(from)
  if (m.success) {
    if (m.index > n.lastIndex) {
      n.drop('invalid')
      return
    }
    if (m.index > pr.match) {
      pr.match = m.index
      pr.lastProgress = n.now()
    }
    if (pr.state === 'snapshot' && pr.match < pr.pendingSnapshot) return
    if (pr.state !== 'replicate') {
      pr.state = 'replicate'
      pr.next = pr.match + 1
      pr.paused = false
    } else pr.next = Math.max(pr.next, pr.match + 1)
    maybeCommit(n)
    if (n.role !== 'leader') return
    if (n.transferee === from && pr.match === n.lastIndex) {
      n.send(from, { type: 'timeoutNow', term: n.term })
    }
    sendAppend(n, from, pr, false)
    return
  }
  // A rejection answers one probe; anything else is a late duplicate.
  if (pr.state === 'snapshot') return
  if (pr.state === 'replicate' && m.index <= pr.match) return
  if (pr.state === 'probe' && m.index !== pr.next - 1) return
  const hinted = m.hintTerm > 0 ? n.log.conflictHint(m.hintIndex, m.hintTerm).index : m.hintIndex
  pr.next = Math.max(pr.match + 1, Math.min(m.index, hinted + 1))
  pr.state = 'probe'
  pr.paused = false
  sendAppend(n, from, pr, true)
}

export function onHeartbeatResp<SM extends StateMachine>(
  n: RaftNode<SM>,
  from: NodeId,
  m: Msg<'heartbeatResp'>,
): void {
  const pr = n.role === 'leader' ? n.progress.get(from) : undefined
  if (pr === undefined) {
    n.drop('unexpected')
    return
  }
  n.recentActive.add(from)
  if (m.ctx > pr.ackedCtx) {
    if (m.ctx > n.readCtx) {
      n.drop('invalid')
      return
    }
    pr.ackedCtx = m.ctx
    checkReads(n)
  }
  if (pr.state === 'probe' && pr.match < n.lastIndex) {
    pr.paused = false
    sendAppend(n, from, pr, true)
  }
}

function validAppend(m: Msg<'append'>): boolean {
  if (m.prevTerm > m.term) return false
  let prevTerm = m.prevTerm
  for (let k = 0; k < m.entries.length; k++) {
    const e = m.entries[k]!
    if (e.index !== m.prevIndex + 1 + k || e.term < prevTerm || e.term > m.term) return false
    prevTerm = e.term
  }
  return true
}

export function onAppend<SM extends StateMachine>(n: RaftNode<SM>, from: NodeId, m: Msg<'append'>): void {
  if (!validAppend(m)) {
    n.drop('invalid')
    return
  }
  if (!n.acceptLeader(from)) return
  const reply = (success: boolean, index: number, hintIndex = 0, hintTerm = 0): void =>
    n.send(from, { type: 'appendResp', term: n.term, success, index, hintIndex, hintTerm })
  // Everything up to our commit index is settled; say so and let the leader move on from there.
  if (m.prevIndex < n.commit) {
    reply(true, n.commit)
    return
  }
  if (n.log.termAt(m.prevIndex) !== m.prevTerm) {
    const hint = n.log.conflictHint(Math.min(m.prevIndex, n.lastIndex), m.prevTerm)
    reply(false, m.prevIndex, hint.index, hint.term)
    return
  }
  let k = 0
  while (k < m.entries.length && n.log.termAt(m.entries[k]!.index) === m.entries[k]!.term) k++
  if (k < m.entries.length) {
    const first = m.entries[k]!
    invariant(first.index > n.commit, `${n.id}: leader ${from} conflicts with committed entry ${first.index}`)
    if (n.cfg.mutation === 'keep-conflicting-suffix') {
      for (const e of m.entries.slice(k)) n.log.overwriteInPlace(e)
    } else {
      n.log.truncateAfter(first.index - 1)
      n.log.append(m.entries.slice(k))
    }
    n.markDirty()
  }
  const lastNew = m.prevIndex + m.entries.length
  const commit = Math.min(m.commit, lastNew)
  if (commit > n.commit) {
    n.commit = commit
    applyCommitted(n)
  }
  reply(true, lastNew)
}

export function onHeartbeat<SM extends StateMachine>(
  n: RaftNode<SM>,
  from: NodeId,
  m: Msg<'heartbeat'>,
): void {
  if (!n.acceptLeader(from)) return
  // The leader sends at most what it knows we hold, so this prefix of our log is the leader's.
  const commit = Math.min(m.commit, n.lastIndex)
  if (commit > n.commit) {
    n.commit = commit
    applyCommitted(n)
  }
  n.send(from, { type: 'heartbeatResp', term: n.term, ctx: m.ctx })
}

export function onSnapshot<SM extends StateMachine>(n: RaftNode<SM>, from: NodeId, m: Msg<'snapshot'>): void {
  const s = m.snapshot
  if (s.index === 0 || s.term === 0 || s.term > m.term || s.config.voters.length === 0) {
    n.drop('invalid')
    return
  }
  if (!n.acceptLeader(from)) return
  const reply = (index: number): void =>
    n.send(from, { type: 'appendResp', term: n.term, success: true, index, hintIndex: 0, hintTerm: 0 })
  if (s.index <= n.commit) {
    reply(n.commit)
    return
  }
  if (n.log.termAt(s.index) === s.term) {
    // We hold the snapshot's last entry, hence everything before it: just commit that far.
    n.commit = s.index
    applyCommitted(n)
    reply(s.index)
    return
  }
  try {
    n.stateMachine.restore(s.data)
  } catch {
    n.drop('invalid')
    return
  }
  n.log.install(s)
  n.commit = s.index
  n.applied = s.index
  n.markDirty()
  n.counters.snapshotsInstalled++
  n.effect({ type: 'restored', index: s.index, term: s.term })
  applyCommitted(n)
  reply(s.index)
}
