// One bus stream connection on the daemon's side (protocol in frames.ts): frames from the client become bus
// operations, bus deliveries become MSG frames. Everything it holds is bounded:
//   - outgoing: frames are coalesced and written once per event-loop turn; when the bytes waiting for the
//     client (ours plus the socket's) pass maxOutBytes, deliveries are dropped and counted (slow_consumer),
//     and a client that stays over the bound for slowConsumerMs is disconnected with SLOW_CONSUMER;
//   - incoming: at most maxInFlight bus operations (publishes waiting on link backpressure, requests waiting
//     for replies) per connection; beyond that the socket stops being read, so a flooding client is slowed by
//     its own socket buffer rather than by the daemon's memory. Before it comes to that, the socket also
//     stops being read when what one read sent met a backlogged link (bus.holdOff), until that link caught
//     up: a publisher faster than its link is held back one socket read at a time, not one blocked send
//     (a promise and a timer) per message;
//   - requests delivered to this client's responders wait for its REPLY in a table of maxPendingReplies
//     (oldest evicted and counted); subscriptions and agents per connection are capped.
// A malformed frame body gets an ERROR frame (MALFORMED_FRAME) and the connection goes on; a broken length
// prefix cannot be resynchronised, so that connection is closed after the ERROR frame.

import type { Socket } from 'node:net'
import {
  BusError,
  type BusRouter,
  type Envelope,
  envelopeWith,
  Flag,
  type Run,
  SENT,
  type Subscription,
} from '../bus/index.js'
import { onReads } from '../os/direct-reads.js'
import { DirectWriter } from '../os/direct-writes.js'
import { beginBurst, burstItems, deferToTurnEnd, endBurst } from '../os/turn.js'
import type { WriteSink } from '../os/write-buffers.js'
import { bytesEqualAt, isDecodeError } from '../wire/index.js'
import { type AgentDirectory, checkLabel } from './directory.js'
import { decodeFrame, type Frame, FrameOut, FrameSplitter, Kind, MAX_FRAME_BYTES } from './frames.js'
import type { StreamMetrics } from './metrics.js'

export interface SessionLimits {
  maxOutBytes: number
  slowConsumerMs: number
  maxInFlight: number
  maxSubscriptions: number
  maxPendingReplies: number
  maxAgents: number
  maxTimeoutMs: number
}

export const DEFAULT_SESSION_LIMITS: Readonly<SessionLimits> = Object.freeze({
  maxOutBytes: 8 * 1024 * 1024,
  slowConsumerMs: 5_000,
  maxInFlight: 1024,
  maxSubscriptions: 1024,
  maxPendingReplies: 4096,
  maxAgents: 64,
  maxTimeoutMs: 300_000,
})

export interface SessionContext {
  bus: BusRouter
  directory: AgentDirectory
  metrics: StreamMetrics
  limits: SessionLimits
  /** `<name>.agents.<domain>` */
  dnsName: (agent: string) => string
  now: () => number
}

const EMPTY = new Uint8Array(0)
const FLUSH_BYTES = 256 * 1024
/** A run (addToRun) holds at most this many messages and payload bytes; larger payloads go alone. */
const RUN_MAX = 1024
const RUN_BYTES = 60 * 1024
const RUN_PAYLOAD_MAX = 8 * 1024

/** Why the socket is not being read (bits; it is read again when none is left). */
const HOLD_IN_FLIGHT = 1
const HOLD_CONGESTED = 2

