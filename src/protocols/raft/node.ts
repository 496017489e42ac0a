// One node's Raft machine: its state, the role transitions and the persistence discipline. The algorithm's
// parts live beside it as functions over this state, in the style of etcd-raft's step functions:
// dispatch.ts (inputs and the term rules), election.ts, replication.ts, requests.ts (clients, reads,
// applying) and membership.ts (changes, transfer). This file is what they share.
//
// Persistence: any change to term, vote or log marks the node dirty, and the step's batch then starts with
// one 'persist' of the whole durable state. Drivers apply persist before any send or reply of the same
// batch, so nothing leaves the node that depends on state a crash could still take away — with one
// exception: a leader's appends are marked `early` and may leave while its own write runs. They carry only
// its term (durable since it stood for election), log entries and the commit index; the leader counts its
// own log towards commitment only up to what a 'persisted' input confirmed (durableMatch).

import type { Input, Machine, MachineContext, NodeId, Output } from '../core/index.js'
import { invariant, ProtocolError } from '../core/index.js'
import type { ResolvedRaftConfig } from './config.js'
import { onMessage, onTimer } from './dispatch.js'
import { durableProblem, initialSnapshot } from './durable.js'
import { RaftLog } from './log.js'
import { maybeCommit } from './replication.js'
import { applyCommitted, failLeaderRequests, type Origin, onRequest, type RequestBook } from './requests.js'
import type {
  DropReason,
  Membership,
  RaftDurable,
  RaftMsg,
  RaftRole,
  RaftStats,
  RaftTypes,
  RaftView,
  StateMachine,
} from './types.js'

export type Out = Output<RaftTypes>

/** The leader's picture of one follower (etcd's Progress). */
export interface Progress {
  match: number
  next: number
  /** probe: one append per heartbeat until a match is found; replicate: stream; snapshot: wait for it. */
  state: 'probe' | 'replicate' | 'snapshot'
  /** In probe, an append is out and we wait for its answer or the next heartbeat. */
  paused: boolean
  pendingSnapshot: number
  /** Local time of the last append success (or snapshot send), for retransmission. */
  lastProgress: number
  /** Highest read context this follower confirmed in the current term. */
  ackedCtx: number
}

export class RaftNode<SM extends StateMachine> implements Machine<RaftTypes<SM>>, RaftView<SM> {
  readonly id: NodeId
  term: number
  vote: NodeId | null
  role: RaftRole = 'follower'
  leader: NodeId | null = null
  readonly log: RaftLog
  commit: number
  applied: number
  out: Out[] = []
  private dirty = false
  /** The last entry of the newest state confirmed durable ('persisted' input, or loaded at start). */
  private durableLast: { index: number; term: number }
  /** The term of the newest state confirmed durable: a leader sends early only once its term is durable. */
  private durableTerm: number
  /** 'send-before-persist' only: a persist owed from an earlier step. */
  private owed = false

  // Elections. Times are on this node's clock.
  /** When the current election timeout started counting (leader contact, vote granted, new term). */
  electionStart = 0
  electionTimeout = 0
  /** Local time we last heard from a leader of our term; -Infinity when never. */
  lastLeaderContact = Number.NEGATIVE_INFINITY
  /** The host said the leader is unreachable (peerUnreachable) and it has not been heard from since. */
  leaderSuspected = false
  readonly votes = new Map<NodeId, boolean>()

  // Leadership.
  readonly progress = new Map<NodeId, Progress>()
  /** Peers heard from since the last check-quorum tick. */
  readonly recentActive = new Set<NodeId>()
  /** Index of this leader's first entry (its no-op); reads and membership changes wait for it to commit. */
  noopIndex = 0
  transferee: NodeId | null = null
  readCtx = 0

  readonly requests: RequestBook = {
    proposals: new Map(),
    forwarded: new Map(),
    pendingReads: [],
    awaitingNoop: [],
    waitingReads: [],
    nextForwardId: 0,
    sweepArmed: false,
  }
  readonly group: ReadonlySet<NodeId>
  private readonly dropped: Record<DropReason, number> = {
    unknownSender: 0,
    undecodable: 0,
    invalid: 0,
    staleTerm: 0,
    inLease: 0,
    conflictingLeader: 0,
    unexpected: 0,
  }
  readonly counters = {
    elections: 0,
    leaderships: 0,
    snapshotsSent: 0,
    snapshotsInstalled: 0,
    snapshotsTaken: 0,
  }

