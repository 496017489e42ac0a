// The sending half of the router: turns an envelope and its destination nodes into encoded copies, one per
// next hop (the copy lists the destination nodes behind that hop), and admits them to link queues under
// one of two rules:
//   - originate (a local sender): all copies are queued together or none; if a queue is full, or other
//     sends already wait, the send waits in FIFO order (bounded: maxBlockedSends) until every queue it
//     needs has room, and fails with BACKPRESSURE after sendTimeoutMs. So local senders see backpressure
//     and memory stays bounded whatever the publisher's rate;
//   - transit (forwarding, acks, retries): never waits; a full queue makes room by evicting its newest
//     lowest-priority entry below the message's priority, else the message is dropped (queue_full).
// Each link crossing consumes one hop of ttl: the wire copy carries ttl - 1; a message with ttl 0 that
// still has to cross a link is dropped (ttl_expired).

import type { RouterCore } from './core.js'
import {
  type Envelope,
  envelopeSize,
  envelopeWith,
  Flag,
  MAX_PRIORITY,
  makeEnvelope,
  TTL_OFFSET,
} from './envelope.js'
import { BusError } from './errors.js'
import { errorPayload } from './names.js'
import { type LinkPort, messagesIn, type QueueItem } from './ports.js'
import { Deque } from './queue.js'
import type { Run } from './runs.js'
import type { TimerHandle } from './scheduler.js'
import { policyRefusal } from './types.js'

/**
 * The promise a send returns when it was settled at once: queued on every link it needs (or delivered here),
 * nothing to wait for. A caller on a hot path (the socket API, per publish) compares against it and skips
 * the promise machinery; anything else is a real promise to await.
 */
export const SENT: Promise<void> = Promise.resolve()

interface Blocked {
  readonly env: Envelope
  /** Messages per copy (a run's count, else 1). */
  readonly weight: number
  ports: LinkPort[]
  items: QueueItem[]
  sizes: number[]
  readonly nodes: readonly string[]
  readonly reliable: boolean
  readonly resolve: () => void
  readonly reject: (e: BusError) => void
  timer: TimerHandle
  done: boolean
}

/** Why route() produced fewer copies than destinations. */
interface RouteProblems {
  unroutable: string[]
  tooLarge: number
  expired: boolean
}

export class Outbound {
  private readonly blocked = new Deque<Blocked>()
  /** Links that local sends found backlogged (or full) since the last beginBurst. */
  private readonly met = new Set<LinkPort>()
  /** Who holds off until a link catches up (holdOff). */
  private readonly relief = new Map<LinkPort, Set<() => void>>()
  // Scratch space for route(): reused on every call, so a send allocates only its encoded bytes.
  private readonly ports: LinkPort[] = []
  private readonly items: QueueItem[] = []
  private readonly sizes: number[] = []
  private readonly problems: RouteProblems = { unroutable: [], tooLarge: 0, expired: false }

  constructor(private readonly r: RouterCore) {}

  get blockedCount(): number {
    return this.blocked.length
  }

  /** A local publish (or subject request): ingress policy, local delivery, then the remote copies. */
  originate(env: Envelope, remote: readonly string[], localHit: boolean, reliable: boolean): Promise<void> {
    const r = this.r
    r.metrics.in('local', r.label(env))
    const denied = this.ingress(env)
    if (denied !== null) return Promise.reject(denied)
    if (localHit) r.deliverLocal(env)
    if (remote.length === 0) {
      if (!localHit) r.drop('no_interest', env)
      return SENT
    }
    return this.dispatch(env, remote, reliable, false)
  }

  /**
   * A run of local publishes (runs.ts) to `remote` nodes (and local subscribers when `localHit`): the same
   * rules as originate, applied per message where they are per message (policy, counters) and once for the
   * rest. A message the ingress policy refuses is left out of the run and reported to `refused`.
   */
  originateRun(
    run: Run,
    remote: readonly string[],
    localHit: boolean,
    refused: (err: BusError) => void,
  ): Promise<void> {
    const r = this.r
    const head = run.head
    r.metrics.in('local', r.label(head), run.count)
    if (r.policy !== undefined) {
      const passed = run.filter(() => {
        const denied = this.ingress(head)
        if (denied !== null) refused(denied)
        return denied === null
      }, false)
      if (passed === null) return SENT
      run = passed
    }
    if (localHit) for (let i = 0; i < run.count; i++) r.deliverLocal(run.message(i))
    if (remote.length === 0) {
      if (!localHit) r.drop('no_interest', head, run.count)
      return SENT
    }
    const n = this.route(head, remote, null)
    // route() made a head per next hop; each becomes the run under that head, if the link takes its frame.
    let m = 0
    for (let i = 0; i < n; i++) {
      const h = this.items[i] as Envelope
      const copy = h === head ? run : run.withHead(h)
      this.items[i] = EMPTY
      if (copy.frameBytes > this.ports[i]!.maxEnvelope) {
        this.problems.tooLarge++
        continue
      }
      this.ports[m] = this.ports[i]!
      this.items[m] = copy
      this.sizes[m++] = copy.frameBytes
    }
    this.countProblems(head, run.count)
    if (m === 0) return SENT
    return this.enqueueLocal(head, m, remote, false, run.count)
  }