export class StreamSession {
  private readonly out = new FrameOut()
  private outFrames = 0
  private flushing = false
  private readonly flushFn = () => this.flush()
  private readonly splitter = new FrameSplitter(MAX_FRAME_BYTES)
  private readonly subs = new Map<number, { sub: Subscription; responder: boolean }>()
  /** REGISTER id -> agent name, for agents this connection registered. */
  private readonly agents = new Map<number, string>()
  private readonly replies = new Map<number, Envelope>()
  private ridSeq = 0
  private inFlight = 0
  private holds = 0
  private readonly relievedFn = () => this.release(HOLD_CONGESTED)
  private slowTimer: NodeJS.Timeout | null = null
  private framesIn = 0
  private closed = false
  private readonly each = (buf: Buffer, start: number, end: number) => this.frame(buf, start, end)
  // The run being built from this read's publishes (addToRun): where its subject and payloads lie in runBuf.
  private runBuf: Buffer | null = null
  private runCount = 0
  private runPriority = 0
  private runSubject = 0
  private runSubjectLen = 0
  private runBytes = 0
  private readonly runOffs = new Int32Array(2 * RUN_MAX)
  private readonly runFrames = new Int32Array(RUN_MAX)
  private readonly refusedFn = (err: BusError) => this.fail(0, err)
  /**
   * Output made while the socket waits for 'drain', in order, not yet encoded (deliverRun, push), from index
   * heldAt on; what it costs in heldBytes.
   */
  private held: ({ sid: number; run: Run; bytes: number } | { frame: Frame; bytes: number })[] = []
  private heldAt = 0
  private heldBytes = 0
  /** Where output is written: the socket, directly while nothing waits in its queue. */
  private readonly sink: WriteSink

  constructor(
    readonly id: number,
    private readonly socket: Socket,
    private readonly ctx: SessionContext,
  ) {
    ctx.metrics.opened()
    // Output goes straight to the kernel while the socket holds nothing queued (os/direct-writes.ts).
    this.sink = DirectWriter.over(socket)
    // Reads go to data() directly where the socket allows it (os/direct-reads.ts), else through 'data'.
    onReads(socket, (chunk) => this.data(chunk))
    socket.on('drain', () => this.drained())
    socket.on('close', () => this.close())
    // The API server allows half-open sockets: a client's end() arrives as 'end' and is the end of the session.
    socket.on('end', () => this.close())
    socket.on('error', () => this.close())
  }

  /** For status pages: what this connection holds. */
  view() {
    return {
      id: this.id,
      subscriptions: this.subs.size,
      agents: [...this.agents.values()],
      pending_replies: this.replies.size,
      in_flight: this.inFlight,
      queued_bytes: this.queuedBytes,
    }
  }

  data(chunk: Buffer): void {
    if (this.closed) return
    this.framesIn = 0
    this.ctx.bus.beginBurst()
    beginBurst()
    try {
      this.splitter.push(chunk, this.each)
      this.endRun()
    } catch (err) {
      if (!isDecodeError(err)) throw err
      // What came before the broken length goes out; the connection then closes.
      this.endRun()
      this.ctx.metrics.disconnected('MALFORMED_FRAME')
      this.fatal('MALFORMED_FRAME', `unreadable frame length: ${err.message}; closing the connection`)
    } finally {
      this.ctx.metrics.framesIn(this.framesIn)
      burstItems(this.framesIn)
      endBurst()
    }
    if ((this.holds & HOLD_CONGESTED) === 0 && !this.closed && this.ctx.bus.holdOff(this.relievedFn))
      this.hold(HOLD_CONGESTED)
  }

  private frame(buf: Buffer, start: number, end: number): void {
    if (this.closed) return
    this.framesIn++
    if (buf[start] === Kind.PUB && this.addToRun(buf, start, end)) return
    this.endRun()
    this.decodeAndHandle(buf, start, end)
  }

  private decodeAndHandle(buf: Buffer, start: number, end: number): void {
    let f: Frame
    try {
      f = decodeFrame(buf, start, end)
    } catch (err) {
      if (!isDecodeError(err)) throw err
      this.error(0, 'MALFORMED_FRAME', `frame not understood: ${err.message}`)
      return
    }
    try {
      this.handle(f)
    } catch (err) {
      const id = 'id' in f ? f.id : 'sid' in f ? f.sid : 'rid' in f ? f.rid : 0
      this.fail(id, err)
    }
  }

