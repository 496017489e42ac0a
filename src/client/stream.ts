// The bus stream session of the typed client: one long-lived connection to the daemon's socket (upgraded to
// `blackroad-bus/1`, frames in src/agents/frames.ts) carrying publishes, subscriptions, requests, replies and
// agent registrations both ways. Writes are coalesced into one socket write per event-loop turn.
//
//   const s = await client.connect()
//   s.publish('jobs.new', 'hello')                                  // fire and forget, at high rates
//   for await (const m of s.subscribe('jobs.>')) ...                // messages as they arrive
//   s.respond('math.double', (m) => String(Number(m.text()) * 2))   // answer requests from anywhere
//   const reply = await s.request('math.double', '21')
//   const me = await s.register({ name: 'worker-1', type: 'worker' })
//   for await (const m of me) ...                                   // messages sent to worker-1
//   await s.send('worker-1', 'job 7')                               // direct to an agent, by name or node/agent
//
// Flow control: when the daemon's side is slow, the socket buffer fills and `publish` keeps buffering in the
// process; callers that publish in a loop await `drain()` when `needsDrain` is true. When a subscription's
// consumer falls behind (more than `maxQueued` messages waiting in it), the session stops reading the
// socket, so the daemon sees a slow consumer (and drops for it, counted) instead of this process growing.

import net from 'node:net'
import {
  decodeFrame,
  type Frame,
  FrameOut,
  FrameSplitter,
  Kind,
  PROTOCOL,
  STREAM_PATH,
} from '../agents/frames.js'
import { bytesEqualAt } from '../wire/index.js'

export class StreamError extends Error {
  override readonly name = 'StreamError'

  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export interface StreamMessage {
  readonly subject: string
  readonly fromNode: string
  readonly fromAgent: string
  readonly data: Uint8Array
  /** True when the sender waits for a reply (answer with respond / respondError). */
  readonly isRequest: boolean
  text(): string
  respond(data: Uint8Array | string): void
  respondError(code: string, reason: string): void
}

export interface AgentRegistration {
  name: string
  type: string
  labels?: Record<string, string>
  capabilities?: string[]
}

export interface StreamOptions {
  /** Messages a subscription may hold unread before the session stops reading the socket. Default 10,000. */
  maxQueued?: number
  /** Bytes buffered for the socket beyond which `needsDrain` is true. Default 4 MiB. */
  highWaterBytes?: number
  connectTimeoutMs?: number
}

type Data = Uint8Array | string
const toBytes = (d: Data): Uint8Array => (typeof d === 'string' ? Buffer.from(d, 'utf8') : d)
const EMPTY = new Uint8Array(0)

/** One delivered message; a class (not closures) because it is made once per message on the hot path. */
class Message implements StreamMessage {
  private answered = false

  constructor(
    private readonly session: BusStream,
    readonly subject: string,
    readonly fromNode: string,
    readonly fromAgent: string,
    readonly data: Uint8Array,
    private readonly rid: number,
  ) {}

  get isRequest(): boolean {
    return this.rid !== 0
  }

  text(): string {
    const d = this.data
    return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('utf8')
  }

  respond(data: Data): void {
    if (this.answered || this.rid === 0) return
    this.answered = true
    this.session.answer({ kind: 'reply', rid: this.rid, error: false, payload: toBytes(data) })
  }

  respondError(code: string, reason: string): void {
    if (this.answered || this.rid === 0) return
    this.answered = true
    this.session.answer({
      kind: 'reply',
      rid: this.rid,
      error: true,
      payload: Buffer.from(`${code} ${reason}`, 'latin1'),
    })
  }
}

/** A stream of messages (a subscription, or an agent's inbox) that is also an async iterable. */
export class Inbox implements AsyncIterable<StreamMessage> {
  private readonly queue: StreamMessage[] = []
  private head = 0
  private waiter: ((r: IteratorResult<StreamMessage>) => void) | null = null
  private failWaiter: ((err: StreamError) => void) | null = null
  private ended: StreamError | null | undefined = undefined
  callback: ((m: StreamMessage) => void) | null = null

  constructor(
    readonly id: number,
    private readonly onUnsubscribe: () => void,
    private readonly onBacklog: (queued: number) => void,
  ) {}

  get queued(): number {
    return this.queue.length - this.head
  }

  /** @internal */
  put(m: StreamMessage): void {
    if (this.callback !== null) {
      this.callback(m)
      return
    }
    if (this.waiter !== null) {
      const w = this.waiter
      this.waiter = null
      w({ value: m, done: false })
      return
    }
    this.queue.push(m)
    this.onBacklog(this.queue.length - this.head)
  }

