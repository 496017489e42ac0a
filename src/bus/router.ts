// The per-node bus engine. It takes messages from local clients (publish, send, request, reply) and from
// peer links (receive), and delivers them to local subscribers and agents or forwards them one hop closer
// to their destination along routing's next hops. What it guarantees:
//   - bounded memory: per-link queues bounded in entries and bytes; a local sender that finds a queue
//     full waits (its promise stays pending) and fails with BACKPRESSURE after sendTimeoutMs, or at once
//     with QUEUE_FULL when too many sends already wait; transit messages are never waited for (that would
//     stall every flow sharing the incoming link) but dropped, lowest priority first, and counted;
//   - at-most-once by default; at-least-once on request (acks, retries with backoff, receiver dedup);
//   - hop limits (ttl), duplicate suppression, priorities on congested links;
//   - the policy hook at ingress (here, for local senders) and egress (at the destination router).
// Subject fan-out: see interest.ts. Time, timers and randomness are injected (scheduler.ts).

import type { LocalSub, RouterCore } from './core.js'
import {
  DEFAULT_PRIORITY,
  type Envelope,
  Flag,
  MAX_PRIORITY,
  MIN_PRIORITY,
  makeEnvelope,
  REQUEST_PRIORITY,
} from './envelope.js'
import { BusError, type BusErrorCode, type DropReason } from './errors.js'
import { InterestFlood } from './flood.js'
import { FrameKind } from './frames.js'
import { Inbound } from './inbound.js'
import type { InterestTable } from './interest.js'
import { BusMetrics } from './metrics.js'
import { checkName, errorPayload } from './names.js'
import { Outbound, SENT } from './outbound.js'
import { AckTracker, type RequestDone, RequestTable } from './pending.js'
import { LinkPort } from './ports.js'
import { MAX_RUN_COUNT, Run, seqAt } from './runs.js'
import { type Clock, type Rng, type Scheduler, systemClock, systemRng, systemScheduler } from './scheduler.js'
import { SubjectIndex, validatePattern, validateSubject } from './subjects.js'
import {
  type Address,
  type BusLimits,
  type BusLink,
  type BusOptions,
  type DirectOptions,
  type MessageHandler,
  type NextHop,
  type PolicyHook,
  type PublishOptions,
  type RequestOptions,
  type RunHandler,
  resolveLimits,
  type SendOptions,
  type Subscription,
} from './types.js'

const TWO_POW_32 = 2 ** 32
const EMPTY = new Uint8Array(0)

export class BusRouter implements RouterCore {
  readonly nodeId: string
  readonly epoch: number
  readonly limits: BusLimits
  readonly clock: Clock
  readonly scheduler: Scheduler
  readonly metrics: BusMetrics
  readonly policy: PolicyHook | undefined
  readonly nextHop: NextHop
  readonly ports = new Map<string, LinkPort>()
  readonly subs = new SubjectIndex<LocalSub>()
  readonly agents = new Map<string, MessageHandler>()
  readonly interest: InterestTable
  readonly requests: RequestTable
  readonly acks: AckTracker
  nodeHandler: MessageHandler | null = null
  private seq = 0
  private readonly rng: Rng
  private readonly out: Outbound
  private readonly inbound: Inbound
  private readonly flood: InterestFlood
  private subscriptions = 0
  private closed = false

  constructor(opts: BusOptions) {
    checkName(opts.nodeId, 'node id', true)
    this.nodeId = opts.nodeId
    this.limits = resolveLimits(opts.limits)
    this.clock = opts.clock ?? systemClock
    this.scheduler = opts.scheduler ?? systemScheduler
    this.rng = opts.rng ?? systemRng
    this.epoch = this.rng.int(0, TWO_POW_32 - 1)
    this.metrics = new BusMetrics(opts.registry)
    this.policy = opts.policy
    this.nextHop = opts.nextHop
    this.flood = new InterestFlood(this.nodeId, this.limits, this.clock, this.scheduler, this.ports, () =>
      this.drop('malformed', null),
    )
    this.interest = this.flood.table
    this.requests = new RequestTable(this.scheduler)
    this.out = new Outbound(this)
    this.acks = new AckTracker(
      this.scheduler,
      this.rng,
      this.limits,
      (env, nodes) => this.out.resend(env, nodes),
      () => this.metrics.retried(),
    )
    this.inbound = new Inbound(this, this.out)
    this.metrics.sources(
      () =>
        [...this.ports.values()].map((p) => ({ link: p.peerId, count: p.queue.count, bytes: p.queue.bytes })),
      () => ({
        pendingRequests: this.requests.size,
        pendingAcks: this.acks.size,
        blockedSends: this.out.blockedCount,
      }),
    )
  }