  private handle(f: Frame): void {
    const { bus, directory } = this.ctx
    switch (f.kind) {
      case 'pub': {
        const p = bus.publish(f.subject, f.payload, { priority: f.priority || undefined, from: this.from() })
        this.track(p, f.id)
        return
      }
      case 'send': {
        const to = directory.resolve(f.to)
        // An answer wanted means: confirm delivery, so an unknown agent on a remote node is reported too.
        const p = bus.send(to, f.payload, {
          subject: f.subject === '' ? undefined : f.subject,
          priority: f.priority || undefined,
          from: this.from(),
          reliable: f.id !== 0,
        })
        this.track(p, f.id)
        return
      }
      case 'req': {
        const timeoutMs = Math.min(f.timeoutMs || 5000, this.ctx.limits.maxTimeoutMs)
        const from = this.from()
        const id = f.id
        // The reply is written in the turn it arrives in (at the end of the lane read that brought it).
        const done = (err: BusError | null, reply: Envelope | null) => {
          this.end()
          if (err === null) this.push({ kind: 'ok', id, payload: reply!.payload })
          else this.fail(id, err)
        }
        // Counted before sending: a local responder may answer inside requestWith.
        this.begin()
        try {
          if (f.to === '') bus.requestWith(f.subject, f.payload, { timeoutMs, from }, done)
          else {
            const opts = { timeoutMs, from, subject: f.subject === '' ? undefined : f.subject }
            bus.requestWith(directory.resolve(f.to), f.payload, opts, done)
          }
        } catch (err) {
          // Refused at once (bad subject, no responders, limits): done is not called; handle() reports it.
          this.end()
          throw err
        }
        return
      }
      case 'reply': {
        const req = this.replies.get(f.rid)
        if (req === undefined) {
          this.error(
            f.rid,
            'UNKNOWN_REQUEST',
            `no request ${f.rid} is waiting for a reply (answered, or evicted)`,
          )
          return
        }
        this.replies.delete(f.rid)
        let p: Promise<void>
        if (f.error) {
          const text = Buffer.from(f.payload).toString('latin1')
          const sp = text.indexOf(' ')
          p = bus.replyError(req, sp < 0 ? text : text.slice(0, sp), sp < 0 ? '' : text.slice(sp + 1))
        } else p = bus.reply(req, f.payload, { from: req.agent !== '' ? req.agent : this.from() })
        this.track(p, 0)
        return
      }
      case 'sub': {
        if (this.subs.has(f.sid)) throw new BusError('INVALID_OPTIONS', `subscription id ${f.sid} is in use`)
        if (this.subs.size >= this.ctx.limits.maxSubscriptions)
          throw new BusError(
            'LIMIT',
            `at most ${this.ctx.limits.maxSubscriptions} subscriptions per connection`,
          )
        const responder = f.responder
        const sid = f.sid
        const sub = bus.subscribe(
          f.pattern,
          (env) => this.deliver(sid, env, responder),
          (run) => this.deliverRun(sid, run),
        )
        this.subs.set(sid, { sub, responder })
        this.push({ kind: 'ok', id: sid, payload: EMPTY })
        return
      }
      case 'unsub': {
        const s = this.subs.get(f.sid)
        if (s !== undefined) {
          s.sub.unsubscribe()
          this.subs.delete(f.sid)
        }
        return
      }
      case 'register': {
        if (this.agents.size >= this.ctx.limits.maxAgents)
          throw new BusError('LIMIT', `at most ${this.ctx.limits.maxAgents} agents per connection`)
        if ([...this.agents.keys()].includes(f.id))
          throw new BusError('INVALID_OPTIONS', `registration id ${f.id} is in use`)
        const labels: Record<string, string> = {}
        for (const [k, v] of f.labels) labels[k] = v
        for (const c of f.capabilities) checkLabel(c, 'capability')
        const id = f.id
        directory.register({ name: f.name, type: f.type, labels, capabilities: f.capabilities }, (env) =>
          this.deliver(id, env, true),
        )
        this.agents.set(id, f.name)
        this.push({ kind: 'registered', id, node: bus.nodeId, agent: f.name, dns: this.ctx.dnsName(f.name) })
        return
      }
      case 'unregister': {
        for (const [id, name] of this.agents) {
          if (name !== f.name) continue
          this.agents.delete(id)
          directory.unregister(name)
          this.push({ kind: 'ok', id: f.id, payload: EMPTY })
          return
        }
        this.error(f.id, 'UNKNOWN_AGENT', `this connection has no agent named ${JSON.stringify(f.name)}`)
        return
      }
      case 'ping':
        this.push({ kind: 'pong', id: f.id })
        return
      default:
        this.error(0, 'UNEXPECTED_FRAME', `a client may not send ${f.kind} frames`)
    }
  }

