// One router's replica of the control plane: the Raft driver over the registry, reached through a byte
// transport (the daemon plugs in the bus), and the ControlPlane interface the rest of the daemon uses.
//
// `voters` is the bootstrap set: the voters a fresh log starts from (config `federation.voters`, or those a
// joining node learned from the control plane); after that the membership lives in the log. Every other
// router of the federation keeps a copy as a Raft learner: it says hello to the voters until the leader adds
// it to the membership (addLearner), then receives the log like a voter but never votes nor counts for
// commitment. Its copy is answered locally (local()) and keeps serving, stale, while the voters are
// unreachable; writes and linearizable reads from a learner or follower are forwarded to the leader by the
// Raft machine itself.
//
// Growing the voters: a replica opened with `wantsVote` (a control-plane node) goes on saying hello once it
// is a learner, flagged "wants to vote". The leader promotes it (addVoter) once its log is within
// `promoteWithin` entries of the leader's and `mayVote` accepts it. Each hello is answered from the leader's
// current view, with at most one membership change in flight, so nothing is lost when the leader changes:
// the learner simply asks the next one.

import path from 'node:path'
import type { NodeId } from '../protocols/core/index.js'
import type {
  MembershipChange,
  RaftConfig,
  RaftEffect,
  RaftMsg,
  RaftRes,
  RaftView,
} from '../protocols/raft/index.js'
import {
  type CommandResult,
  decodeCommand,
  decodeQueryResult,
  decodeResult,
  encodeCommand,
  encodeQuery,
  type QueryResult,
  type Registry,
  type RegistryCommand,
  type RegistryQuery,
  type RegistryState,
  registryStateMachine,
} from '../protocols/registry/index.js'
import { RaftLogStore } from '../raftlog/index.js'
import { DecodeError } from '../wire/index.js'
import { isChunk, Reassembler, splitFrame } from './chunks.js'
import { type DriverLogger, DriverStopped, RaftDriver } from './driver.js'
import type { RaftMetrics } from './metrics.js'
import { type ControlPlane, ControlPlaneError, type ControlPlaneStatus } from './types.js'
import {
  decodeControlFrame,
  encodeControlFrame,
  type FrameSigner,
  type FrameVerifier,
  MAX_BATCH,
} from './wire.js'

/** Timing defaults for a WAN or a LAN of Raspberry Pis (etcd's): see config `federation.raft`. */
export const CONTROL_DEFAULTS = {
  heartbeatMs: 100,
  electionMinMs: 1000,
  electionMaxMs: 2000,
  /** How long propose/query wait by default, retrying while there is no leader. */
  requestTimeoutMs: 5000,
  /** How often a router that is not yet a learner asks the leader to be added. */
  helloEveryMs: 2000,
  /**
   * How often a control-plane node asks while it is not yet a voter: one small frame to the leader, for the
   * few seconds until its promotion, which it then gets within this long of catching up (not up to 2 s later).
   */
  voteHelloEveryMs: 250,
  /** A learner that wants to vote is promoted once its log is at most this many entries behind the leader's. */
  promoteWithin: 32,
  /** Pause between retries of a request that found no leader. */
  retryMs: 50,
} as const

export interface ControlReplicaOptions {
  readonly id: NodeId
  readonly voters: readonly NodeId[]
  /** <state_dir>/raft is created under this. */
  readonly stateDir: string
  readonly raft?: Pick<RaftConfig, 'heartbeatMs' | 'electionMinMs' | 'electionMaxMs' | 'snapshotEntries'>
  readonly requestTimeoutMs?: number
  readonly helloEveryMs?: number
  readonly signer: FrameSigner
  readonly verify: FrameVerifier
  /** Sends bytes to a node; best effort, must not throw. */
  readonly send: (to: NodeId, bytes: Uint8Array) => void
  /**
   * Whether frames to `node` leave over this router's own direct peer link to it (routing's next hop is the
   * node itself): they then go link-authenticated, without a signature. Absent: always signed.
   */
  readonly direct?: (node: NodeId) => boolean
  /** Whether `node` may become a learner (e.g. it holds a valid certificate of this federation). */
  readonly mayLearn?: (node: NodeId) => boolean
  /** This router asks to be promoted from learner to voter (a control-plane node). */
  readonly wantsVote?: boolean
  /** Whether a learner asking to vote may be promoted (checked after mayLearn); absent: any learner. */
  readonly mayVote?: (node: NodeId) => boolean
  readonly promoteWithin?: number
  /** Proposed (initFederation) by a leader that finds the registry without one. */
  readonly federation?: { readonly id: string; readonly name: string; readonly createdAt: number }
  readonly metrics?: RaftMetrics
  readonly log?: DriverLogger & { info(obj: object, msg: string): void }
}

