// The vocabulary of the Raft protocol: log entries, membership, durable state, messages, client requests
// and replies, effects and the read-only view. Kept apart from the machine so the codec, the storage layer
// (src/raftlog) and the tests can speak about Raft without importing its implementation.

import type { NodeId, ProtocolTypes } from '../core/index.js'

/** Voters decide elections and commitment; learners only receive the log (etcd's learners). */
export interface Membership {
  /** Sorted, distinct. */
  readonly voters: readonly NodeId[]
  /** Sorted, distinct, disjoint from voters. */
  readonly learners: readonly NodeId[]
}

/**
 * One log entry. `noop` is what a new leader appends to commit entries of earlier terms (Raft §5.4.2);
 * `config` carries the whole membership that takes effect as soon as the entry is in a log (§4.1 of the
 * dissertation: a server always uses the latest configuration in its log, committed or not).
 */
export type Entry =
  | { readonly index: number; readonly term: number; readonly kind: 'noop' }
  | { readonly index: number; readonly term: number; readonly kind: 'command'; readonly data: Uint8Array }
  | { readonly index: number; readonly term: number; readonly kind: 'config'; readonly config: Membership }

/** The base of the log: everything up to `index` is folded into `data` (the state machine's snapshot). */
export interface Snapshot {
  readonly index: number
  readonly term: number
  /** Membership as of `index`. */
  readonly config: Membership
  /** The state machine's snapshot bytes; empty at index 0 (a fresh state machine). */
  readonly data: Uint8Array
}

/**
 * Everything that must survive a crash. `commit` is a lower bound only (persisted when something else is
 * persisted anyway): losing it costs re-learning the commit index from the leader, never safety.
 */
export interface RaftDurable {
  readonly term: number
  readonly vote: NodeId | null
  readonly commit: number
  readonly snapshot: Snapshot
  /** Contiguous, starting at snapshot.index + 1. */
  readonly entries: readonly Entry[]
}

export type RaftMsg =
  /** Pre-vote (§9.6): would you vote for me in `term` (not yet adopted by the sender)? */
  | {
      readonly type: 'preVote'
      readonly term: number
      readonly lastIndex: number
      readonly lastTerm: number
    }
  | { readonly type: 'preVoteResp'; readonly term: number; readonly granted: boolean }
  | {
      readonly type: 'vote'
      readonly term: number
      readonly lastIndex: number
      readonly lastTerm: number
      /** Sent after TimeoutNow: bypasses the leader lease check-quorum gives followers. */
      readonly transfer: boolean
    }
  | { readonly type: 'voteResp'; readonly term: number; readonly granted: boolean }
  | {
      readonly type: 'append'
      readonly term: number
      readonly prevIndex: number
      readonly prevTerm: number
      readonly entries: readonly Entry[]
      readonly commit: number
    }
  /**
   * Success: `index` is the follower's last index known to match the leader. Rejection: `index` is the
   * rejected prevIndex and (hintIndex, hintTerm) the follower's best guess of where logs may agree.
   */
  | {
      readonly type: 'appendResp'
      readonly term: number
      readonly success: boolean
      readonly index: number
      readonly hintIndex: number
      readonly hintTerm: number
    }
  /** `commit` is at most what the follower is known to hold; `ctx` > 0 asks it to confirm a read. */
  | { readonly type: 'heartbeat'; readonly term: number; readonly commit: number; readonly ctx: number }
  | { readonly type: 'heartbeatResp'; readonly term: number; readonly ctx: number }
  | { readonly type: 'snapshot'; readonly term: number; readonly snapshot: Snapshot }
  /** Leadership transfer: campaign now, skipping pre-vote. */
  | { readonly type: 'timeoutNow'; readonly term: number }
  /** A follower forwards a client's proposal or read to the leader (no term semantics). */
  | { readonly type: 'forward'; readonly id: number; readonly req: ForwardedReq }
  | { readonly type: 'forwardResp'; readonly id: number; readonly res: RaftRes }

export type RaftMsgType = RaftMsg['type']

/** What a follower may forward: proposals and the read-index step of a read. */
export type ForwardedReq =
  | { readonly type: 'propose'; readonly command: Uint8Array }
  | { readonly type: 'readIndex' }

export type MembershipChange =
  | { readonly type: 'addLearner'; readonly node: NodeId }
  /** Adds a voter, or promotes a learner. */
  | { readonly type: 'addVoter'; readonly node: NodeId }
  | { readonly type: 'remove'; readonly node: NodeId }

export type RaftReq =
  /** Append `command`; replied once applied (with the state machine's result) or known lost. */
  | { readonly type: 'propose'; readonly command: Uint8Array }
  /** A linearizable read (ReadIndex, §6.4): evaluated on the state machine once it is safe. */
  | { readonly type: 'read'; readonly query: Uint8Array }
  | { readonly type: 'changeMembership'; readonly change: MembershipChange }
  | { readonly type: 'transferLeadership'; readonly to: NodeId }
  | { readonly type: 'status' }
  /**
   * The host's failure detector lost `node` (its link went silent): if it is this follower's leader and has
   * not been heard from for two heartbeats, the follower stops honouring its lease and starts a (pre-)vote
   * now instead of at its election timeout. A wrong hint is harmless: pre-vote still needs a majority that
   * lost the leader too (or whose own lease ran out), and the hint is dropped on the leader's next message.
   */
  | { readonly type: 'peerUnreachable'; readonly node: NodeId }

