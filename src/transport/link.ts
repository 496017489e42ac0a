// A peer link: one authenticated, framed, multiplexed connection to another router, over one encrypted
// connection from discovery. The Noise handshake already proved the peer holds the private half of
// `remotePublicKey`; the link adds the federation's word that this key is one of its nodes: both sides send
// their node certificate first (HELLO), and a side keeps the link only if the peer's certificate verifies
// against the federation root, is inside its validity window, is not revoked, and certifies that same
// Noise key. Then named channels carry messages (frames.ts), with a frame-size limit, write backpressure
// and a keepalive, and datagrams carry what would rather be lost than late (routing probes). Anything
// malformed on the stream closes this link only, with a counted reason; a bad datagram is dropped and counted.
//
// Alive, for this link, means: something authenticated arrived from the peer (a frame or a datagram) within
// deadAfterMs. The keepalive PING goes out only when nothing else arrived within an interval, so the
// routing probes' datagrams keep an idle link alive without stream traffic, and the connection's own
// keepalive (secret-stream's empty messages) is turned off for the same reason. Datagrams that overtake the
// handshake's last frame are kept (a few) and delivered when the link comes up. Whether the link is good
// enough to route over is the routing layer's question, answered by datagrams alone (src/routing/probe.ts):
// a link whose datagrams are lost stays up here but goes down in routing.
//
// Lanes (lane.ts): a link may get a TCP lane beside it, and then its bulk channels (the bus) travel there;
// control, routing and liveness stay on the link, and the lane goes when the link goes.

import { EventEmitter } from 'node:events'
import pino, { type Logger } from 'pino'
import type { NodeCertificate } from '../identity/index.js'
import { DecodeError } from '../wire/index.js'
import { Channel } from './channel.js'
import { LinkError, type LinkReason } from './errors.js'
import {
  CHANNEL_NAME,
  copyFill,
  DEFAULT_MAX_FRAME_BYTES,
  dataFrameHead,
  decodeFrame,
  encodeFrame,
  type Frame,
  frameFilled,
  LINK_VERSION,
  MAX_DATAGRAM_BYTES,
  MAX_FRAME_LIMIT,
  MIN_FRAME_LIMIT,
} from './frames.js'
import {
  decodeLaneControl,
  encodeLaneControl,
  LANE_CHANNEL,
  LANE_DROPPED_BY_PEER,
  Lane,
  type LaneConnection,
} from './lane.js'
import { checkPeerCertificate } from './trust.js'
import {
  DEFAULT_CHANNELS,
  type Link,
  type LinkCloseInfo,
  type LinkState,
  NOT_A_REFUSAL,
  type PeerLinkEvents,
  type PeerLinkOptions,
  type RawConnection,
} from './types.js'

const monotonic = () => performance.now()
/** How long a closing side waits for its CLOSE frame to flush before destroying the stream. */
const CLOSE_GRACE_MS = 1000
/** Channels that move to a TCP lane when the link has one: the bulk traffic. */
const LANE_CHANNELS: ReadonlySet<string> = new Set(['bus'])
/** Datagrams kept while the handshake completes (the peer's first probe burst); more are dropped and counted. */
const MAX_EARLY_DATAGRAMS = 8
/** Reasons after which there is nobody to tell. */
const SILENT: ReadonlySet<LinkReason> = new Set([
  'connection_lost',
  'remote_closed',
  'remote_rejected',
  'keepalive_timeout',
])

export class PeerLink extends EventEmitter<PeerLinkEvents> implements Link {
  readonly remotePublicKey: Buffer
  readonly isInitiator: boolean
  state: LinkState = 'handshaking'
  /** The peer's verified certificate (set once its HELLO verified). */
  peerCertificate: NodeCertificate | null = null
  closeReason: LinkReason | null = null
  /** Round-trip time of the last answered keepalive, ms (keepalives go out only while nothing else arrives). */
  rttMs: number | null = null
  private readonly maxFrameBytes: number
  private readonly keepAliveIntervalMs: number
  private readonly deadAfterMs: number
  private readonly channels: Set<string>
  private readonly channelObjects = new Map<string, Channel>()
  private readonly log: Logger
  private readonly now: () => number
  private remoteMaxFrameBytes = MIN_FRAME_LIMIT
  private helloSeen = false
  private remoteReady = false
  private lastReceived = monotonic()
  /** Last channel data or datagram (not keepalives): recent traffic makes a PING unnecessary. */
  private lastTraffic = Number.NEGATIVE_INFINITY
  private helloTimer: NodeJS.Timeout | null
  private keepAliveTimer: NodeJS.Timeout | null = null
  private destroyTimer: NodeJS.Timeout | null = null
  private pingNonce = 0
  private pingSentAt = 0
  private needDrain = false
  /** Datagrams that arrived during the handshake, delivered once the link is up. */
  private early: Uint8Array[] = []
  private drainWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = []
  /** checkAlive() callers waiting for anything from the peer. */
  private readonly heardWaiters = new Set<() => void>()
  private lane: Lane | null = null
  /** The lane the peer's SWITCH named before this end attached it (the dialer hears it before ACCEPT). */
  private peerSwitchedTo: string | null = null
  private offeredLanePort: number | null = null
  private readonly connClosed: Promise<void>
  private markConnClosed: () => void = () => {}

