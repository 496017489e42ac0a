// How a Raft node takes an input: timers by name, and messages through Raft's term rules (a higher term
// makes us a follower unless it is a vote request inside a leader's lease; a lower term is answered so a
// deposed leader learns it, then dropped) before the handler for the message's type sees them — etcd's
// Step in one place, so no handler has to repeat the term checks.

import type { NodeId } from '../core/index.js'
import { ProtocolError } from '../core/index.js'
import { campaign, onElectionTimer, onVoteMessage } from './election.js'
import type { RaftNode } from './node.js'
import {
  onAppend,
  onAppendResp,
  onHeartbeat,
  onHeartbeatResp,
  onHeartbeatTimer,
  onSnapshot,
} from './replication.js'
import { onForward, onForwardResp, onSweep } from './requests.js'
import type { RaftMsg, StateMachine } from './types.js'

const TIMER_NAMES = new Set(['election', 'heartbeat', 'checkQuorum', 'transfer', 'requests'])

export function onTimer<SM extends StateMachine>(n: RaftNode<SM>, name: string): void {
  if (!TIMER_NAMES.has(name)) {
    throw new ProtocolError('UNEXPECTED_INPUT', `raft has no timer ${JSON.stringify(name)}`)
  }
  switch (name) {
    case 'election':
      onElectionTimer(n)
      return
    case 'heartbeat':
      if (n.role === 'leader') onHeartbeatTimer(n)
      return
    case 'checkQuorum':
      if (n.role === 'leader') checkQuorum(n)
      return
    case 'transfer':
      n.transferee = null
      return
    case 'requests':
      onSweep(n)
      return
  }
}

/** A leader that has not heard from a majority within an election timeout steps down (check-quorum). */
function checkQuorum<SM extends StateMachine>(n: RaftNode<SM>): void {
  let active = n.isVoter() ? 1 : 0
  for (const v of n.log.membership().voters) if (v !== n.id && n.recentActive.has(v)) active++
  n.recentActive.clear()
  if (active < n.quorum()) {
    n.becomeFollower(n.term, null)
    return
  }
  n.setTimer('checkQuorum', n.cfg.electionMinMs)
}

/** Raft's term rules, applied to every message before its type is looked at (etcd's Step). */
export function onMessage<SM extends StateMachine>(n: RaftNode<SM>, from: NodeId, m: RaftMsg): void {
  if (from === n.id || !n.known(from)) {
    n.drop('unknownSender')
    return
  }
  if (m.type === 'forward') {
    onForward(n, from, m)
    return
  }
  if (m.type === 'forwardResp') {
    onForwardResp(n, m)
    return
  }
  if (m.term === 0) {
    n.drop('invalid')
    return
  }
  if (m.term > n.term) {
    if (m.type === 'vote' || m.type === 'preVote') {
      const forced = m.type === 'vote' && m.transfer
      if (!forced && n.inLease()) {
        n.drop('inLease')
        return
      }
    }
    const keepTerm = m.type === 'preVote' || (m.type === 'preVoteResp' && m.granted)
    if (!keepTerm) {
      const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot'
      n.becomeFollower(m.term, fromLeader ? from : null)
    }
  } else if (m.term < n.term) {
    if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
      // A deposed leader that pre-vote kept from learning the new term: tell it, so it steps down.
      n.send(from, { type: 'heartbeatResp', term: n.term, ctx: 0 })
    } else if (m.type === 'preVote') {
      n.send(from, { type: 'preVoteResp', term: n.term, granted: false })
    }
    n.drop('staleTerm')
    return
  }
  switch (m.type) {
    case 'preVote':
    case 'vote':
    case 'preVoteResp':
    case 'voteResp':
      onVoteMessage(n, from, m)
      return
    case 'append':
      onAppend(n, from, m)
      return
    case 'heartbeat':
      onHeartbeat(n, from, m)
      return
    case 'snapshot':
      onSnapshot(n, from, m)
      return
    case 'appendResp':
      onAppendResp(n, from, m)
      return
    case 'heartbeatResp':
      onHeartbeatResp(n, from, m)
      return
    case 'timeoutNow':
      if (from !== n.leader || !n.canCampaign()) {
        n.drop('unexpected')
        return
      }
      campaign(n, true)
      return
  }
}