  constructor(
    readonly ctx: MachineContext,
    readonly cfg: ResolvedRaftConfig,
    readonly stateMachine: SM,
    durable: RaftDurable | undefined,
  ) {
    this.id = ctx.id
    this.group = new Set(ctx.members)
    const d = durable ?? {
      term: 0,
      vote: null,
      commit: 0,
      snapshot: initialSnapshot(cfg.bootstrapVoters ?? ctx.members),
      entries: [],
    }
    const problem = durableProblem(d)
    if (problem !== undefined) throw new ProtocolError('ASSERTION', `raft durable state unusable: ${problem}`)
    // Forward ids are volatile, so each incarnation starts at a random point (a boot id): a late answer
    // meant for a request forwarded before a crash then matches nothing here instead of a new request.
    this.requests.nextForwardId = ctx.rng.int(0, 2 ** 48)
    this.term = d.term
    this.vote = d.vote
    this.log = new RaftLog(d.snapshot, d.entries)
    if (d.snapshot.index > 0) stateMachine.restore(d.snapshot.data)
    this.applied = d.snapshot.index
    this.commit = Math.max(d.commit, d.snapshot.index)
    this.durableLast = { index: this.log.lastIndex, term: this.log.lastTerm }
    this.durableTerm = d.term
  }

  // ---- Machine ------------------------------------------------------------------------------------------

  start(): Out[] {
    this.begin()
    if (this.log.snapshot.index > 0) {
      this.effect({ type: 'restored', index: this.log.snapshot.index, term: this.log.snapshot.term })
    }
    applyCommitted(this)
    this.resetElectionTimer()
    return this.finish()
  }

  step(input: Input<RaftTypes>): Out[] {
    this.begin()
    switch (input.type) {
      case 'message':
        onMessage(this, input.from, input.msg)
        break
      case 'timer':
        onTimer(this, input.name)
        break
      case 'request':
        onRequest(this, input.id, input.req)
        break
      case 'persisted':
        this.onPersisted(input.state)
        break
    }
    return this.finish()
  }

  view(): RaftView<SM> {
    return this
  }

  /** For the driver: bytes from `from` that did not decode. Counted, otherwise ignored. */
  noteUndecodable(_from: NodeId): void {
    this.dropped.undecodable++
  }

  /**
   * How far this node's own log is durable. The newest persisted state names its last entry; by Log
   * Matching, if the log still has an entry of that index and term, everything up to it is what was written.
   * Otherwise (the log was cut and rewritten since) only the snapshot, which is never rewritten, counts.
   */
  durableMatch(): number {
    if (this.cfg.mutation === 'count-self-before-fsync') return this.log.lastIndex
    const d = this.durableLast
    return d.index <= this.log.lastIndex && this.log.termAt(d.index) === d.term
      ? d.index
      : Math.min(this.log.snapshot.index, this.log.lastIndex)
  }

  private onPersisted(state: RaftDurable): void {
    const last = state.entries.length > 0 ? state.entries[state.entries.length - 1]! : state.snapshot
    this.durableLast = { index: last.index, term: last.term }
    this.durableTerm = state.term
    if (this.role === 'leader') maybeCommit(this)
  }

  // ---- RaftView -----------------------------------------------------------------------------------------

  get firstIndex(): number {
    return this.log.firstIndex
  }
  get lastIndex(): number {
    return this.log.lastIndex
  }
  get lastTerm(): number {
    return this.log.lastTerm
  }
  get snapshotIndex(): number {
    return this.log.snapshot.index
  }
  get snapshotTerm(): number {
    return this.log.snapshot.term
  }
  get membership(): Membership {
    return this.log.membership()
  }
  matchOf(node: NodeId): number | undefined {
    return this.role === 'leader' ? this.progress.get(node)?.match : undefined
  }
  termAt(index: number): number | undefined {
    return this.log.termAt(index)
  }
  entryAt(index: number) {
    return this.log.entryAt(index)
  }
  get stats(): RaftStats {
    return { dropped: { ...this.dropped }, ...this.counters }
  }