export type RaftErrorCode =
  /** This node is not the leader and knows none to forward to; `leader` may still hint one. */
  | 'NOT_LEADER'
  /** The outcome is unknown: the proposal may still commit. Never treat as a failure. */
  | 'TIMEOUT'
  /** Definitely not applied: another entry was committed at its index. */
  | 'DROPPED'
  /** A leadership transfer is in progress; retry shortly. */
  | 'TRANSFERRING'
  /** One membership change at a time: the previous one is not committed yet (or the leader is new). */
  | 'CHANGE_PENDING'
  /** The change makes no sense for the current membership (adding a voter twice, removing the last). */
  | 'BAD_CHANGE'
  /** Too many requests in flight, or a command over the size limit. */
  | 'BUSY'
  | 'TOO_LARGE'

export interface RaftStatus {
  readonly id: NodeId
  readonly role: RaftRole
  readonly term: number
  readonly leader: NodeId | null
  readonly commit: number
  readonly applied: number
  readonly lastIndex: number
  readonly snapshotIndex: number
  readonly membership: Membership
}

export type RaftRes =
  | { readonly ok: true; readonly type: 'applied'; readonly index: number; readonly result: Uint8Array }
  /** A read: `index` is the applied index the query was evaluated at. */
  | { readonly ok: true; readonly type: 'read'; readonly index: number; readonly result: Uint8Array }
  /** A forwarded read-index: the follower evaluates once it has applied `index`. */
  | { readonly ok: true; readonly type: 'readIndex'; readonly index: number }
  /** Leadership transfer started (watch `status` or the leader effect for the outcome). */
  | { readonly ok: true; readonly type: 'transferring'; readonly to: NodeId }
  | { readonly ok: true; readonly type: 'status'; readonly status: RaftStatus }
  /** A peerUnreachable hint was taken into account (whether or not it started an election). */
  | { readonly ok: true; readonly type: 'noted' }
  | { readonly ok: false; readonly code: RaftErrorCode; readonly leader: NodeId | null }

export type RaftEffect =
  /** A committed entry was applied to the state machine (commands carry the state machine's result). */
  | {
      readonly type: 'applied'
      readonly index: number
      readonly term: number
      readonly entry: Entry
      readonly result: Uint8Array
    }
  /** The state machine was replaced by a snapshot (installed from the leader, or loaded at start). */
  | { readonly type: 'restored'; readonly index: number; readonly term: number }
  /** Who this node believes leads, whenever that changes (DNS `control.` follows it). */
  | { readonly type: 'leader'; readonly term: number; readonly leader: NodeId | null }

export type RaftRole = 'follower' | 'preCandidate' | 'candidate' | 'leader'

/** Why messages were dropped; the counters are in RaftStats.dropped. */
export type DropReason =
  /** Sender is neither in the bus group nor in any membership this node knows. */
  | 'unknownSender'
  /** The driver could not decode the bytes (reported through RaftMachine.noteUndecodable). */
  | 'undecodable'
  /** Fields that contradict each other (non-contiguous entries, an entry term above the message term...). */
  | 'invalid'
  /** A message from an older term, answered or ignored as Raft prescribes. */
  | 'staleTerm'
  /** A vote request while the current leader's lease holds (check-quorum), or from a non-voter. */
  | 'inLease'
  /** A second node claiming leadership of our current term: impossible unless something is forged. */
  | 'conflictingLeader'
  /** A reply to a request this node never made or already finished (duplicates land here). */
  | 'unexpected'

export interface RaftStats {
  readonly dropped: Readonly<Record<DropReason, number>>
  readonly elections: number
  readonly leaderships: number
  readonly snapshotsSent: number
  readonly snapshotsInstalled: number
  readonly snapshotsTaken: number
}

/** The application Raft replicates. apply and query must be deterministic functions of the state. */
export interface StateMachine {
  /** Applies a committed command; the result goes back to the proposer. Must not throw on any bytes. */
  apply(command: Uint8Array, index: number): Uint8Array
  /** Answers a read against the current state. Must not throw on any bytes. */
  query(query: Uint8Array): Uint8Array
  snapshot(): Uint8Array
  /** Replaces the whole state; throws (a DecodeError) only on bytes no snapshot() produced. */
  restore(data: Uint8Array): void
}

/** A read-only view for invariants, status pages and tests. Live: read it before the next step. */
export interface RaftView<SM extends StateMachine = StateMachine> {
  readonly id: NodeId
  readonly role: RaftRole
  readonly term: number
  readonly vote: NodeId | null
  readonly leader: NodeId | null
  readonly commit: number
  readonly applied: number
  readonly firstIndex: number
  readonly lastIndex: number
  readonly lastTerm: number
  /**
   * How far this node's own log is known durable (a completed write confirmed it): lastIndex may run ahead
   * while a write is in flight, and so may commit on a follower (the leader's commit index arrives with the
   * entries), since committed means held durably by a majority, not necessarily by this node yet.
   */
  durableMatch(): number
  readonly snapshotIndex: number
  readonly snapshotTerm: number
  readonly membership: Membership
  /**
   * On a leader: the highest index known to match `node`'s log (its progress), e.g. to promote a learner
   * once it has caught up. Undefined on a non-leader and for a node the leader does not replicate to.
   */
  matchOf(node: NodeId): number | undefined
  /** Term of the entry at `index`; the snapshot's term at its index; undefined outside the log. */
  termAt(index: number): number | undefined
  /** The entry at `index`, or undefined when compacted or beyond the end. */
  entryAt(index: number): Entry | undefined
  readonly stateMachine: SM
  readonly stats: RaftStats
}

export interface RaftTypes<SM extends StateMachine = StateMachine> extends ProtocolTypes {
  readonly Msg: RaftMsg
  readonly Req: RaftReq
  readonly Res: RaftRes
  readonly Durable: RaftDurable
  readonly Effect: RaftEffect
  readonly View: RaftView<SM>
}