  // ---- links and routing ---------------------------------------------------------------------------

  /** Starts using a link (replacing any link to the same peer) and tells the peer what we know of interest. */
  addLink(link: BusLink): void {
    this.assertOpen()
    this.removeLink(link.peerId)
    const port = new LinkPort(link, this.portOptions(), this.scheduler, (p) => this.out.onSpace(p))
    this.ports.set(link.peerId, port)
    this.flood.linkUp(port)
  }

  /** Stops using the link to `peerId`; what was queued for it is dropped (counted as link_down). */
  removeLink(peerId: string): void {
    const port = this.ports.get(peerId)
    if (port === undefined) return
    this.ports.delete(peerId)
    const dropped = port.close()
    if (dropped > 0) this.drop('link_down', null, dropped)
    this.out.portGone(port)
  }

  /** A frame the link to `peerId` received. Never throws on bad input: it is counted and dropped. */
  receive(peerId: string, frame: Uint8Array): void {
    if (this.closed) return
    if (frame[0] === FrameKind.INTEREST) this.flood.receive(peerId, frame)
    else if (frame[0] === FrameKind.RUN) this.inbound.run(peerId, frame)
    else this.inbound.frame(peerId, frame)
  }

  /**
   * The nodes routing knows. Interest of nodes that were known and no longer are is forgotten at once
   * (rather than after its time-to-live), so publishers stop sending towards them.
   */
  setKnownNodes(nodes: Iterable<string>): void {
    this.flood.setKnownNodes(nodes)
  }

  /**
   * Which nodes each node has links to (routing's link-state records). An interest record that arrives from
   * its own node is not passed on to those: the node sent it to them itself.
   */
  setDirectLinks(linksOf: (node: string) => ReadonlySet<string> | undefined): void {
    this.flood.setDirectLinks(linksOf)
  }

  private portOptions() {
    const l = this.limits
    return {
      maxCount: l.maxQueueCount,
      maxBytes: l.maxQueueBytes,
      maxBatchBytes: l.maxBatchBytes,
      maxBatchCount: l.maxBatchCount,
    }
  }

  // ---- local receivers ------------------------------------------------------------------------------

  /**
   * Receives messages published (anywhere in the mesh) to subjects matching `pattern`; runs of messages
   * (runs.ts) go to `runs` whole when given, else to `handler` one by one.
   */
  subscribe(pattern: string, handler: MessageHandler, runs?: RunHandler): Subscription {
    this.assertOpen()
    validatePattern(pattern)
    if (this.subscriptions >= this.limits.maxSubscriptions)
      throw new BusError('LIMIT', `at most ${this.limits.maxSubscriptions} subscriptions`)
    this.flood.addPattern(pattern)
    const sub: LocalSub = { pattern, handler, runs }
    this.subs.add(pattern, sub)
    this.subscriptions++
    let active = true
    return {
      pattern,
      unsubscribe: () => {
        if (!active) return
        active = false
        this.subs.remove(pattern, sub)
        this.subscriptions--
        this.flood.removePattern(pattern)
      },
    }
  }

  /** Receives direct messages to {node: this node, agent: name}. Returns the function that unregisters. */
  registerAgent(name: string, handler: MessageHandler): () => void {
    this.assertOpen()
    checkName(name, 'agent name', true)
    if (this.agents.has(name)) throw new BusError('INVALID_ADDRESS', `agent ${name} is already registered`)
    this.agents.set(name, handler)
    return () => {
      if (this.agents.get(name) === handler) this.agents.delete(name)
    }
  }