  // ---- Output helpers -----------------------------------------------------------------------------------

  private begin(): void {
    this.out = []
    if (this.owed) {
      // The planted bug's late persist: whatever this step changes rides along too.
      this.owed = false
      this.dirty = true
    }
  }

  private finish(): Out[] {
    const out = this.out
    if (this.dirty) {
      if (this.cfg.mutation === 'send-before-persist' && !this.owed) {
        this.owed = true
      } else out.unshift({ type: 'persist', state: this.durable() })
      this.dirty = false
    }
    this.out = []
    return out
  }

  durable(): RaftDurable {
    // Commit rides along as a lower bound; entries are copied so later steps cannot change what was saved.
    return {
      term: this.term,
      vote: this.vote,
      commit: Math.min(this.commit, this.log.lastIndex),
      snapshot: this.log.snapshot,
      entries: this.log.entriesCopy(),
    }
  }

  markDirty(): void {
    this.dirty = true
  }
  send(to: NodeId, msg: RaftMsg): void {
    // Early only once the term is durable: a single voter elects itself in the step that raises its term,
    // and a learner must never hold an entry of a term its leader could still forget.
    if (msg.type === 'append' && this.role === 'leader' && this.durableTerm === this.term) {
      this.out.push({ type: 'send', to, msg, early: true })
    } else this.out.push({ type: 'send', to, msg })
  }
  effect(effect: RaftTypes['Effect']): void {
    this.out.push({ type: 'effect', effect })
  }
  setTimer(name: string, delay: number): void {
    this.out.push({ type: 'setTimer', name, at: this.now() + delay })
  }
  now(): number {
    return this.ctx.clock.now()
  }
  drop(reason: DropReason): void {
    this.dropped[reason]++
  }

  // ---- Membership helpers -------------------------------------------------------------------------------

  isVoter(id: NodeId = this.id): boolean {
    return this.log.membership().voters.includes(id)
  }
  /**
   * Whether this node may start an election: it is a voter in the membership in force, or in the last
   * committed one. The second case is a leader that appended its own removal and lost leadership before
   * committing it: it may hold the only up-to-date log, and votes are counted in the latest membership
   * whether or not the candidate belongs to it (dissertation §4.2.2), so it must be allowed to run.
   */
  canCampaign(): boolean {
    return this.isVoter() || this.log.membershipAt(this.commit).voters.includes(this.id)
  }
  /** Majority of the voters in force. */
  quorum(): number {
    return Math.floor(this.log.membership().voters.length / 2) + 1
  }
  /** Everyone the leader replicates to: voters and learners, not itself. */
  peers(): NodeId[] {
    const m = this.log.membership()
    return [...m.voters, ...m.learners].filter((p) => p !== this.id)
  }

  /** Keeps the leader's progress map equal to the membership in force. */
  syncProgress(): void {
    if (this.role !== 'leader') return
    const peers = new Set(this.peers())
    for (const p of [...this.progress.keys()]) if (!peers.has(p)) this.progress.delete(p)
    for (const p of peers) {
      if (!this.progress.has(p)) {
        this.progress.set(p, {
          match: 0,
          next: this.log.lastIndex + 1,
          state: 'probe',
          paused: false,
          pendingSnapshot: 0,
          lastProgress: this.now(),
          ackedCtx: 0,
        })
      }
    }
  }

  // ---- Transitions --------------------------------------------------------------------------------------

  /** Restarts the election countdown with a fresh random timeout (etcd's resetRandomizedElectionTimeout). */
  resetElectionTimer(): void {
    this.electionStart = this.now()
    this.electionTimeout = this.ctx.rng.int(this.cfg.electionMinMs, this.cfg.electionMaxMs - 1)
    this.out.push({ type: 'setTimer', name: 'election', at: this.electionStart + this.electionTimeout })
  }

