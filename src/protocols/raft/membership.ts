// Membership changes one server at a time (dissertation §4.1): any two majorities of configurations that
// differ by one voter overlap, so no joint consensus is needed as long as only one change is in flight,
// which changeMembership enforces. Learners (etcd's non-voters) receive the log without counting toward
// any majority, so a new node can catch up before it is promoted. Leadership transfer lives here too: it
// is the other way an operator reshapes who leads.

import type { NodeId } from '../core/index.js'
import { membershipOf } from './durable.js'
import type { RaftNode } from './node.js'
import { broadcastAppend, maybeCommit, sendAppend } from './replication.js'
import { fail, type Origin, track } from './requests.js'
import type { Membership, MembershipChange, StateMachine } from './types.js'

/** The membership after `change`, or a reason it makes no sense. */
export function changedMembership(m: Membership, change: MembershipChange): Membership | string {
  const { node } = change
  if (node.length === 0 || node.length > 128) return 'node id must be 1..128 characters'
  const voter = m.voters.includes(node)
  const learner = m.learners.includes(node)
  switch (change.type) {
    case 'addLearner':
      if (voter || learner) return `${node} is already a ${voter ? 'voter' : 'learner'}`
      return membershipOf(m.voters, [...m.learners, node])
    case 'addVoter':
      if (voter) return `${node} is already a voter`
      return membershipOf(
        [...m.voters, node],
        m.learners.filter((l) => l !== node),
      )
    case 'remove':
      if (!voter && !learner) return `${node} is not a member`
      if (voter && m.voters.length === 1) return `${node} is the last voter`
      return membershipOf(
        m.voters.filter((v) => v !== node),
        m.learners.filter((l) => l !== node),
      )
  }
}

export function sameMembership(a: Membership, b: Membership): boolean {
  return sameList(a.voters, b.voters) && sameList(a.learners, b.learners)
}

function sameList(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/** Leader: appends a membership change, one at a time. */
export function changeMembership<SM extends StateMachine>(
  n: RaftNode<SM>,
  origin: Origin,
  change: MembershipChange,
): void {
  if (n.role !== 'leader') {
    n.respond(origin, fail('NOT_LEADER', n.leader))
    return
  }
  if (n.transferee !== null) {
    n.respond(origin, fail('TRANSFERRING', n.leader))
    return
  }
  // One change at a time, and not before this leader committed an entry of its own term: otherwise an
  // uncommitted change of a previous leader could still be overwritten (Ongaro, raft-dev, 2015).
  if (n.commit < n.noopIndex || n.log.lastConfigIndex() > n.commit) {
    n.respond(origin, fail('CHANGE_PENDING', n.leader))
    return
  }
  const next = changedMembership(n.membership, change)
  if (typeof next === 'string') {
    n.respond(origin, fail('BAD_CHANGE', n.leader))
    return
  }
  const index = n.lastIndex + 1
  n.log.append([{ index, term: n.term, kind: 'config', config: next }])
  n.markDirty()
  track(n, index, origin)
  n.syncProgress()
  broadcastAppend(n, false)
  maybeCommit(n)
}

/** Leader: hands leadership to `to` once its log is complete (TimeoutNow, dissertation §3.10). */
export function transfer<SM extends StateMachine>(n: RaftNode<SM>, origin: Origin, to: NodeId): void {
  if (n.role !== 'leader') {
    n.respond(origin, fail('NOT_LEADER', n.leader))
    return
  }
  if (to === n.id) {
    n.respond(origin, { ok: true, type: 'transferring', to })
    return
  }
  const pr = n.progress.get(to)
  if (pr === undefined || !n.membership.voters.includes(to)) {
    n.respond(origin, fail('BAD_CHANGE', n.leader))
    return
  }
  if (n.transferee !== null) {
    n.respond(origin, fail('TRANSFERRING', n.leader))
    return
  }
  n.transferee = to
  n.setTimer('transfer', n.cfg.electionMinMs)
  if (pr.match === n.lastIndex) n.send(to, { type: 'timeoutNow', term: n.term })
  else sendAppend(n, to, pr, true)
  n.respond(origin, { ok: true, type: 'transferring', to })
}