/** A batch frame stays well under the bus's 1 MiB payload limit (one append alone may carry 512 KiB). */
const BATCH_BYTES = 256 * 1024

function approxBytes(m: RaftMsg): number {
  let n = 64
  if (m.type === 'append') for (const e of m.entries) n += 32 + (e.kind === 'command' ? e.data.length : 64)
  else if (m.type === 'snapshot') n += m.snapshot.data.length
  return n
}

type AppliedListener = (command: RegistryCommand, result: CommandResult) => void

export class ControlReplica implements ControlPlane {
  private readonly driver: RaftDriver<Registry>
  private readonly applied = new Set<AppliedListener>()
  private readonly changed = new Set<() => void>()
  private helloTimer: NodeJS.Timeout | null = null
  /** Raft messages waiting for the end of this turn of the event loop, by destination (see queueRaft). */
  private outbox = new Map<NodeId, RaftMsg[]>()
  private flushArmed = false
  /** Frames above one bus message (a big snapshot) leave in chunks; see chunks.ts. */
  private readonly chunks = new Reassembler(() => performance.now())
  private transferId = 0
  private closed = false
  private lastLeader: NodeId | null = null
  /** A membership change this replica asked for is in flight (the machine allows one at a time anyway). */
  private changing = false
  /** Nodes refused a vote, logged once each. */
  private readonly refusedVoters = new Set<NodeId>()
  private readonly requestTimeoutMs: number

  private federation: ControlReplicaOptions['federation']

  private constructor(
    private readonly opts: ControlReplicaOptions,
    private readonly store: RaftLogStore,
  ) {
    this.federation = opts.federation
    this.requestTimeoutMs = opts.requestTimeoutMs ?? CONTROL_DEFAULTS.requestTimeoutMs
    const voter = opts.voters.includes(opts.id)
    this.driver = new RaftDriver({
      id: opts.id,
      members: voter ? opts.voters : [...opts.voters, opts.id],
      config: {
        heartbeatMs: opts.raft?.heartbeatMs ?? CONTROL_DEFAULTS.heartbeatMs,
        electionMinMs: opts.raft?.electionMinMs ?? CONTROL_DEFAULTS.electionMinMs,
        electionMaxMs: opts.raft?.electionMaxMs ?? CONTROL_DEFAULTS.electionMaxMs,
        requestTimeoutMs: this.requestTimeoutMs,
        snapshotEntries: opts.raft?.snapshotEntries,
        bootstrapVoters: opts.voters,
        // Bus payloads are at most 1 MiB: keep an append (entries × command size) well under that.
        maxCommandBytes: 16 * 1024,
        maxEntriesPerAppend: 32,
      },
      makeStateMachine: registryStateMachine,
      store,
      send: (to, msg) => this.queueRaft(to, msg),
      onEffect: (e) => this.onEffect(e),
      log: opts.log,
    })
    opts.metrics?.source(
      () => (this.closed ? null : this.driver.view()),
      () => this.driver.fsyncMs,
    )
  }