  constructor(
    readonly conn: RawConnection,
    private readonly opts: PeerLinkOptions,
  ) {
    super()
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    this.keepAliveIntervalMs = opts.keepAliveIntervalMs ?? 1000
    this.deadAfterMs = opts.deadAfterMs ?? 5000
    const helloTimeoutMs = opts.helloTimeoutMs ?? 10_000
    if (
      !Number.isInteger(this.maxFrameBytes) ||
      this.maxFrameBytes < MIN_FRAME_LIMIT ||
      this.maxFrameBytes > MAX_FRAME_LIMIT
    ) {
      throw new LinkError('INVALID_OPTIONS', `maxFrameBytes must be ${MIN_FRAME_LIMIT}..${MAX_FRAME_LIMIT}`)
    }
    if (
      !(this.keepAliveIntervalMs > 0 && this.deadAfterMs > this.keepAliveIntervalMs && helloTimeoutMs > 0)
    ) {
      throw new LinkError(
        'INVALID_OPTIONS',
        'need keepAliveIntervalMs > 0, deadAfterMs > keepAliveIntervalMs, helloTimeoutMs > 0',
      )
    }
    this.channels = new Set()
    for (const name of opts.channels ?? DEFAULT_CHANNELS) this.addChannel(name)
    this.remotePublicKey = Buffer.from(conn.remotePublicKey)
    this.isInitiator = conn.isInitiator
    this.now = opts.now ?? Date.now
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({
      peer_key: this.remotePublicKey.toString('hex').slice(0, 16),
    })

    conn.on('data', (data) => this.onData(data))
    conn.on('message', (data) => this.onDatagram(data))
    // Our keepalive (and the routing probes' datagrams) keep the connection busy enough; see the header.
    conn.setKeepAlive?.(0)
    conn.on('drain', () => this.onDrain())
    conn.on('error', (err) => this.log.debug({ err: err.message }, 'peer connection error'))
    conn.on('end', () => this.shutdown('connection_lost', false))
    this.connClosed = new Promise((resolve) => {
      this.markConnClosed = resolve
    })
    conn.on('close', () => {
      if (this.destroyTimer) clearTimeout(this.destroyTimer)
      this.destroyTimer = null
      this.shutdown('connection_lost', false)
      this.markConnClosed()
    })
    this.helloTimer = setTimeout(() => this.shutdown('hello_timeout', true), helloTimeoutMs)
    this.write({
      type: 'hello',
      version: LINK_VERSION,
      certificate: opts.certificate,
      maxFrameBytes: this.maxFrameBytes,
    })
    if (conn.destroyed) {
      // Its 'close' may have fired already; do not wait for one.
      queueMicrotask(() => {
        this.shutdown('connection_lost', false)
        this.markConnClosed()
      })
    }
  }

  /** The peer's node id, from its verified certificate. */
  get peerId(): string | null {
    return this.peerCertificate?.nodeId ?? null
  }

  /** The underlay address this connection uses (for WireGuard endpoints); a relayed link shows the relay. */
  get remoteAddress(): { host: string; port: number } | null {
    const raw = this.conn.rawStream
    return raw?.remoteHost && raw.remotePort ? { host: raw.remoteHost, port: raw.remotePort } : null
  }

  /** Milliseconds since anything arrived on this link. */
  get silentForMs(): number {
    return monotonic() - this.lastReceived
  }