  /** A local direct send (or agent request). Local destinations are delivered at once. */
  originateDirect(env: Envelope, reliable: boolean): Promise<void> {
    const r = this.r
    r.metrics.in('local', r.label(env))
    const denied = this.ingress(env)
    if (denied !== null) return Promise.reject(denied)
    if (env.to[0] === r.nodeId) {
      const err = r.deliverLocal(env)
      return err === null ? SENT : Promise.reject(err)
    }
    return this.dispatch(env, env.to, reliable, true)
  }

  /** A reply (or error reply) to `req`: to its reply address, without policy, waiting on backpressure. */
  answer(req: Envelope, flags: number, payload: Uint8Array, priority: number, from: string): Promise<void> {
    const r = this.r
    const env = this.control(req, flags, req.replyNode, req.replyAgent, payload, priority, from)
    if (env.to[0] === r.nodeId) {
      r.deliverLocal(env)
      return SENT
    }
    return this.dispatch(env, env.to, false, true)
  }

  /** Acks (or, with `error`, refuses) a received at-least-once message. Transit rules: never waits. */
  ack(msg: Envelope, error: BusError | null): void {
    if (msg.srcNode === this.r.nodeId) return
    const payload = error === null ? EMPTY : errorPayload(error.code, error.message)
    const flags = Flag.ACK | (error === null ? 0 : Flag.ERROR)
    const env = this.control(msg, flags, msg.srcNode, '', payload, MAX_PRIORITY, '')
    this.transit(env, env.to, null)
  }

  /** A retransmission of an at-least-once message towards the nodes that have not acked. */
  resend(env: Envelope, nodes: readonly string[]): void {
    this.transit(env, nodes, null)
  }

  /** A message from a link on its way to `nodes` (none of them this node). */
  forward(env: Envelope, nodes: readonly string[], raw: Uint8Array | null): void {
    this.transit(env, nodes, raw)
  }

  private control(
    answered: Envelope,
    flags: number,
    node: string,
    agent: string,
    payload: Uint8Array,
    priority: number,
    from: string,
  ): Envelope {
    const r = this.r
    return makeEnvelope({
      flags,
      ttl: r.limits.defaultTtl,
      priority,
      epoch: r.epoch,
      seq: r.nextSeq(),
      timestamp: Math.floor(r.clock.now()),
      srcNode: r.nodeId,
      srcAgent: from,
      to: [node],
      agent,
      corrEpoch: answered.epoch,
      corrSeq: answered.seq,
      payload,
    })
  }

  private ingress(env: Envelope): BusError | null {
    const r = this.r
    if (r.policy === undefined) return null
    const d = r.policy(env, 'ingress')
    if (d.allow) return null
    const refused = policyRefusal(d)
    r.drop(refused.drop, env)
    return refused.error
  }

  /**
   * Encodes the copies of `env` for `nodes` into the scratch arrays, one per next hop; returns how many.
   * `raw` (the received bytes) is reused when one copy goes to all of env.to unchanged.
   */
  private route(env: Envelope, nodes: readonly string[], raw: Uint8Array | null): number {
    const pr = this.problems
    pr.unroutable.length = 0
    pr.tooLarge = 0
    pr.expired = false
    if (env.ttl === 0) {
      pr.expired = true
      return 0
    }
    if (nodes.length === 1) {
      const port = this.portFor(nodes[0]!)
      if (port === null) {
        pr.unroutable.push(nodes[0]!)
        return 0
      }
      return this.emit(0, port, env, nodes, raw)
    }
    const groups = new Map<LinkPort, string[]>()
    for (const node of nodes) {
      const port = this.portFor(node)
      if (port === null) pr.unroutable.push(node)
      else {
        const g = groups.get(port)
        if (g === undefined) groups.set(port, [node])
        else g.push(node)
      }
    }
    let n = 0
    for (const [port, group] of groups)
      n = this.emit(n, port, env, group.length === nodes.length ? nodes : group, raw)
    return n
  }

  private portFor(node: string): LinkPort | null {
    const hop = this.r.nextHop(node)
    if (hop === null) return null
    return this.r.ports.get(hop) ?? null
  }

