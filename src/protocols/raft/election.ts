// Leader election (Raft §5.2, §5.4.1) with pre-vote (dissertation §9.6): a node whose election timeout
// expires first asks whether it *could* win in the next term, without adopting that term, so a node cut off
// by a partition cannot inflate terms and depose a healthy leader when it returns. Vote requests that
// arrive while a leader's lease holds are refused before any term change (check-quorum's other half).

import type { NodeId } from '../core/index.js'
import type { RaftNode } from './node.js'
import { broadcastAppend, maybeCommit } from './replication.js'
import { startAwaitingReads } from './requests.js'
import type { RaftMsg, StateMachine } from './types.js'

type VoteMsg = Extract<RaftMsg, { type: 'preVote' | 'vote' | 'preVoteResp' | 'voteResp' }>

export function onElectionTimer<SM extends StateMachine>(n: RaftNode<SM>): void {
  if (n.role === 'leader') return
  const due = n.electionStart + n.electionTimeout
  if (n.now() < due) {
    // Heard from the leader since this timer was set: sleep until the countdown really ends.
    n.out.push({ type: 'setTimer', name: 'election', at: due })
    return
  }
  if (!n.canCampaign()) {
    n.resetElectionTimer()
    return
  }
  preCampaign(n)
}

/** The host lost `node` (RaftReq peerUnreachable): if it is our leader and silent, campaign now. */
export function suspectLeader<SM extends StateMachine>(n: RaftNode<SM>, node: NodeId): void {
  if (n.role !== 'follower' || n.leader !== node) return
  // Heard from it within two heartbeats (e.g. over another path): the hint is out of date.
  if (n.now() - n.lastLeaderContact < 2 * n.cfg.heartbeatMs) return
  n.leaderSuspected = true
  // Soon, not at once: followers that lost the leader together would campaign together and split the vote.
  // A random pause of up to two heartbeats spreads them, as the election timeout's randomness does.
  const due = n.now() + n.ctx.rng.int(0, 2 * n.cfg.heartbeatMs)
  if (due < n.electionStart + n.electionTimeout) {
    n.electionTimeout = due - n.electionStart
    n.out.push({ type: 'setTimer', name: 'election', at: due })
  }
}

function preCampaign<SM extends StateMachine>(n: RaftNode<SM>): void {
  n.becomePreCandidate()
  n.resetElectionTimer()
  n.votes.set(n.id, true)
  if (tally(n) === 'won') {
    campaign(n, false)
    return
  }
  const msg: RaftMsg = { type: 'preVote', term: n.term + 1, lastIndex: n.lastIndex, lastTerm: n.lastTerm }
  for (const v of n.membership.voters) if (v !== n.id) n.send(v, msg)
}

/** Starts a real election; `transfer` marks one asked for by the leader (TimeoutNow). */
export function campaign<SM extends StateMachine>(n: RaftNode<SM>, transfer: boolean): void {
  n.becomeCandidate()
  n.resetElectionTimer()
  n.votes.set(n.id, true)
  if (tally(n) === 'won') {
    win(n)
    return
  }
  const msg: RaftMsg = {
    type: 'vote',
    term: n.term,
    lastIndex: n.lastIndex,
    lastTerm: n.lastTerm,
    transfer,
  }
  for (const v of n.membership.voters) if (v !== n.id) n.send(v, msg)
}

function win<SM extends StateMachine>(n: RaftNode<SM>): void {
  n.becomeLeader()
  broadcastAppend(n, true)
  maybeCommit(n)
  startAwaitingReads(n)
}

function tally<SM extends StateMachine>(n: RaftNode<SM>): 'won' | 'lost' | 'pending' {
  let yes = 0
  let no = 0
  for (const v of n.membership.voters) {
    const granted = n.votes.get(v)
    if (granted === true) yes++
    else if (granted === false) no++
  }
  const q = n.quorum()
  return yes >= q ? 'won' : no >= q ? 'lost' : 'pending'
}

export function onVoteMessage<SM extends StateMachine>(n: RaftNode<SM>, from: NodeId, m: VoteMsg): void {
  switch (m.type) {
    case 'preVote':
    case 'vote':
      onVoteRequest(n, from, m)
      return
    case 'preVoteResp':
      // A grant carries the term we asked for; a refusal carries the refuser's term, equal to ours here.
      if (n.role !== 'preCandidate' || m.term !== (m.granted ? n.term + 1 : n.term)) {
        n.drop('unexpected')
        return
      }
      n.votes.set(from, m.granted)
      switch (tally(n)) {
        case 'won':
          campaign(n, false)
          return
        case 'lost':
          n.becomeFollower(n.term, null)
          return
        default:
          return
      }
    case 'voteResp':
      if (n.role !== 'candidate') {
        n.drop('unexpected')
        return
      }
      n.votes.set(from, m.granted)
      switch (tally(n)) {
        case 'won':
          win(n)
          return
        case 'lost':
          n.becomeFollower(n.term, null)
          return
        default:
          return
      }
  }
}

function onVoteRequest<SM extends StateMachine>(
  n: RaftNode<SM>,
  from: NodeId,
  m: Extract<RaftMsg, { type: 'preVote' | 'vote' }>,
): void {
  const pre = m.type === 'preVote'
  const mutation = n.cfg.mutation
  // One vote per term (§5.2); a pre-vote for a later term promises nothing and may be given freely.
  const canVote =
    n.vote === from ||
    (n.vote === null && n.leader === null) ||
    (pre && m.term > n.term) ||
    (!pre && mutation === 'vote-twice' && n.role !== 'leader')
  const upToDate = n.log.isUpToDate(m.lastIndex, m.lastTerm) || mutation === 'vote-stale-log'
  const type = pre ? 'preVoteResp' : 'voteResp'
  if (!(canVote && upToDate)) {
    n.send(from, { type, term: n.term, granted: false })
    return
  }
  if (pre) {
    n.send(from, { type, term: m.term, granted: true })
    return
  }
  if (n.vote !== from) {
    n.vote = from
    n.markDirty()
  }
  // Granting a vote restarts our countdown, so we do not run against the candidate we just backed.
  n.electionStart = n.now()
  n.send(from, { type, term: n.term, granted: true })
}