  /** Resolves with the peer's certificate when the link is up; rejects LINK_REJECTED if it never comes up. */
  whenUp(): Promise<NodeCertificate> {
    if (this.state === 'up' && this.peerCertificate) return Promise.resolve(this.peerCertificate)
    if (this.state === 'closed') return Promise.reject(this.closedError('LINK_REJECTED'))
    return new Promise((resolve, reject) => {
      const onUp = (cert: NodeCertificate) => {
        this.off('close', onClose)
        resolve(cert)
      }
      const onClose = () => {
        this.off('up', onUp)
        reject(this.closedError('LINK_REJECTED'))
      }
      this.once('up', onUp)
      this.once('close', onClose)
    })
  }

  /** Registers a channel name on this link (sending and accepting) and returns its handle. */
  channel(name: string): Channel {
    this.addChannel(name)
    let ch = this.channelObjects.get(name)
    if (!ch) {
      ch = new Channel(this, name)
      this.channelObjects.set(name, ch)
    }
    return ch
  }

  addChannel(name: string): void {
    if (!CHANNEL_NAME.test(name)) throw new LinkError('INVALID_CHANNEL', `invalid channel name "${name}"`)
    this.channels.add(name)
  }

  /**
   * Sends one message on a channel. Returns false when the connection's write buffer is full: the message
   * is queued, and the caller should await drained() before sending more. Throws LinkError when the link
   * is not up, the channel is unknown, or the frame exceeds the peer's limit.
   */
  send(channel: string, payload: Uint8Array): boolean {
    return this.sendWith(channel, payload.length, payload.length, copyFill(payload))
  }

  /**
   * As send, for a payload of `n` bytes that `fill` writes at `out[at]` (with up to `room` bytes there as its
   * working space). On a lane's direct path the payload is written where it is sealed: a bus frame of a
   * router's throughput is built in the sealing buffer instead of a buffer of its own per frame.
   */
  sendWith(channel: string, n: number, room: number, fill: (out: Buffer, at: number) => void): boolean {
    if (this.state !== 'up') {
      throw this.state === 'closed'
        ? this.closedError('LINK_CLOSED')
        : new LinkError('NOT_READY', 'link is not up yet')
    }
    if (!this.channels.has(channel))
      throw new LinkError('UNKNOWN_CHANNEL', `channel "${channel}" is not registered`)
    const head = dataFrameHead(channel)
    const size = head.length + n
    if (size > this.remoteMaxFrameBytes) {
      throw new LinkError(
        'FRAME_TOO_LARGE',
        `frame of ${size} bytes exceeds the peer's limit of ${this.remoteMaxFrameBytes}`,
      )
    }
    if (this.lane !== null && LANE_CHANNELS.has(channel)) {
      const ok = this.lane.writeData(head, n, room, fill)
      if (!ok) this.needDrain = true
      return ok
    }
    // The head already holds the encoded type and channel: the frame is it and the payload.
    return this.write(frameFilled(head, n, room, fill))
  }

  /** The TCP port the peer offered for a lane (null: none, e.g. an older peer or lanes off there). */
  get peerLanePort(): number | null {
    return this.offeredLanePort
  }

  /** Whether the bulk channels travel on a TCP lane now. */
  get hasLane(): boolean {
    return this.lane !== null
  }

  /** Whether the lane's frames go straight to and from its socket both ways (lane-direct.ts). */
  get laneDirect(): boolean {
    return this.lane?.isDirect ?? false
  }

  /** Tells the peer that this end could not reach its lane port: the peer dials this end's from now on. */
  askLaneReverse(): void {
    if (this.state === 'up') this.sendLaneControl(encodeLaneControl({ op: 'reverse' }))
  }

  /** Tells the peer this end accepts a TCP lane on `port` (lane.ts, step 1). */
  offerLane(port: number): void {
    if (this.state === 'up') this.sendLaneControl(encodeLaneControl({ op: 'offer', port }))
  }

  /**
   * Attaches a TCP lane (dialled or accepted for this link) and moves the bulk channels to it after telling
   * the peer (SWITCH). False when the link is not up or has a lane already: the caller closes the lane.
   */
  attachLane(conn: LaneConnection, dialled: boolean): boolean {
    if (this.state !== 'up' || this.lane !== null) return false
    const lane = new Lane(
      conn,
      {
        maxFrameBytes: this.maxFrameBytes,
        deliver: (channel, payload) => this.deliver(channel, payload),
        heard: () => this.trafficArrived(),
        drained: () => this.onDrain(),
        lost: (l, reason) => this.laneLost(l, reason),
      },
      dialled,
    )
    this.lane = lane
    this.opts.metrics.lanesUp.inc()
    if (this.peerSwitchedTo === lane.id) lane.peerSwitched()
    this.peerSwitchedTo = null
    // Everything written on the link before this SWITCH is delivered before anything sent on the lane.
    this.sendLaneControl(encodeLaneControl({ op: 'switch', id: lane.id }))
    this.log.info({ peer: this.peerId, dialled }, 'TCP lane up: bulk channels move to it')
    this.emit('lane', true, null)
    return true
  }