  /** Receives messages addressed to this node's router itself (agent ''), e.g. for protocol drivers. */
  onNodeMessage(handler: MessageHandler | null): void {
    this.nodeHandler = handler
  }

  // ---- sending ---------------------------------------------------------------------------------------

  /**
   * Publishes to every subscriber of `subject`, here and on other nodes. Resolves once the message is
   * queued on every link it needs (at-least-once: once every subscribing node acked). Local subscribers are
   * called before this returns. Rejects with POLICY_DENIED, BACKPRESSURE, QUEUE_FULL, TOO_LARGE, ...
   */
  publish(subject: string, payload: Uint8Array, opts?: PublishOptions): Promise<void> {
    try {
      validateSubject(subject)
      let flags = opts?.reliable ? Flag.ACK_REQUESTED : 0
      if (opts?.replyTo !== undefined) flags |= Flag.REQUEST
      const only = opts?.only
      const remote =
        only === undefined ? this.interest.match(subject) : this.interest.match(subject).filter(only)
      const env = this.envelope(flags, remote.length > 0 ? remote : [this.nodeId], '', subject, payload, opts)
      return this.out.originate(env, remote, this.subs.match(subject).length > 0, opts?.reliable === true)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Publishes `count` messages to one subject at once, as a run (runs.ts): message i's payload is
   * `buf[offs[2i], offs[2i+1])`, kept as a view until its link writes it. The same rules and promise as
   * `count` publish() calls with these options (at-most-once), except that a message the ingress policy
   * refuses is reported to `refused` instead of failing the promise (the others go on).
   */
  publishRun(
    subject: string,
    buf: Uint8Array,
    offs: Int32Array,
    count: number,
    opts: { priority?: number; from?: string },
    refused: (err: BusError) => void,
  ): Promise<void> {
    validateSubject(subject)
    if (!(count >= 1 && count <= MAX_RUN_COUNT && offs.length >= 2 * count))
      throw new BusError('INVALID_OPTIONS', `a run holds 1..${MAX_RUN_COUNT} messages, got ${count}`)
    for (let i = 0; i < count; i++) {
      const n = offs[2 * i + 1]! - offs[2 * i]!
      if (!(n >= 0) || offs[2 * i]! < 0 || offs[2 * i + 1]! > buf.length)
        throw new BusError('INVALID_OPTIONS', `run message ${i} lies outside its buffer`)
      if (n > this.limits.maxPayloadBytes)
        throw new BusError('TOO_LARGE', `payload of ${n} bytes exceeds ${this.limits.maxPayloadBytes}`)
    }
    const remote = this.interest.match(subject)
    const head = this.envelope(0, remote.length > 0 ? remote : [this.nodeId], '', subject, EMPTY, opts)
    // The run's messages take sequence numbers head.seq .. head.seq + count - 1.
    this.seq = seqAt(head.seq, count - 1)
    const local = this.subs.match(subject).length > 0
    return this.out.originateRun(new Run(head, buf, offs, count), remote, local, refused)
  }

  /** Sends to one agent (or, with agent '', the router) on a node. Same promise rules as publish. */
  send(to: Address, payload: Uint8Array, opts?: DirectOptions): Promise<void> {
    try {
      checkName(to.node, 'destination node', true)
      checkName(to.agent, 'destination agent', false)
      if (opts?.subject !== undefined && opts.subject !== '') validateSubject(opts.subject)
      let flags = opts?.reliable ? Flag.ACK_REQUESTED : 0
      if (opts?.replyTo !== undefined) flags |= Flag.REQUEST
      const env = this.envelope(flags, [to.node], to.agent, opts?.subject ?? '', payload, opts)
      return this.out.originateDirect(env, opts?.reliable === true)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Sends a request to a subject (every subscriber gets it, the first reply wins) or to an agent address,
   * and resolves with the reply. Fails with TIMEOUT when no reply comes within timeoutMs (a reply after
   * that is dropped and counted as late_reply), NO_RESPONDERS when nobody can answer.
   */
  request(target: string | Address, payload: Uint8Array, opts?: RequestOptions): Promise<Envelope> {
    return new Promise((resolve, reject) => {
      this.requestWith(target, payload, opts, (err, reply) => (err === null ? resolve(reply!) : reject(err)))
    })
  }

  /**
   * request() with a callback: `done` gets the reply (or the error) the moment it is handed in, so whoever
   * answers a local client (a session) writes in the same turn, without a promise in between. Bad input
   * throws (BusError) instead of reaching `done`.
   */
  requestWith(
    target: string | Address,
    payload: Uint8Array,
    opts: RequestOptions | undefined,
    done: RequestDone,
  ): void {
    const timeoutMs = opts?.timeoutMs ?? this.limits.requestTimeoutMs
    if (!(timeoutMs > 0))
      throw new BusError('INVALID_OPTIONS', `timeoutMs must be positive, got ${timeoutMs}`)
    if (this.requests.size >= this.limits.maxPendingRequests)
      throw new BusError('LIMIT', `at most ${this.limits.maxPendingRequests} requests in flight`)
    const reliable = opts?.reliable === true
    const flags = Flag.REQUEST | (reliable ? Flag.ACK_REQUESTED : 0)
    // The options envelope() reads, as a literal of one shape: spreading the caller's options into a new
    // object with more fields took the slow path of object cloning, half of a request's own cost.
    const fields = {
      priority: opts?.priority ?? REQUEST_PRIORITY,
      ttl: opts?.ttl,
      from: opts?.from,
      replyTo: { node: this.nodeId, agent: '' },
    }
    let env: Envelope
    let remote: readonly string[] = []
    let local = false
    if (typeof target === 'string') {
      validateSubject(target)
      remote = this.interest.match(target)
      local = this.subs.match(target).length > 0
      if (remote.length === 0 && !local) throw new BusError('NO_RESPONDERS', `nobody subscribes to ${target}`)
      env = this.envelope(flags, remote.length > 0 ? remote : [this.nodeId], '', target, payload, fields)
    } else {
      checkName(target.node, 'destination node', true)
      checkName(target.agent, 'destination agent', false)
      if (opts?.subject) validateSubject(opts.subject)
      env = this.envelope(flags, [target.node], target.agent, opts?.subject ?? '', payload, fields)
    }
    const what = typeof target === 'string' ? target : `${target.agent}@${target.node}`
    // Registered before sending: a local responder may reply synchronously, inside the send.
    this.requests.add(env.seq, timeoutMs, what, done)
    const sent =
      typeof target === 'string'
        ? this.out.originate(env, remote, local, reliable)
        : this.out.originateDirect(env, reliable)
    // Queued (the usual case) is the settled SENT: nothing to wait for.
    if (sent !== SENT) {
      const seq = env.seq
      sent.catch((err: unknown) => {
        this.requests.reject(seq, err instanceof BusError ? err : new BusError('REMOTE_ERROR', String(err)))
      })
    }
  }

  /** Answers `req` (a message with the REQUEST flag). Replies are not policy-checked again (types.ts). */
  reply(req: Envelope, payload: Uint8Array, opts?: { priority?: number; from?: string }): Promise<void> {
    try {
      if ((req.flags & Flag.REQUEST) === 0)
        throw new BusError('INVALID_OPTIONS', 'the message is not a request')
      const priority = opts?.priority ?? req.priority
      const from = opts?.from ?? ''
      this.checkCommon(priority, this.limits.defaultTtl, payload, from)
      return this.out.answer(req, Flag.REPLY, payload, priority, from)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Answers `req` with an error the requester sees as a BusError of `code`. */
  replyError(req: Envelope, code: BusErrorCode | string, reason: string): Promise<void> {
    try {
      if ((req.flags & Flag.REQUEST) === 0)
        throw new BusError('INVALID_OPTIONS', 'the message is not a request')
      this.assertOpen()
      return this.out.answer(req, Flag.REPLY | Flag.ERROR, errorPayload(code, reason), req.priority, '')
    } catch (err) {
      return Promise.reject(err)
    }
  }

  private envelope(
    flags: number,
    to: readonly string[],
    agent: string,
    subject: string,
    payload: Uint8Array,
    opts: (SendOptions & { replyTo?: Address }) | undefined,
  ): Envelope {
    const priority = opts?.priority ?? DEFAULT_PRIORITY
    const ttl = opts?.ttl ?? this.limits.defaultTtl
    const from = opts?.from ?? ''
    this.checkCommon(priority, ttl, payload, from)
    const replyTo = opts?.replyTo
    if (replyTo !== undefined) {
      checkName(replyTo.node, 'reply node', true)
      checkName(replyTo.agent, 'reply agent', false)
    }
    return makeEnvelope({
      flags,
      ttl,
      priority,
      epoch: this.epoch,
      seq: this.nextSeq(),
      timestamp: Math.floor(this.clock.now()),
      srcNode: this.nodeId,
      srcAgent: from,
      to,
      agent,
      subject,
      replyNode: replyTo?.node ?? '',
      replyAgent: replyTo?.agent ?? '',
      payload,
    })
  }

  deliverLocal(env: Envelope): BusError | null {
    return this.inbound.deliverLocal(env)
  }

  /** The checks every local send shares; writeEnvelope trusts what passes them. */
  private checkCommon(priority: number, ttl: number, payload: Uint8Array, from: string): void {
    this.assertOpen()
    if (!Number.isInteger(priority) || priority < MIN_PRIORITY || priority > MAX_PRIORITY)
      throw new BusError(
        'INVALID_OPTIONS',
        `priority must be ${MIN_PRIORITY}..${MAX_PRIORITY}, got ${priority}`,
      )
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255)
      throw new BusError('INVALID_OPTIONS', `ttl must be 1..255, got ${ttl}`)
    if (!(payload instanceof Uint8Array))
      throw new BusError('INVALID_OPTIONS', 'payload must be a Uint8Array')
    if (payload.length > this.limits.maxPayloadBytes)
      throw new BusError(
        'TOO_LARGE',
        `payload of ${payload.length} bytes exceeds ${this.limits.maxPayloadBytes}`,
      )
    checkName(from, 'sending agent', false)
  }

  nextSeq(): number {
    this.seq = this.seq === TWO_POW_32 - 1 ? 1 : this.seq + 1
    return this.seq
  }

  // ---- bookkeeping ---------------------------------------------------------------------------------------

  drop(reason: DropReason, env: Envelope | null, n = 1): void {
    this.metrics.dropped(reason, env === null ? '_unknown' : this.label(env), n)
  }

  label(env: Envelope): string {
    const f = env.flags
    const kind =
      (f & Flag.ACK) !== 0
        ? '_ack'
        : (f & Flag.REPLY) !== 0
          ? '_reply'
          : env.agent !== ''
            ? '_agent'
            : '_node'
    return this.metrics.prefix(env.subject, kind)
  }

  /** Queue depth per link (for tests and status pages). */
  queueDepth(peerId: string): { count: number; bytes: number } | undefined {
    const p = this.ports.get(peerId)
    return p === undefined ? undefined : { count: p.queue.count, bytes: p.queue.bytes }
  }

  get blockedSends(): number {
    return this.out.blockedCount
  }

  /** A local sender that can pause its source starts a burst of sends (see holdOff, outbound.ts). */
  beginBurst(): void {
    this.out.beginBurst()
  }

  /**
   * After a burst: true when its messages met a backlogged link, and then `fn` is called once that link
   * caught up; the sender pauses its source until then. False: go on.
   */
  holdOff(fn: () => void): boolean {
    return !this.closed && this.out.holdOff(fn)
  }

  private assertOpen(): void {
    if (this.closed) throw new BusError('CLOSED', 'the bus router is closed')
  }

  /** Stops everything: pending requests, acks and blocked sends fail with CLOSED; queues are dropped. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.flood.close()
    const err = new BusError('CLOSED', 'the bus router is closed')
    this.requests.failAll(err)
    this.acks.failAll(err)
    this.out.failBlocked(err)
    for (const peer of [...this.ports.keys()]) this.removeLink(peer)
    // Senders holding off go on (and meet CLOSED).
    this.out.relieveAll()
  }
}