  private setLeader(leader: NodeId | null): void {
    if (leader === this.leader) return
    this.leader = leader
    this.effect({ type: 'leader', term: this.term, leader })
  }

  becomeFollower(term: number, leader: NodeId | null): void {
    invariant(term >= this.term, `becomeFollower: term ${term} below ${this.term}`)
    if (term > this.term) {
      this.term = term
      this.vote = null
      this.markDirty()
    }
    const wasLeader = this.role === 'leader'
    this.role = 'follower'
    if (wasLeader) {
      this.out.push({ type: 'cancelTimer', name: 'heartbeat' })
      this.out.push({ type: 'cancelTimer', name: 'checkQuorum' })
      this.out.push({ type: 'cancelTimer', name: 'transfer' })
      this.progress.clear()
      this.transferee = null
      failLeaderRequests(this)
    }
    this.votes.clear()
    this.setLeader(leader)
    if (leader !== null) this.lastLeaderContact = this.now()
    this.leaderSuspected = false
    this.resetElectionTimer()
  }

  becomePreCandidate(): void {
    this.role = 'preCandidate'
    this.votes.clear()
    this.setLeader(null)
  }

  becomeCandidate(): void {
    this.term++
    this.vote = this.id
    this.markDirty()
    this.role = 'candidate'
    this.votes.clear()
    this.setLeader(null)
    this.counters.elections++
  }

  becomeLeader(): void {
    invariant(this.role === 'candidate', `becomeLeader from ${this.role}`)
    this.role = 'leader'
    this.setLeader(this.id)
    this.counters.leaderships++
    this.progress.clear()
    this.recentActive.clear()
    this.transferee = null
    this.syncProgress()
    this.noopIndex = this.log.lastIndex + 1
    // The planted Fig. 8 bug comes with the paper's leader, which appends nothing of its own on election:
    // with a no-op riding along, old entries rarely reach a majority without a current-term entry.
    if (this.cfg.mutation !== 'commit-old-term') {
      this.log.append([{ index: this.noopIndex, term: this.term, kind: 'noop' }])
      this.markDirty()
    }
    this.out.push({ type: 'cancelTimer', name: 'election' })
    this.setTimer('heartbeat', this.cfg.heartbeatMs)
    this.setTimer('checkQuorum', this.cfg.electionMinMs)
  }

  /** A sender we accept messages from: in the bus group, or in the membership in force. */
  known(from: NodeId): boolean {
    if (this.group.has(from)) return true
    const m = this.log.membership()
    return m.voters.includes(from) || m.learners.includes(from)
  }

  /** Within an election timeout of hearing from a live leader (or being one): refuse to help depose it. */
  inLease(): boolean {
    if (this.role === 'leader') return true
    return (
      this.leader !== null &&
      !this.leaderSuspected &&
      this.now() - this.lastLeaderContact < this.cfg.electionMinMs
    )
  }

  /**
   * For a message from the leader of our own term: adopts it, or reports a second leader in one term.
   * Returns false when the message must be dropped.
   */
  acceptLeader(from: NodeId): boolean {
    if (this.role === 'leader' || (this.leader !== null && this.leader !== from)) {
      this.drop('conflictingLeader')
      return false
    }
    if (this.role !== 'follower' || this.leader === null) this.becomeFollower(this.term, from)
    this.lastLeaderContact = this.now()
    this.electionStart = this.lastLeaderContact
    if (this.leaderSuspected) {
      // The hint was wrong: a fresh, full election timeout instead of the shortened one (suspectLeader).
      this.leaderSuspected = false
      this.electionTimeout = this.ctx.rng.int(this.cfg.electionMinMs, this.cfg.electionMaxMs - 1)
      this.out.push({ type: 'setTimer', name: 'election', at: this.electionStart + this.electionTimeout })
    }
    return true
  }

  respond(origin: Origin, res: RaftTypes['Res']): void {
    if (origin.kind === 'local') this.out.push({ type: 'reply', id: origin.id, res })
    else this.send(origin.from, { type: 'forwardResp', id: origin.forwardId, res })
  }
}