  /** @internal Ends the iteration (err: the session failed). */
  finish(err: StreamError | null): void {
    if (this.ended !== undefined) return
    this.ended = err
    if (this.waiter !== null) {
      const w = this.waiter
      const f = this.failWaiter
      this.waiter = null
      this.failWaiter = null
      if (err !== null && f !== null) f(err)
      else w({ value: undefined, done: true })
    }
  }

  /** Stops the subscription (or unregisters the agent). */
  unsubscribe(): void {
    if (this.ended === undefined) this.onUnsubscribe()
    this.finish(null)
  }

  next(): Promise<IteratorResult<StreamMessage>> {
    if (this.head < this.queue.length) {
      const m = this.queue[this.head]!
      this.queue[this.head++] = undefined as unknown as StreamMessage
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head)
        this.head = 0
      }
      this.onBacklog(this.queue.length - this.head)
      return Promise.resolve({ value: m, done: false })
    }
    if (this.ended !== undefined) {
      if (this.ended !== null) return Promise.reject(this.ended)
      return Promise.resolve({ value: undefined, done: true })
    }
    return new Promise((resolve, reject) => {
      this.waiter = resolve
      this.failWaiter = reject
    })
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamMessage> {
    return {
      next: () => this.next(),
      return: () => {
        this.unsubscribe()
        return Promise.resolve({ value: undefined, done: true })
      },
    }
  }
}

/** A registered agent: its mesh address and its inbox. */
export class AgentHandle extends Inbox {
  node = ''
  name = ''
  dns = ''

  /** The bus address `node/name` other agents send to. */
  get address(): string {
    return `${this.node}/${this.name}`
  }
}

interface Pending {
  resolve: (payload: Uint8Array) => void
  reject: (err: StreamError) => void
}

/** The stream's read buffer (see connect): a read takes at most this much of what the socket holds. */
const READ_BUFFER_BYTES = 64 * 1024

export class BusStream {
  private readonly out = new FrameOut()
  private scheduled = false
  private readonly splitter = new FrameSplitter()
  private readonly pending = new Map<number, Pending>()
  private readonly inboxes = new Map<number, Inbox>()
  private readonly agentIds = new Map<number, AgentHandle>()
  private nextId = 1
  private closedWith: StreamError | null = null
  private readingPaused = false
  private readonly maxQueued: number
  private readonly highWater: number
  private readonly drainWaiters: Array<() => void> = []
  /** ERROR frames about the connection itself (id 0) the daemon sent, newest last (at most 100 kept). */
  readonly notices: StreamError[] = []