  private sendLaneControl(payload: Uint8Array): void {
    this.write(encodeFrame({ type: 'data', channel: LANE_CHANNEL, payload }))
  }

  private onLaneControl(payload: Uint8Array): void {
    let c: ReturnType<typeof decodeLaneControl>
    try {
      c = decodeLaneControl(payload)
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err
      this.opts.metrics.dropped.inc({ reason: 'malformed_lane_control' })
      return
    }
    if (c.op === 'offer') {
      this.offeredLanePort = c.port
      this.emit('lane-offer', c.port)
    } else if (c.op === 'reverse') {
      this.emit('lane-reverse')
    } else if (c.op === 'drop') {
      if (this.lane?.id === c.id) this.lane.close(LANE_DROPPED_BY_PEER)
    } else if (this.lane?.id === c.id) this.lane.peerSwitched()
    else this.peerSwitchedTo = c.id
  }

  private laneLost(lane: Lane, reason: string): void {
    if (this.lane !== lane) return
    this.lane = null
    this.opts.metrics.lanesUp.dec()
    this.opts.metrics.lanesClosed.inc({ reason })
    if (this.state !== 'up') return
    if (reason !== LANE_DROPPED_BY_PEER) this.sendLaneControl(encodeLaneControl({ op: 'drop', id: lane.id }))
    this.log.info({ peer: this.peerId, reason }, 'TCP lane closed: bulk channels back on the peer link')
    // Writers held back by the lane's full buffer go on over the link.
    if (this.needDrain) this.onDrain()
    this.emit('lane', false, reason)
  }

  /**
   * Sends one unreliable datagram (1..MAX_DATAGRAM_BYTES bytes) to the peer: no ack, no retransmission, no
   * ordering. Returns false, sending nothing, when the link is not up or its connection has no datagrams.
   */
  sendDatagram(payload: Uint8Array): boolean {
    if (this.state !== 'up' || this.conn.destroyed || !this.conn.trySend) return false
    if (payload.length === 0 || payload.length > MAX_DATAGRAM_BYTES) {
      throw new LinkError(
        'FRAME_TOO_LARGE',
        `a datagram is 1..${MAX_DATAGRAM_BYTES} bytes, not ${payload.length}`,
      )
    }
    this.conn.trySend(payload)
    return true
  }