  /**
   * Collects a PUB frame that wants no answer into the run being built (consecutive publishes of this read
   * to one subject at one priority), which goes to the bus as one run (bus runs.ts) when something else
   * comes, or at the end of the read. False: the frame is not one for a run, handle it alone.
   */
  private addToRun(buf: Buffer, start: number, end: number): boolean {
    // PUB = u8 kind | u32 id | u8 priority | u16 subject length | subject | payload
    if (end - start < 8 || buf[start + 1]! | buf[start + 2]! | buf[start + 3]! | buf[start + 4]!) return false
    const priority = buf[start + 5]!
    const subjectStart = start + 8
    const subjectLen = (buf[start + 6]! << 8) | buf[start + 7]!
    const payloadStart = subjectStart + subjectLen
    if (subjectLen === 0 || payloadStart > end || end - payloadStart > RUN_PAYLOAD_MAX) return false
    let n = this.runCount
    if (
      n > 0 &&
      (n === RUN_MAX ||
        buf !== this.runBuf ||
        priority !== this.runPriority ||
        this.runBytes + end - payloadStart > RUN_BYTES ||
        subjectLen !== this.runSubjectLen ||
        !bytesEqualAt(buf, this.runSubject, buf, subjectStart, subjectLen))
    ) {
      this.endRun()
      n = 0
    }
    if (n === 0) {
      this.runBuf = buf
      this.runPriority = priority
      this.runSubject = subjectStart
      this.runSubjectLen = subjectLen
      this.runBytes = 0
    }
    this.runOffs[2 * n] = payloadStart
    this.runOffs[2 * n + 1] = end
    this.runFrames[n] = start
    this.runBytes += end - payloadStart
    this.runCount = n + 1
    return true
  }

  /** Hands the run being built to the bus (a single message, or one the bus refuses whole, frame by frame). */
  private endRun(): void {
    const n = this.runCount
    if (n === 0) return
    this.runCount = 0
    const buf = this.runBuf!
    this.runBuf = null
    if (this.closed) return
    const offs = this.runOffs
    if (n > 1) {
      const subject = buf.toString('latin1', this.runSubject, this.runSubject + this.runSubjectLen)
      let p: Promise<void> | null = null
      try {
        p = this.ctx.bus.publishRun(
          subject,
          buf,
          offs.slice(0, 2 * n),
          n,
          { priority: this.runPriority || undefined, from: this.from() },
          this.refusedFn,
        )
      } catch {
        // Not a valid run (the subject, a priority, a size): each frame gets its own answer below.
      }
      if (p !== null) {
        this.track(p, 0)
        return
      }
    }
    for (let i = 0; i < n; i++) this.decodeAndHandle(buf, this.runFrames[i]!, offs[2 * i + 1]!)
  }

  /** The sending agent: the first agent this connection registered, else the router (''). */
  private from(): string {
    for (const name of this.agents.values()) return name
    return ''
  }

  /**
   * A run of messages for subscription `sid`: its MSG frames are written from the run's bytes. While the socket
   * is still writing earlier output and has asked to be waited for (a client reading slower than this router
   * delivers), the run is held as it is and encoded when the socket drains: encoded at once, its frames waited in
   * the socket's queue in a copy of their own (FrameOut.writeTo), and router B of the bus suite allocated a byte
   * per byte it delivered.
   */
  private deliverRun(sid: number, run: Run): void {
    if (this.closed || this.overLimit(run.count)) return
    if (this.holding) {
      // A held run keeps the memory it is a view of (the read that brought it): that is what it costs, whole.
      const bytes = run.buf.buffer.byteLength
      this.held.push({ sid, run, bytes })
      this.heldBytes += bytes
      return
    }
    this.encodeRun(sid, run)
    this.flushSoon()
  }