  private constructor(
    private readonly socket: net.Socket,
    opts: StreamOptions,
  ) {
    this.maxQueued = opts.maxQueued ?? 10_000
    this.highWater = opts.highWaterBytes ?? 4 * 1024 * 1024
    socket.on('drain', () => this.wakeDrain())
    socket.on('close', () => this.fail(new StreamError('CLOSED', 'the connection to the daemon closed')))
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(new StreamError('TRANSPORT', err.message)))
  }

  /** Connects to the daemon at `socketPath` and upgrades the connection to the bus stream protocol. */
  static connect(socketPath: string, opts: StreamOptions = {}): Promise<BusStream> {
    return new Promise((resolve, reject) => {
      // Reads land in one buffer of ours and go straight to `onBytes` (the upgrade answer's parser, then the
      // stream's frame splitter), not through the socket's Readable (push, 'data', a nextTick per read): a
      // round trip is two reads on the clients' side. Each read is copied out of the buffer (the next read
      // overwrites it; frames and messages keep slices of what they were given).
      let onBytes: (chunk: Buffer) => void = () => {}
      const socket = net.connect({
        path: socketPath,
        onread: {
          buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
          // true: keep reading (the stream pauses the socket itself when an inbox backs up, see backlog).
          callback: (n: number, buf: Uint8Array) => {
            onBytes(Buffer.from(buf.subarray(0, n)))
            return true
          },
        },
      })
      let head = Buffer.alloc(0)
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new StreamError('TIMEOUT', `no answer from the daemon at ${socketPath}`))
      }, opts.connectTimeoutMs ?? 10_000)
      const onError = (err: NodeJS.ErrnoException) => {
        clearTimeout(timer)
        const code = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'DAEMON_NOT_RUNNING' : 'TRANSPORT'
        reject(new StreamError(code, `cannot connect to ${socketPath}: ${err.message}`))
      }
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk])
        const end = head.indexOf('\r\n\r\n')
        if (end < 0) {
          if (head.length > 16 * 1024) onError(Object.assign(new Error('oversized upgrade answer'), {}))
          return
        }
        clearTimeout(timer)
        onBytes = () => {}
        socket.off('error', onError)
        const text = head.subarray(0, end).toString('latin1')
        if (!/^HTTP\/1\.1 101 /.test(text)) {
          const body = head.subarray(end + 4).toString('utf8')
          let err = { code: 'UPGRADE_REFUSED', message: text.split('\r\n')[0] ?? '' }
          try {
            err = (JSON.parse(body) as { error: typeof err }).error ?? err
          } catch {}
          socket.destroy()
          reject(new StreamError(err.code, err.message))
          return
        }
        socket.setNoDelay(true)
        const s = new BusStream(socket, opts)
        onBytes = (chunk) => s.data(chunk)
        const rest = head.subarray(end + 4)
        if (rest.length > 0) s.data(rest)
        resolve(s)
      }
      onBytes = onData
      socket.on('error', onError)
      socket.on('connect', () => {
        socket.write(
          `GET ${STREAM_PATH} HTTP/1.1\r\nhost: blackroad\r\nconnection: Upgrade\r\nupgrade: ${PROTOCOL}\r\n\r\n`,
        )
      })
    })
  }

  /** Bytes buffered for the daemon (here and in the socket). */
  get buffered(): number {
    return this.out.length + this.socket.writableLength
  }

  /** True when the caller should `await drain()` before publishing more. */
  get needsDrain(): boolean {
    return this.buffered > this.highWater
  }

  /** Resolves when the buffered bytes are below the high-water mark (at once if they are). */
  drain(): Promise<void> {
    if (!this.needsDrain || this.closedWith !== null) return Promise.resolve()
    this.flush()
    return new Promise((resolve) => this.drainWaiters.push(resolve))
  }

  /** Publishes on a subject; fire and forget (errors arrive in `notices`). Use publishAck to wait. */
  publish(subject: string, data: Data = EMPTY, opts: { priority?: number } = {}): void {
    if (this.closedWith !== null) throw this.closedWith
    this.out.pub(0, opts.priority ?? 0, subject, toBytes(data))
    this.written()
  }

  /** Publishes and resolves once the daemon took the message (queued on every link it needs). */
  publishAck(subject: string, data: Data = EMPTY, opts: { priority?: number } = {}): Promise<void> {
    const id = this.id()
    const p = this.expect(id)
    this.write({ kind: 'pub', id, priority: opts.priority ?? 0, subject, payload: toBytes(data) })
    return p.then(() => undefined)
  }

  /**
   * Sends to one agent, by name (resolved across the mesh) or `node/agent`; resolves once its node delivered
   * it, and fails with UNKNOWN_AGENT / NO_RESPONDERS when there is no such agent.
   */
  send(to: string, data: Data = EMPTY, opts: { subject?: string; priority?: number } = {}): Promise<void> {
    const id = this.id()
    const p = this.expect(id)
    this.write({
      kind: 'send',
      id,
      priority: opts.priority ?? 0,
      to,
      subject: opts.subject ?? '',
      payload: toBytes(data),
    })
    return p.then(() => undefined)
  }

  /** Sends to an agent without waiting for delivery (fastest; errors arrive in `notices`). */
  sendNoAck(to: string, data: Data = EMPTY, opts: { subject?: string } = {}): void {
    this.write({ kind: 'send', id: 0, priority: 0, to, subject: opts.subject ?? '', payload: toBytes(data) })
  }

  /**
   * A request to a subject (first reply wins), or with `to` to one agent; resolves with the reply's bytes.
   * Fails with TIMEOUT, NO_RESPONDERS, or the responder's own error code.
   */
  async request(
    subject: string,
    data: Data = EMPTY,
    opts: { timeoutMs?: number; to?: string } = {},
  ): Promise<Uint8Array> {
    const id = this.id()
    const p = this.expect(id)
    this.write({
      kind: 'req',
      id,
      timeoutMs: opts.timeoutMs ?? 5000,
      to: opts.to ?? '',
      subject,
      payload: toBytes(data),
    })
    return p
  }

  /** Messages on subjects matching `pattern`. Pass `callback` to be called instead of iterating. */
  subscribe(pattern: string, callback?: (m: StreamMessage) => void): Inbox {
    return this.sub(pattern, false, callback ?? null)
  }

  /** Answers requests on `pattern` with what `handler` returns (an Error or a rejection answers an error). */
  respond(pattern: string, handler: (m: StreamMessage) => Data | Promise<Data>): Inbox {
    return this.sub(pattern, true, (m) => {
      if (!m.isRequest) return
      try {
        const r = handler(m)
        if (r instanceof Promise)
          r.then(
            (d) => m.respond(d),
            (err: unknown) => m.respondError('RESPONDER_ERROR', String((err as Error)?.message ?? err)),
          )
        else m.respond(r)
      } catch (err) {
        m.respondError('RESPONDER_ERROR', String((err as Error)?.message ?? err))
      }
    })
  }

  /** Resolves once the daemon acknowledged the subscription (its interest is then being announced). */
  async subscribed(inbox: Inbox): Promise<void> {
    await this.expect(inbox.id, true)
  }

  /**
   * Registers an agent on this node. Messages sent to it (by name or address, from anywhere in the mesh)
   * arrive in the returned handle; it is unregistered by `unsubscribe()` or when the connection closes.
   */
  async register(reg: AgentRegistration, callback?: (m: StreamMessage) => void): Promise<AgentHandle> {
    const id = this.id()
    const handle = new AgentHandle(
      id,
      () => {
        this.inboxes.delete(id)
        this.write({ kind: 'unregister', id: this.id(), name: reg.name })
      },
      (q) => this.backlog(q),
    )
    if (callback) handle.callback = callback
    this.inboxes.set(id, handle)
    this.agentIds.set(id, handle)
    const p = this.expect(id)
    this.write({
      kind: 'register',
      id,
      name: reg.name,
      type: reg.type,
      labels: Object.entries(reg.labels ?? {}),
      capabilities: reg.capabilities ?? [],
    })
    try {
      await p
    } catch (err) {
      this.inboxes.delete(id)
      this.agentIds.delete(id)
      throw err
    }
    return handle
  }

  /** Round trip to the daemon: everything written before it has been processed when this resolves. */
  async flush(): Promise<void> {
    if (this.closedWith !== null) throw this.closedWith
    const id = this.id()
    const p = this.expect(id)
    this.write({ kind: 'ping', id })
    await p
  }

  close(): void {
    this.flushNow()
    this.socket.end()
    this.fail(new StreamError('CLOSED', 'the session was closed'))
  }

  get closed(): boolean {
    return this.closedWith !== null
  }

  // ---- internals ----------------------------------------------------------------------------------

  private sub(pattern: string, responder: boolean, callback: ((m: StreamMessage) => void) | null): Inbox {
    const sid = this.id()
    const inbox = new Inbox(
      sid,
      () => {
        this.inboxes.delete(sid)
        this.write({ kind: 'unsub', sid })
      },
      (q) => this.backlog(q),
    )
    inbox.callback = callback
    this.inboxes.set(sid, inbox)
    // The daemon acks a SUB with OK (or refuses it with ERROR); a refusal ends the inbox with that error.
    this.expect(sid, true).catch((err: StreamError) => {
      this.inboxes.delete(sid)
      inbox.finish(err)
    })
    this.write({ kind: 'sub', sid, responder, pattern })
    return inbox
  }

  private id(): number {
    const id = this.nextId
    this.nextId = id >= 0xfffffff0 ? 1 : id + 1
    return id
  }

  private readonly subAcks = new Map<number, Promise<Uint8Array>>()

  private expect(id: number, shared = false): Promise<Uint8Array> {
    if (shared) {
      const known = this.subAcks.get(id)
      if (known) return known
    }
    if (this.closedWith !== null) return Promise.reject(this.closedWith)
    const p = new Promise<Uint8Array>((resolve, reject) => this.pending.set(id, { resolve, reject }))
    if (shared) {
      this.subAcks.set(id, p)
      p.then(
        () => this.subAcks.delete(id),
        () => this.subAcks.delete(id),
      )
    }
    return p
  }

  private write(f: Frame): void {
    if (this.closedWith !== null) throw this.closedWith
    this.out.write(f)
    this.written()
  }

  /** After a frame was appended: flush now past 256 KiB, else once the caller's synchronous code is done. */
  private written(): void {
    if (this.out.length >= 256 * 1024) this.flushNow()
    else if (!this.scheduled) {
      this.scheduled = true
      queueMicrotask(this.flushFn)
    }
  }

  private readonly flushFn = () => this.flushNow()

  private flushNow(): void {
    this.scheduled = false
    if (this.out.length === 0 || this.socket.destroyed) return
    this.out.writeTo(this.socket)
  }

  private wakeDrain(): void {
    if (this.needsDrain) return
    for (const w of this.drainWaiters.splice(0)) w()
  }

  private readonly each = (buf: Buffer, start: number, end: number) => {
    if (buf[start] === Kind.MSG && this.sameHead(buf, start, end)) return
    const f = decodeFrame(buf, start, end)
    if (f.kind === 'msg') this.rememberHead(buf, start, end, f)
    this.frame(f)
  }

  // A MSG frame's bytes after its kind, sid and rid up to its payload (subject, from node, from agent) as in
  // the last MSG frame decoded, and the strings they held: messages of one publisher come frame after frame
  // with the same three, and a frame that repeats them needs only its ids and payload read.
  private head: Buffer = Buffer.alloc(0)
  private headStrings: [string, string, string] = ['', '', '']

  /** Handles a MSG frame whose head repeats the last one's; false: decode it in full. */
  private sameHead(buf: Buffer, start: number, end: number): boolean {
    const h = this.head
    const n = h.length
    const at = start + 9
    if (n === 0 || end - at < n || !bytesEqualAt(buf, at, h, 0, n)) return false
    const inbox = this.inboxes.get(buf.readUInt32BE(start + 1))
    if (inbox === undefined) return true
    const [subject, fromNode, fromAgent] = this.headStrings
    const payload = new Uint8Array(buf.buffer, buf.byteOffset + at + n, end - at - n)
    inbox.put(new Message(this, subject, fromNode, fromAgent, payload, buf.readUInt32BE(start + 5)))
    return true
  }

  private rememberHead(buf: Buffer, start: number, end: number, f: Extract<Frame, { kind: 'msg' }>): void {
    const n = end - start - 9 - f.payload.length
    const h = this.head
    if (h.length === n && bytesEqualAt(buf, start + 9, h, 0, n)) return
    this.head = Buffer.from(buf.subarray(start + 9, start + 9 + n))
    this.headStrings = [f.subject, f.fromNode, f.fromAgent]
  }

  private data(chunk: Buffer): void {
    try {
      this.splitter.push(chunk, this.each)
    } catch (err) {
      this.socket.destroy()
      this.fail(
        new StreamError('BAD_FRAME', `the daemon sent an unreadable frame: ${(err as Error).message}`),
      )
    }
  }

  private frame(f: Frame): void {
    switch (f.kind) {
      case 'msg': {
        const inbox = this.inboxes.get(f.sid)
        if (inbox !== undefined) inbox.put(this.message(f))
        return
      }
      case 'ok':
        this.settle(f.id, null, f.payload)
        return
      case 'pong':
        this.settle(f.id, null, EMPTY)
        return
      case 'registered': {
        const h = this.agentIds.get(f.id)
        if (h !== undefined) {
          h.node = f.node
          h.name = f.agent
          h.dns = f.dns
        }
        this.settle(f.id, null, EMPTY)
        return
      }
      case 'error': {
        const err = new StreamError(f.code, f.message)
        if (f.id === 0 || !this.pending.has(f.id)) {
          this.notices.push(err)
          if (this.notices.length > 100) this.notices.shift()
          return
        }
        this.settle(f.id, err, EMPTY)
        return
      }
      default:
        return
    }
  }

  private settle(id: number, err: StreamError | null, payload: Uint8Array): void {
    const p = this.pending.get(id)
    if (p === undefined) return
    this.pending.delete(id)
    if (err !== null) p.reject(err)
    else p.resolve(payload.length === 0 ? EMPTY : Uint8Array.prototype.slice.call(payload))
  }

  private message(f: Extract<Frame, { kind: 'msg' }>): StreamMessage {
    return new Message(this, f.subject, f.fromNode, f.fromAgent, f.payload, f.rid)
  }

  /** @internal A reply frame from a Message. */
  answer(frame: Frame): void {
    if (this.closedWith === null) this.write(frame)
  }

  /** Stops reading the socket while any inbox holds more than maxQueued unread messages. */
  private backlog(queued: number): void {
    if (!this.readingPaused && queued <= this.maxQueued) return
    let over = false
    for (const i of this.inboxes.values()) {
      if (i.queued > this.maxQueued) {
        over = true
        break
      }
    }
    if (over && !this.readingPaused) {
      this.readingPaused = true
      this.socket.pause()
    } else if (!over && this.readingPaused) {
      this.readingPaused = false
      this.socket.resume()
    }
  }

  private fail(err: StreamError): void {
    if (this.closedWith !== null) return
    this.closedWith = err
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
    for (const i of this.inboxes.values()) i.finish(err.code === 'CLOSED' ? null : err)
    this.inboxes.clear()
    for (const w of this.drainWaiters.splice(0)) w()
  }
}