  /**
   * Adds the copy for `group` behind `port` to the scratch arrays. Forwarded bytes are copied (so a queue
   * never pins a whole received frame) with the ttl byte decremented; local envelopes stay objects, to be
   * encoded straight into the link's batch frame.
   */
  private emit(
    n: number,
    port: LinkPort,
    env: Envelope,
    group: readonly string[],
    raw: Uint8Array | null,
  ): number {
    const sameTo = group === env.to || sameNodes(group, env.to)
    let item: QueueItem
    let size: number
    if (sameTo && raw !== null) {
      const copy = raw.slice()
      copy[TTL_OFFSET] = env.ttl - 1
      item = copy
      size = copy.length
    } else {
      item = sameTo ? env : envelopeWith(env, env.seq, group, env.payload)
      size = envelopeSize(item)
    }
    if (size > port.maxEnvelope) {
      this.problems.tooLarge++
      return n
    }
    this.ports[n] = port
    this.items[n] = item
    this.sizes[n] = size
    return n + 1
  }

  /** Sends without waiting: forwarding, acks, retries. */
  private transit(env: Envelope, nodes: readonly string[], raw: Uint8Array | null): void {
    const r = this.r
    const n = this.route(env, nodes, raw)
    this.countProblems(env)
    for (let i = 0; i < n; i++) {
      const port = this.ports[i]!
      const size = this.sizes[i]!
      const q = port.queue
      while (!q.fits(size)) {
        const evicted = q.evictBelow(env.priority)
        if (evicted === undefined) break
        r.drop('queue_full', null, messagesIn(evicted))
      }
      if (q.fits(size)) {
        port.enqueue(this.items[i]!, size, env.priority)
        r.metrics.out(port.peerId, r.label(env))
      } else r.drop('queue_full', env)
    }
    this.clearScratch(n)
  }

  private countProblems(env: Envelope, weight = 1): void {
    const pr = this.problems
    if (pr.expired) this.r.drop('ttl_expired', env, weight)
    if (pr.unroutable.length > 0) this.r.drop('no_route', env, pr.unroutable.length * weight)
    if (pr.tooLarge > 0) this.r.drop('too_large', env, pr.tooLarge * weight)
  }

  private clearScratch(n: number): void {
    for (let i = 0; i < n; i++) this.items[i] = EMPTY
  }

  /** A local send: all copies queued now, or the send waits its turn (see the file comment). */
  private dispatch(
    env: Envelope,
    nodes: readonly string[],
    reliable: boolean,
    direct: boolean,
  ): Promise<void> {
    const r = this.r
    const n = this.route(env, nodes, null)
    const pr = this.problems
    if (direct && (pr.unroutable.length > 0 || pr.tooLarge > 0 || pr.expired)) {
      this.countProblems(env)
      const code = pr.tooLarge > 0 ? 'TOO_LARGE' : 'NO_ROUTE'
      return Promise.reject(
        new BusError(code, code === 'NO_ROUTE' ? `no route to ${nodes[0]}` : 'larger than the link carries'),
      )
    }
    this.countProblems(env)
    if (n === 0) return SENT
    let targets = nodes
    if (reliable && (pr.unroutable.length > 0 || pr.tooLarge > 0)) {
      // Track only the nodes a copy went towards; the others were counted as dropped.
      const routed = new Set<string>()
      for (let i = 0; i < n; i++) for (const node of targetsOf(this.ports[i]!, nodes, r)) routed.add(node)
      targets = [...routed]
    }
    if (reliable && r.acks.size >= r.limits.maxPendingAcks) {
      this.clearScratch(n)
      return Promise.reject(new BusError('LIMIT', `at most ${r.limits.maxPendingAcks} unacked messages`))
    }
    return this.enqueueLocal(env, n, targets, reliable, 1)
  }

  /**
   * Queues the `n` copies route() left in the scratch arrays, all now or, when a queue is full or sends
   * already wait, together later (a blocked send); `weight` messages per copy.
   */
  private enqueueLocal(
    env: Envelope,
    n: number,
    targets: readonly string[],
    reliable: boolean,
    weight: number,
  ): Promise<void> {
    const r = this.r
    if (this.blocked.length === 0 && this.allFit(n)) {
      this.admit(env, this.ports, this.items, this.sizes, n, weight)
      this.clearScratch(n)
      return reliable ? r.acks.track(env, targets) : SENT
    }
    if (this.blocked.length >= r.limits.maxBlockedSends) {
      this.clearScratch(n)
      return Promise.reject(
        new BusError('QUEUE_FULL', `${this.blocked.length} sends already wait for queue space`),
      )
    }
    for (let i = 0; i < n; i++) this.met.add(this.ports[i]!)
    const ports = this.ports.slice(0, n)
    const items = this.items.slice(0, n)
    const sizes = this.sizes.slice(0, n)
    this.clearScratch(n)
    return new Promise<void>((resolve, reject) => {
      const b: Blocked = {
        env,
        weight,
        ports,
        items,
        sizes,
        nodes: targets,
        reliable,
        resolve,
        reject,
        timer: 0,
        done: false,
      }
      b.timer = r.scheduler.setTimer(r.limits.sendTimeoutMs, () => {
        if (b.done) return
        b.done = true
        this.blocked.removeWhere((x) => x === b)
        reject(
          new BusError('BACKPRESSURE', `could not queue within ${r.limits.sendTimeoutMs} ms: links full`),
        )
        // The head may have been this one; the next may fit now.
        this.onSpace()
      })
      this.blocked.push(b)
    })
  }