  /** Resolves when the write buffer has room again (at once if it has); rejects LINK_CLOSED if the link closes. */
  drained(): Promise<void> {
    if (this.state === 'closed') return Promise.reject(this.closedError('LINK_CLOSED'))
    if (!this.needDrain) return Promise.resolve()
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }))
  }

  /** Sends our renewed certificate; the peer verifies it like the first one. */
  updateCertificate(certificate: Uint8Array): void {
    if (this.state === 'up') this.write({ type: 'cert', certificate })
  }

  /** Re-verifies the peer's certificate now (expiry, revocation); closes the link and returns false if it fails. */
  recheck(): boolean {
    if (this.state !== 'up' || !this.peerCertificate) return this.state !== 'closed'
    return this.verify(this.peerCertificate) !== null
  }

  close(reason: LinkReason = 'local_close'): void {
    this.shutdown(reason, true)
  }

  /**
   * Asks the peer for a sign of life now: sends a PING and resolves true as soon as anything arrives from the
   * peer after it, false when nothing did within timeoutMs (or the link closed). It does not close the link;
   * the caller decides (an underlay address change, a second connection from the same peer).
   */
  checkAlive(timeoutMs: number): Promise<boolean> {
    if (this.state !== 'up') return Promise.resolve(false)
    this.ping()
    return new Promise((resolve) => {
      const done = (alive: boolean) => {
        clearTimeout(timer)
        this.off('close', onClose)
        this.heardWaiters.delete(onHeard)
        resolve(alive)
      }
      const onHeard = () => done(true)
      const onClose = () => done(false)
      // Anything that arrives settles it through onHeard at once, so at the timeout nothing has.
      const timer = setTimeout(() => done(false), timeoutMs)
      this.heardWaiters.add(onHeard)
      this.once('close', onClose)
    })
  }

  /**
   * Holds back the peer's frames (they wait in the stream, which holds the peer back) until resumeFrames():
   * for a link that is up but not yet announced, so nothing the peer sends at once (routing records on
   * link-up) reaches a link nobody listens to yet. Datagrams are not held (probes rather lost than late).
   */
  pauseFrames(): void {
    this.conn.pause?.()
  }

  resumeFrames(): void {
    this.conn.resume?.()
  }

  /** A datagram or lane frame arrived: traffic, so no keepalive PING is due; settles checkAlive() callers. */
  private trafficArrived(): void {
    this.lastReceived = this.lastTraffic = monotonic()
    if (this.heardWaiters.size > 0) this.heard()
  }

  /** Something arrived: settles the checkAlive() callers (the frame path asks only when there are some). */
  private heard(): void {
    for (const w of [...this.heardWaiters]) w()
  }

  /** Resolves when the underlying connection is gone (at most ~1 s after close(): the CLOSE frame's grace). */
  connectionClosed(): Promise<void> {
    return this.connClosed
  }

  private onData(data: Uint8Array): void {
    if (this.state === 'closed') return
    // Zero-byte messages are secret-stream keepalives when the stream does not filter them itself.
    if (data.length === 0) return
    this.lastReceived = monotonic()
    if (this.heardWaiters.size > 0) this.heard()
    if (data.length > this.maxFrameBytes) {
      this.shutdown('oversize_frame', true)
      return
    }
    let frame: Frame
    try {
      frame = decodeFrame(data)
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err
      this.shutdown('malformed_frame', true, { error: err })
      return
    }
    if (!this.inOrder(frame)) {
      this.shutdown('protocol_violation', true)
      return
    }
    try {
      this.onFrame(frame)
    } catch (err) {
      // Only our own code can throw here (an injected isRevoked, a bug); the peer is not to blame.
      this.log.error({ err }, 'peer-link frame handling failed')
      this.shutdown('internal_error', true, { error: err as Error })
    }
  }

  private onDatagram(data: Uint8Array): void {
    if (this.state === 'closed') return
    if (data.length === 0 || data.length > MAX_DATAGRAM_BYTES) {
      this.opts.metrics.dropped.inc({ reason: 'malformed_datagram' })
      return
    }
    if (this.state === 'handshaking') {
      // The peer comes up a moment before we do (our READY reached it first) and probes at once; a datagram
      // can overtake the READY that makes us up. Keep the first few for then (they are authenticated already).
      if (this.early.length < MAX_EARLY_DATAGRAMS) this.early.push(Uint8Array.from(data))
      else this.opts.metrics.dropped.inc({ reason: 'datagram_before_up' })
      return
    }
    this.trafficArrived()
    try {
      this.emit('datagram', data)
    } catch (err) {
      this.log.error({ err }, 'peer-link datagram handler threw')
    }
  }

  /** The handshake order: HELLO once, then READY once, then the rest; CLOSE at any time. */
  private inOrder(f: Frame): boolean {
    switch (f.type) {
      case 'hello':
        return !this.helloSeen
      case 'ready':
        return this.helloSeen && !this.remoteReady
      case 'close':
        return true
      default:
        return this.state === 'up'
    }
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case 'hello': {
        this.helloSeen = true
        if (f.version !== LINK_VERSION) {
          this.shutdown('unsupported_version', true)
          break
        }
        this.remoteMaxFrameBytes = f.maxFrameBytes
        const cert = this.verify(f.certificate)
        if (!cert) break
        this.peerCertificate = cert
        this.write({ type: 'ready' })
        this.maybeUp()
        break
      }
      case 'ready':
        this.remoteReady = true
        this.maybeUp()
        break
      case 'data':
        this.lastTraffic = this.lastReceived
        if (f.channel === LANE_CHANNEL) this.onLaneControl(f.payload)
        else this.deliver(f.channel, f.payload)
        break
      case 'ping':
        this.write({ type: 'pong', nonce: f.nonce })
        break
      case 'pong':
        if (f.nonce === this.pingNonce) this.rttMs = monotonic() - this.pingSentAt
        break
      case 'close':
        this.shutdown(this.state === 'up' ? 'remote_closed' : 'remote_rejected', false, {
          remoteReason: f.reason,
        })
        break
      case 'cert': {
        const cert = this.verify(f.certificate)
        if (!cert) break
        this.peerCertificate = cert
        this.emit('certificate', cert)
        break
      }
    }
  }

  /** Verifies a peer certificate (bytes from HELLO/CERT, or the one held); on failure closes the link. */
  private verify(cert: Uint8Array | NodeCertificate): NodeCertificate | null {
    const result = checkPeerCertificate(cert, this.remotePublicKey, this.opts.trust, this.now())
    if (result.ok) return result.certificate
    this.shutdown(result.reason, true, { error: result.error })
    return null
  }

  private maybeUp(): void {
    if (this.state !== 'handshaking' || !this.peerCertificate || !this.remoteReady) return
    this.state = 'up'
    if (this.helloTimer) clearTimeout(this.helloTimer)
    this.helloTimer = null
    this.keepAliveTimer = setInterval(() => this.keepAlive(), this.keepAliveIntervalMs)
    this.log.debug({ peer: this.peerId, remote: this.remoteAddress }, 'peer link up')
    this.emit('up', this.peerCertificate)
    // The 'up' listeners (the manager, then the daemon) have subscribed to datagrams by now.
    const early = this.early
    this.early = []
    for (const d of early) if (this.state === 'up') this.onDatagram(d)
  }

  /** Sends a PING (its PONG measures rttMs). */
  private ping(): void {
    this.pingNonce = (this.pingNonce + 1) % 0x7fffffff
    this.pingSentAt = monotonic()
    this.write({ type: 'ping', nonce: this.pingNonce })
  }

  private keepAlive(): void {
    if (this.silentForMs > this.deadAfterMs) {
      this.shutdown('keepalive_timeout', false)
      return
    }
    if (monotonic() - this.lastTraffic < this.keepAliveIntervalMs) return
    this.ping()
  }

  private deliver(channel: string, payload: Uint8Array): void {
    if (!this.channels.has(channel)) {
      this.opts.metrics.dropped.inc({ reason: 'unknown_channel' })
      return
    }
    // A throwing handler is a bug of this node, not the peer's: log it, keep the link.
    try {
      this.emit('message', channel, payload)
      this.channelObjects.get(channel)?.emit('message', payload)
    } catch (err) {
      this.log.error({ err, channel }, 'peer-link message handler threw')
    }
  }

  private onDrain(): void {
    this.needDrain = false
    const waiters = this.drainWaiters
    this.drainWaiters = []
    for (const w of waiters) w.resolve()
    this.emit('drain')
  }

  private write(frame: Frame | Uint8Array): boolean {
    if (this.conn.destroyed) return false
    const ok = this.conn.write(frame instanceof Uint8Array ? frame : encodeFrame(frame))
    if (!ok) this.needDrain = true
    return ok
  }

  private shutdown(reason: LinkReason, tellPeer: boolean, info: Omit<LinkCloseInfo, 'wasUp'> = {}): void {
    if (this.state === 'closed') return
    const wasUp = this.state === 'up'
    this.state = 'closed'
    this.early = []
    this.closeReason = reason
    if (this.helloTimer) clearTimeout(this.helloTimer)
    if (this.keepAliveTimer) clearInterval(this.keepAliveTimer)
    this.helloTimer = this.keepAliveTimer = null
    this.lane?.close('link_closed')
    if (wasUp) this.opts.metrics.closed.inc({ reason })
    else if (!NOT_A_REFUSAL.has(reason)) this.opts.metrics.rejected.inc({ reason })
    const fields = {
      reason,
      peer: this.peerId,
      remote: this.remoteAddress,
      remote_reason: info.remoteReason,
      err: info.error?.message,
    }
    if (!wasUp && !NOT_A_REFUSAL.has(reason)) this.log.warn(fields, 'peer link refused')
    else if (wasUp) this.log.info(fields, 'peer link closed')
    else this.log.debug(fields, 'peer connection ended during the handshake')

    if (tellPeer && !SILENT.has(reason) && !this.conn.destroyed) {
      this.write({ type: 'close', reason })
      this.conn.end()
      this.destroyTimer = setTimeout(() => {
        this.destroyTimer = null
        this.conn.destroy()
      }, CLOSE_GRACE_MS)
    } else {
      this.conn.destroy()
    }
    const err = this.closedError('LINK_CLOSED')
    for (const w of this.drainWaiters) w.reject(err)
    this.drainWaiters = []
    this.emit('close', reason, { wasUp, ...info })
  }

  private closedError(code: 'LINK_CLOSED' | 'LINK_REJECTED'): LinkError {
    const reason = this.closeReason ?? 'local_close'
    return new LinkError(
      code,
      `peer link ${code === 'LINK_REJECTED' ? 'refused' : 'closed'}: ${reason}`,
      reason,
    )
  }
}