  private encodeRun(sid: number, run: Run): void {
    const h = run.head
    this.out.msgRun(sid, h.subject, h.srcNode, h.srcAgent, run.buf, run.offs, run.count)
    this.outFrames += run.count
  }

  /** Encodes what was held, in order, behind what is in the output buffer, until that holds `limit` bytes. */
  private encodeHeld(limit: number): void {
    const held = this.held
    let i = this.heldAt
    for (; i < held.length && this.out.length < limit; i++) {
      const h = held[i]!
      held[i] = undefined as never
      this.heldBytes -= h.bytes
      if ('run' in h) this.encodeRun(h.sid, h.run)
      else {
        this.out.write(h.frame)
        this.outFrames++
      }
    }
    if (i === held.length) {
      this.held = []
      this.heldAt = 0
    } else this.heldAt = i
  }

  /**
   * The socket wrote everything it held: what was held meanwhile goes out, a flush's worth at a time, until the
   * socket asks to be waited for again. Encoded all at once, a client far behind made one output of many MB.
   */
  private drained(): void {
    while (!this.closed && this.held.length > this.heldAt && !this.socket.writableNeedDrain) {
      this.encodeHeld(FLUSH_BYTES)
      this.flush()
    }
  }

  /**
   * Whether new output is held: the socket asked to be waited for (a write of it returned false), or output is
   * held already and goes first.
   */
  private get holding(): boolean {
    return this.held.length > 0 || this.socket.writableNeedDrain
  }

  /** Bytes waiting for the client: encoded (here and in the socket) and held. */
  private get queuedBytes(): number {
    return this.out.length + this.socket.writableLength + this.heldBytes
  }

  /**
   * True (and `n` messages dropped) when the client has more unread than maxOutBytes: it is a slow consumer,
   * and disconnected if it stays one for slowConsumerMs.
   */
  private overLimit(n: number): boolean {
    if (this.queuedBytes <= this.ctx.limits.maxOutBytes) return false
    this.ctx.metrics.drop('slow_consumer', n)
    if (this.slowTimer === null) {
      const since = this.ctx.now()
      // Still unread after slowConsumerMs (not even drained to half): the client is gone in all but name.
      this.slowTimer = setTimeout(() => {
        this.slowTimer = null
        if (this.queuedBytes <= this.ctx.limits.maxOutBytes >> 1) return
        this.ctx.metrics.disconnected('SLOW_CONSUMER')
        this.fatal(
          'SLOW_CONSUMER',
          `the client read too little for ${this.ctx.now() - since} ms while messages waited`,
        )
      }, this.ctx.limits.slowConsumerMs)
      this.slowTimer.unref()
    }
    return true
  }

  private deliver(sid: number, env: Envelope, answerable: boolean): void {
    if (this.closed || this.overLimit(1)) return
    let rid = 0
    if (answerable && (env.flags & Flag.REQUEST) !== 0) {
      rid = this.ridSeq = this.ridSeq >= 0xffffffff ? 1 : this.ridSeq + 1
      // Kept without its payload: a view into a link's batch buffer would pin the whole batch.
      this.replies.set(rid, envelopeWith(env, env.seq, env.to, EMPTY))
      if (this.replies.size > this.ctx.limits.maxPendingReplies) {
        const oldest = this.replies.keys().next().value
        if (oldest !== undefined) this.replies.delete(oldest)
        this.ctx.metrics.drop('reply_evicted')
      }
    }
    this.push({
      kind: 'msg',
      sid,
      rid,
      subject: env.subject,
      fromNode: env.srcNode,
      fromAgent: env.srcAgent,
      payload: env.payload,
    })
  }