  private allFit(n: number): boolean {
    for (let i = 0; i < n; i++) if (!this.ports[i]!.queue.fits(this.sizes[i]!)) return false
    return true
  }

  private admit(
    env: Envelope,
    ports: LinkPort[],
    items: QueueItem[],
    sizes: number[],
    n: number,
    weight: number,
  ): void {
    const label = this.r.label(env)
    for (let i = 0; i < n; i++) {
      const port = ports[i]!
      port.enqueue(items[i]!, sizes[i]!, env.priority)
      this.r.metrics.out(port.peerId, label, weight)
      if (port.backloggedFor(env.priority)) this.met.add(port)
    }
  }

  /**
   * Local senders that can pause their source (a stream connection stops reading its socket) hold off
   * before they meet a full queue: beginBurst, a burst of sends, then holdOff. So the blocked-send path
   * below, with its promise and timer per message, stays the exception rather than the steady state of a
   * fast publisher, and only senders whose own messages meet a backlogged link hold off: a publisher to
   * other links or to local subscribers goes on.
   */
  beginBurst(): void {
    this.met.clear()
  }

  /**
   * True when a send since beginBurst met a backlogged link (ports.ts) or had to wait as a blocked send;
   * `fn` is then called once, when the first of those links has caught up (or gone).
   */
  holdOff(fn: () => void): boolean {
    if (this.met.size === 0) return false
    for (const port of this.met) {
      const waiting = this.relief.get(port)
      if (waiting === undefined) this.relief.set(port, new Set([fn]))
      else waiting.add(fn)
    }
    this.met.clear()
    return true
  }

  /** Calls who holds off for `port` (it caught up or went away). */
  private relieve(port: LinkPort): void {
    const waiting = this.relief.get(port)
    if (waiting === undefined) return
    this.relief.delete(port)
    for (const fn of waiting) fn()
  }

  /** Calls everyone holding off (the router closes). */
  relieveAll(): void {
    for (const port of [...this.relief.keys()]) this.relieve(port)
  }

  /** Queue space was freed (a pump ran, a link went away): admit waiting sends in order, then relieve. */
  onSpace(port?: LinkPort): void {
    this.admitBlocked()
    if (port?.caughtUp) this.relieve(port)
  }

  private admitBlocked(): void {
    for (;;) {
      const b = this.blocked.peek()
      if (b === undefined) return
      let fits = true
      for (let i = 0; i < b.ports.length; i++) if (!b.ports[i]!.queue.fits(b.sizes[i]!)) fits = false
      if (!fits) return
      this.blocked.shift()
      b.done = true
      this.r.scheduler.clearTimer(b.timer)
      this.admit(b.env, b.ports, b.items, b.sizes, b.ports.length, b.weight)
      if (b.reliable) this.r.acks.track(b.env, b.nodes).then(b.resolve, b.reject)
      else b.resolve()
    }
  }

  /** A link went down: waiting sends lose their copies for it; a send left with none fails NO_ROUTE. */
  portGone(port: LinkPort): void {
    this.blocked.removeWhere((b) => {
      const keep = b.ports.map((p) => p !== port)
      if (keep.every(Boolean)) return false
      this.r.drop('link_down', b.env, keep.filter((k) => !k).length * b.weight)
      b.ports = b.ports.filter((_, i) => keep[i])
      b.items = b.items.filter((_, i) => keep[i])
      b.sizes = b.sizes.filter((_, i) => keep[i])
      if (b.ports.length > 0) return false
      b.done = true
      this.r.scheduler.clearTimer(b.timer)
      b.reject(new BusError('NO_ROUTE', `the link to ${port.peerId} went down while the send waited`))
      return true
    })
    this.met.delete(port)
    this.relieve(port)
    this.onSpace()
  }

  failBlocked(err: BusError): void {
    for (let b = this.blocked.shift(); b !== undefined; b = this.blocked.shift()) {
      b.done = true
      this.r.scheduler.clearTimer(b.timer)
      b.reject(err)
    }
  }
}

const EMPTY = new Uint8Array(0)

function sameNodes(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** The destination nodes among `nodes` whose next hop is `port`. */
function targetsOf(port: LinkPort, nodes: readonly string[], r: RouterCore): string[] {
  return nodes.filter((n) => r.nextHop(n) === port.peerId)
}