  /** Opens the durable log under <stateDir>/raft and starts the machine. */
  static async open(opts: ControlReplicaOptions): Promise<ControlReplica> {
    if (opts.voters.length === 0) throw new Error('the control plane needs at least one voter')
    const store = await RaftLogStore.open(path.join(opts.stateDir, 'raft'))
    if (store.report.repairedTail) {
      opts.log?.warn({ repaired: store.report.repairedTail }, 'raft log: a torn tail was cut off')
    }
    const r = new ControlReplica(opts, store)
    r.driver.start()
    r.helloLoop()
    return r
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.helloTimer) clearTimeout(this.helloTimer)
    await this.driver.close()
    await this.store.close()
  }

  /** The Raft view (tests, status pages, metrics). */
  view(): RaftView<Registry> {
    return this.driver.view()
  }

  /**
   * Bytes that arrived from `from` on the bus; `overLink` when they came over `from`'s own direct peer link.
   * Never throws: bad frames are dropped and counted.
   */
  receive(from: NodeId, bytes: Uint8Array, overLink = false): void {
    if (this.closed) return
    if (isChunk(bytes)) {
      const r = this.chunks.accept(from, bytes, overLink)
      if (r.type === 'pending') return
      if (r.type === 'refused') {
        this.driver.noteUndecodable(from)
        return
      }
      bytes = r.bytes
      overLink = r.overLink
    }
    const d = decodeControlFrame(bytes, from, this.opts.id, this.opts.verify, overLink)
    if (!d.ok) {
      // The machine counts undecodable bytes itself (folded into the same metric): count each once.
      if (d.reason === 'undecodable') this.driver.noteUndecodable(from)
      else this.opts.metrics?.drop(d.reason)
      return
    }
    if (d.frame.kind === 'hello') this.onHello(from, d.frame.wantsVote === true)
    else if (d.frame.kind === 'raft') this.driver.deliver(from, d.frame.msg)
    else for (const msg of d.frame.msgs) this.driver.deliver(from, msg)
  }

  // ---- ControlPlane --------------------------------------------------------------------------------

  async propose(command: RegistryCommand, opts?: { timeoutMs?: number }): Promise<CommandResult> {
    const bytes = encodeCommand(command)
    const res = await this.call('proposal', opts?.timeoutMs, (ms) =>
      this.driver.request({ type: 'propose', command: bytes }, ms),
    )
    if (!res.ok || res.type !== 'applied') throw new Error(`unexpected Raft answer ${JSON.stringify(res)}`)
    const result = decodeResult(res.result)
    this.opts.metrics?.proposal(result.ok ? 'applied' : 'rejected')
    return result
  }

  async query(query: RegistryQuery, opts?: { timeoutMs?: number }): Promise<QueryResult> {
    const bytes = encodeQuery(query)
    const res = await this.call('read', opts?.timeoutMs, (ms) =>
      this.driver.request({ type: 'read', query: bytes }, ms),
    )
    if (!res.ok || res.type !== 'read') throw new Error(`unexpected Raft answer ${JSON.stringify(res)}`)
    this.opts.metrics?.read('ok')
    return decodeQueryResult(res.result)
  }

  local(): RegistryState | null {
    const v = this.driver.view()
    // Before anything was applied this copy knows nothing; say so rather than answer "empty".
    return v.applied > 0 ? v.stateMachine.state : null
  }

  status(): ControlPlaneStatus {
    const v = this.driver.view()
    const voters = v.membership.voters
    const ordered = [
      ...this.opts.voters.filter((x) => voters.includes(x)),
      ...voters.filter((x) => !this.opts.voters.includes(x)),
    ]
    const leader = v.leader
    return {
      voter: voters.includes(this.opts.id),
      term: v.term,
      leader,
      commitIndex: v.commit,
      appliedIndex: v.applied,
      voters:
        leader !== null && ordered.includes(leader)
          ? [leader, ...ordered.filter((x) => x !== leader)]
          : ordered,
    }
  }

  onApplied(listener: AppliedListener): () => void {
    this.applied.add(listener)
    return () => this.applied.delete(listener)
  }

  /**
   * An operator's reshaping of the voter set on this replica, which must be the leader: a membership change
   * (one at a time) or a leadership transfer. Resolves with Raft's answer; NOT_LEADER names the leader.
   * A leader that has not committed an entry of its own term yet (just elected, e.g. by a transfer a moment
   * ago), or has a change or a transfer in flight, refuses for that moment (CHANGE_PENDING, TRANSFERRING): the
   * request is tried again until the deadline instead of handing the operator a retry.
   */
  async reconfigure(
    req: { type: 'changeMembership'; change: MembershipChange } | { type: 'transferLeadership'; to: NodeId },
    timeoutMs = this.requestTimeoutMs,
  ): Promise<RaftRes> {
    if (this.closed || this.driver.stoppedReason !== null) {
      throw new ControlPlaneError('NOT_RUNNING', 'the control plane is not running')
    }
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const res = await this.driver.request(req, Math.max(1, Math.round(deadline - performance.now())))
      if (res.ok || (res.code !== 'CHANGE_PENDING' && res.code !== 'TRANSFERRING')) return res
      if (deadline - performance.now() <= CONTROL_DEFAULTS.retryMs || this.closed) return res
      await new Promise((r) => setTimeout(r, CONTROL_DEFAULTS.retryMs))
    }
  }

  /**
   * The mesh's failure detector lost `node` (its peer link went silent): if it is this follower's leader,
   * Raft starts a (pre-)vote now instead of at its election timeout (RaftReq peerUnreachable).
   */
  peerUnreachable(node: NodeId): void {
    if (this.closed || this.driver.stoppedReason !== null) return
    this.driver.request({ type: 'peerUnreachable', node }, this.requestTimeoutMs).catch(() => undefined)
  }

  /** Called after anything that may change what readers see: an apply, a snapshot install, a new leader. */
  onChange(listener: () => void): () => void {
    this.changed.add(listener)
    return () => this.changed.delete(listener)
  }

  // ---- internals -----------------------------------------------------------------------------------

  /**
   * Runs one request until it has an answer or the deadline passes: while there is no leader (an election,
   * or this node cut off) it retries; a TIMEOUT from Raft means the outcome is unknown and is passed on.
   */
  private async call(
    kind: 'proposal' | 'read',
    timeoutMs: number | undefined,
    attempt: (ms: number) => Promise<RaftRes>,
  ): Promise<RaftRes> {
    const count = (result: string) =>
      kind === 'proposal' ? this.opts.metrics?.proposal(result) : this.opts.metrics?.read(result)
    if (this.closed || this.driver.stoppedReason !== null) {
      count('not_running')
      throw new ControlPlaneError(
        'NOT_RUNNING',
        `the control plane is not running (${this.driver.stoppedReason ?? 'closed'})`,
      )
    }
    const deadline = performance.now() + (timeoutMs ?? this.requestTimeoutMs)
    let last: RaftRes | null = null
    for (;;) {
      const left = Math.round(deadline - performance.now())
      if (left <= 0) break
      let res: RaftRes
      try {
        res = await attempt(left)
      } catch (err) {
        if (err instanceof DriverStopped) {
          count('not_running')
          throw new ControlPlaneError('NOT_RUNNING', `the control plane stopped: ${err.message}`)
        }
        throw err
      }
      if (res.ok) return res
      last = res
      if (res.code === 'TIMEOUT') break
      if (res.code === 'TOO_LARGE') {
        count('too_large')
        throw new ControlPlaneError('TOO_LARGE', 'the command is larger than the control plane accepts')
      }
      // NOT_LEADER, DROPPED (certainly not applied), BUSY, TRANSFERRING, CHANGE_PENDING: try again shortly.
      await new Promise((r) => setTimeout(r, CONTROL_DEFAULTS.retryMs))
    }
    if (last !== null && !last.ok && last.code !== 'TIMEOUT' && this.driver.view().leader === null) {
      count('no_leader')
      throw new ControlPlaneError(
        'NO_LEADER',
        'no control-plane leader is reachable (election in progress, or this node is cut off from a majority)',
      )
    }
    count('timeout')
    throw new ControlPlaneError(
      'TIMEOUT',
      `no answer from the control plane within ${timeoutMs ?? this.requestTimeoutMs} ms (the write may still commit)`,
    )
  }

  private sendFrame(to: NodeId, frame: Parameters<typeof encodeControlFrame>[0]): void {
    this.sendBytes(to, encodeControlFrame(frame, this.opts.id, to, this.opts.signer))
  }

  private sendBytes(to: NodeId, frame: Uint8Array): void {
    for (const part of splitFrame(frame, this.transferId++)) this.opts.send(to, part)
  }

  /**
   * Raft's sends of one turn of the event loop leave together: one frame (one bus message, at most one
   * signature) per destination. Under load that turns the appends of many proposals, and a follower's
   * answers to them, into a few frames; alone, a message waits only for the current turn to finish.
   */
  private queueRaft(to: NodeId, msg: RaftMsg): void {
    const q = this.outbox.get(to)
    if (q === undefined) this.outbox.set(to, [msg])
    else q.push(msg)
    if (!this.flushArmed) {
      this.flushArmed = true
      setImmediate(() => this.flushOutbox())
    }
  }

  private flushOutbox(): void {
    this.flushArmed = false
    const outbox = this.outbox
    this.outbox = new Map()
    if (this.closed) return
    for (const [to, msgs] of outbox) {
      const signer = this.opts.direct?.(to) ? null : this.opts.signer
      let batch: RaftMsg[] = []
      let bytes = 0
      for (const m of msgs) {
        const size = approxBytes(m)
        if (batch.length > 0 && (batch.length >= MAX_BATCH || bytes + size > BATCH_BYTES)) {
          this.sendBytes(to, encodeControlFrame({ kind: 'batch', msgs: batch }, this.opts.id, to, signer))
          batch = []
          bytes = 0
        }
        batch.push(m)
        bytes += size
      }
      this.sendBytes(to, encodeControlFrame({ kind: 'batch', msgs: batch }, this.opts.id, to, signer))
    }
  }

  private onEffect(e: RaftEffect): void {
    if (e.type === 'applied' && e.entry.kind === 'command') {
      if (this.applied.size > 0) {
        let command: RegistryCommand
        let result: CommandResult
        try {
          command = decodeCommand(e.entry.data)
          result = decodeResult(e.result)
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err
          this.notifyChanged()
          return
        }
        for (const l of this.applied) {
          try {
            l(command, result)
          } catch (err) {
            this.opts.log?.warn({ err }, 'control plane: an onApplied listener threw')
          }
        }
      }
      this.notifyChanged()
    } else if (e.type === 'restored') {
      this.notifyChanged()
    } else if (e.type === 'leader') {
      if (e.leader !== this.lastLeader) this.opts.metrics?.leaderChanged()
      this.lastLeader = e.leader
      this.opts.log?.info({ term: e.term, leader: e.leader }, 'control plane: leader changed')
      if (e.leader === this.opts.id) void this.initFederation()
      this.notifyChanged()
    }
  }

  private notifyChanged(): void {
    for (const l of this.changed) {
      try {
        l()
      } catch (err) {
        this.opts.log?.warn({ err }, 'control plane: a change listener threw')
      }
    }
  }

  /**
   * The federation was created after this replica opened (`federation init` on a running daemon): remember it
   * and write its record when the registry has none (a later leader does the same).
   */
  adoptFederation(fed: NonNullable<ControlReplicaOptions['federation']>): Promise<void> {
    this.federation = fed
    return this.initFederation()
  }

  /** A new leader makes sure the registry names its federation (the first leader of a new one writes it). */
  private async initFederation(): Promise<void> {
    const fed = this.federation
    if (!fed) return
    try {
      const q = await this.query({ type: 'federation' })
      if (q.type === 'federation' && q.federation === null) {
        await this.propose({
          type: 'initFederation',
          federation: { id: fed.id, name: fed.name, createdAt: fed.createdAt },
        })
      }
    } catch (err) {
      this.opts.log?.warn({ err }, 'control plane: could not write the federation record yet')
    }
  }

  /**
   * A router asks to receive the log, or (`wantsVote`, already a learner) to vote. Only the leader answers:
   * a stranger is added as a learner; a learner that wants to vote is promoted once it has caught up. One
   * membership change at a time; a hello that finds one in flight, or a learner still behind, is ignored:
   * the next hello asks again.
   */
  private onHello(from: NodeId, wantsVote: boolean): void {
    const v = this.driver.view()
    if (v.role !== 'leader') return
    const m = v.membership
    if (m.voters.includes(from)) return
    if (!m.learners.includes(from)) {
      if (this.opts.mayLearn && !this.opts.mayLearn(from)) {
        this.opts.metrics?.drop('learner_refused')
        return
      }
      this.changeMembership({ type: 'addLearner', node: from }, 'control plane: added a learner')
      return
    }
    if (!wantsVote) return
    if (
      (this.opts.mayLearn && !this.opts.mayLearn(from)) ||
      (this.opts.mayVote && !this.opts.mayVote(from))
    ) {
      this.opts.metrics?.drop('voter_refused')
      if (!this.refusedVoters.has(from)) {
        this.refusedVoters.add(from)
        this.opts.log?.warn(
          { node: from },
          'control plane: a learner asks to vote but its certificate does not make it a control-plane node',
        )
      }
      return
    }
    const match = v.matchOf(from)
    const within = this.opts.promoteWithin ?? CONTROL_DEFAULTS.promoteWithin
    if (match === undefined || v.lastIndex - match > within) return
    this.changeMembership({ type: 'addVoter', node: from }, 'control plane: promoted a learner to voter')
  }

  private changeMembership(change: MembershipChange, done: string): void {
    if (this.changing) return
    this.changing = true
    this.driver
      .request({ type: 'changeMembership', change }, this.requestTimeoutMs)
      .then((res) => {
        if (res.ok) this.opts.log?.info({ node: change.node }, done)
      })
      .catch(() => undefined)
      .finally(() => {
        this.changing = false
      })
  }

  /**
   * Until this router is in the membership, it says hello to the leader (or the voters) now and then; a
   * learner that wants to vote goes on saying so until it is a voter.
   */
  private helloLoop(): void {
    if (this.closed) return
    const v = this.driver.view()
    const m = v.membership
    const self = this.opts.id
    if (!m.voters.includes(self)) {
      const learner = m.learners.includes(self)
      if (!learner || this.opts.wantsVote) {
        const to = v.leader !== null ? [v.leader] : m.voters.length > 0 ? m.voters : this.opts.voters
        const frame = learner ? { kind: 'hello' as const, wantsVote: true } : { kind: 'hello' as const }
        for (const voter of to) if (voter !== self) this.sendFrame(voter, frame)
      }
    }
    const every = this.opts.helloEveryMs ?? CONTROL_DEFAULTS.helloEveryMs
    this.helloTimer = setTimeout(
      () => this.helloLoop(),
      this.opts.wantsVote ? Math.min(every, CONTROL_DEFAULTS.voteHelloEveryMs) : every,
    )
    this.helloTimer.unref?.()
  }
}