  private track(p: Promise<void>, id: number): void {
    // Queued at once (the common case): no closures, no promise reaction, no in-flight accounting.
    if (p === SENT) {
      if (id !== 0) this.push({ kind: 'ok', id, payload: EMPTY })
      return
    }
    this.begin()
    p.then(
      () => {
        this.end()
        if (id !== 0) this.push({ kind: 'ok', id, payload: EMPTY })
      },
      (err: unknown) => {
        this.end()
        this.fail(id, err)
      },
    )
  }

  private begin(): void {
    if (++this.inFlight >= this.ctx.limits.maxInFlight) this.hold(HOLD_IN_FLIGHT)
  }

  private end(): void {
    this.inFlight--
    if (this.inFlight <= this.ctx.limits.maxInFlight >> 1) this.release(HOLD_IN_FLIGHT)
  }

  private hold(reason: number): void {
    if (this.holds === 0) this.socket.pause()
    this.holds |= reason
  }

  private release(reason: number): void {
    if ((this.holds & reason) === 0) return
    this.holds &= ~reason
    if (this.holds === 0 && !this.closed) this.socket.resume()
  }

  private fail(id: number, err: unknown): void {
    if (err instanceof BusError) this.error(id, err.code, err.message)
    else if (err instanceof RangeError) this.error(id, 'TOO_LARGE', err.message)
    else this.error(id, 'INTERNAL', String((err as Error)?.message ?? err))
  }

  private error(id: number, code: string, message: string): void {
    this.ctx.metrics.error(code)
    this.push({ kind: 'error', id, code, message })
  }

  private push(f: Frame): void {
    if (this.closed) return
    if (this.holding) {
      // Held behind what waits, in order. A payload is copied: as a view it would keep a whole link batch.
      const payload = 'payload' in f ? f.payload : null
      const frame = payload !== null && payload.length > 0 ? { ...f, payload: Buffer.from(payload) } : f
      const bytes = 64 + (payload?.length ?? 0)
      this.held.push({ frame: frame as Frame, bytes })
      this.heldBytes += bytes
      return
    }
    this.out.write(f)
    this.outFrames++
    this.flushSoon()
  }

  private flushSoon(): void {
    if (this.out.length >= FLUSH_BYTES) this.flush()
    else if (!this.flushing) {
      // At the end of the read that brought it (a lane's chunk, this client's), else after this event-loop
      // turn's I/O (os/turn.ts): every link batch (or data chunk) goes in one write. Not a microtask: one UDX
      // read turn completes several link batches, each in its own microtask drain, and a write per batch wakes
      // the client (often preempting us) several times per turn. A lone message still goes out in the turn it
      // arrived in.
      this.flushing = true
      deferToTurnEnd(this.flushFn)
    }
  }

  private flush(): void {
    this.flushing = false
    if (this.closed || this.out.length === 0) return
    this.ctx.metrics.framesOut(this.outFrames)
    this.outFrames = 0
    this.out.writeTo(this.sink)
  }

  /** Sends a last ERROR frame and closes the connection. */
  private fatal(code: string, message: string): void {
    if (this.closed) return
    this.ctx.metrics.error(code)
    this.out.write({ kind: 'error', id: 0, code, message })
    this.flush()
    this.socket.end()
    // A client that does not read cannot take the goodbye either; do not wait for it.
    setTimeout(() => this.socket.destroy(), 1000).unref()
    this.close()
  }

  /** Releases everything the connection holds; safe to call more than once. */
  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.slowTimer !== null) clearTimeout(this.slowTimer)
    for (const s of this.subs.values()) s.sub.unsubscribe()
    this.subs.clear()
    for (const name of this.agents.values()) this.ctx.directory.unregister(name)
    this.agents.clear()
    this.replies.clear()
    this.held = []
    this.heldAt = 0
    this.heldBytes = 0
    this.ctx.metrics.closed()
    if (!this.socket.destroyed && this.socket.writableLength === 0) this.socket.end()
  }
}
