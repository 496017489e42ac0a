// TCP lanes: a second connection beside a peer link, for the link's bulk channels (the bus). A peer link runs
// on hyperswarm's UDX stream, which works through NATs but costs one sendmsg per ~1.4 KB packet and an ack
// packet the receiving process must wake up to send; measured here (bench/bus/link.ts), a router pair moved
// 1.5-2.5x the messages per second, with a fifth less request/reply latency, over a Noise stream on TCP (the
// kernel segments, acks and paces it). So when the peer can be reached over TCP, the bulk channels move there;
// everything else (certificates, routing records, probes, liveness) stays on the link, which remains the
// authority: the lane lives and dies with it, and without a lane (NAT, firewall, an older peer) nothing changes.
//
// Setting one up, both ends on the link's own stream, channel "lane" (an older peer drops that channel as
// unknown and counts it; the link carries on):
//   1. each end with a lane listener sends OFFER(port) once the link is up;
//   2. the link's initiator (or, after it failed once and said REVERSE, the other end: a public node that
//      found a NATed one cannot reach its port, the NATed one can reach the public node's), on the peer's
//      OFFER, dials TCP to the link's remote host at that port and runs a Noise handshake with its node key,
//      naming the peer's key (a different key fails the handshake); its first message is BIND, naming the link
//      by its handshake hash (not a secret: it only picks the link);
//   3. the listener finds the up link with that hash whose peer is the key the lane's own Noise handshake
//      authenticated, attaches the lane and answers ACCEPT (or REFUSE and closes); the dialer attaches on ACCEPT;
//   4. each end, once attached, sends SWITCH(lane id) on the link's stream, then sends its bulk frames on the
//      lane. A receiver holds lane frames until the peer's SWITCH arrives on the link (pausing the lane, which
//      holds the sender back), so what was sent on the link before the switch is delivered first;
//   5. an end that closes a lane while the link stays up says DROP(lane id) on the link, so the other end
//      stops using it at once even when the lane's own close never reaches it (a path that drops TCP).
// Lane frames are the link's DATA frames (frames.ts), under the same size limit; anything else closes the lane
// (not the link), except PING and PONG: a lane that was written to and heard nothing back for LANE_ECHO_MS
// sends a PING, and if that too goes unanswered for LANE_ECHO_MS it is closed (a path that drops TCP while the
// link's UDP still flows would otherwise swallow small messages for the kernel's many minutes of
// retransmission). A lane whose writes stay blocked for LANE_STALL_MS, or whose TCP keepalive goes unanswered
// (LANE_KEEPALIVE_MS, idle lanes, from the dialler), is closed; the bulk channels go back to the link at once
// and the dialer tries again later. Frames in flight on a lane that closes are lost, as they would be with a link that
// closes: at-most-once messages are gone, at-least-once ones are retried by the bus.

import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import type { Logger } from 'pino'
import type { KeyPair } from '../identity/index.js'
import { bytesEqualAt, DecodeError } from '../wire/index.js'
import { decodeFrame, encodeFrame, frameFilled } from './frames.js'
import { type DirectPath, directPath } from './lane-direct.js'
import type { TransportMetrics } from './metrics.js'
import type { RawConnection } from './types.js'

/** The link channel lane control travels on. */
export const LANE_CHANNEL = 'lane'
/** A lane's close reason when the peer said DROP: the peer is alive and chose to close it. */
export const LANE_DROPPED_BY_PEER = 'lane_dropped_by_peer'
/** Control ops on LANE_CHANNEL (first byte). */
const LaneOp = { OFFER: 1, SWITCH: 2, DROP: 3, REVERSE: 4 } as const
/** Lane handshake messages (first message each way on a new lane). */
const BIND = 1
const ACCEPT = 2
const REFUSE = 3
/** A lane identifies itself by this many bytes of its Noise handshake hash (in SWITCH). */
const LANE_ID_BYTES = 8
/** Dial + handshake + ACCEPT within this, or the attempt fails. */
const LANE_DIAL_TIMEOUT_MS = 3000
/** Blocked writes for this long close the lane (a path that stopped moving). */
const LANE_STALL_MS = 10_000
/**
 * An idle lane is checked by the kernel's TCP keepalive after this much silence (then every second, ten times:
 * a dead peer closes it about 10 s later), from the dialling end only: one probe and its answer per interval
 * keep both ends' NAT and firewall state (RFC 5382 asks NATs to keep established TCP for 2 h), with no timer or
 * message of ours on idle lanes. Liveness does not rest on it: a daemon that dies closes its lanes (its
 * kernel sends FIN), a lane written to is checked within LANE_ECHO_MS, and the link has its own probes. At
 * 30 s from both ends, a node of a quiet 5-node mesh (4 lanes) sent 4 probes and 4 answers every 30 s.
 */
const LANE_KEEPALIVE_MS = 120_000
/** Lane frames held for the peer's SWITCH this long (it never came: a confused peer) close the lane. */
export const LANE_SWITCH_WAIT_MS = 10_000
/** A lane written to that heard nothing for this long is asked for a PONG, and closed if none comes in as long. */
export const LANE_ECHO_MS = 2000
const monotonic = () => performance.now()
/** Unbound lanes (handshaking, waiting for BIND) a listener holds at once; more are closed at accept. */
const MAX_UNBOUND = 32

/**
 * OFFER: accept a lane on this port; SWITCH: bulk frames follow on lane `id`; DROP: lane `id` was closed here;
 * REVERSE: the initiator could not reach the peer's lane port, so the peer dials from now on.
 */
export type LaneControl =
  | { op: 'offer'; port: number }
  | { op: 'switch' | 'drop'; id: string }
  | { op: 'reverse' }

export function encodeLaneControl(c: LaneControl): Uint8Array {
  if (c.op === 'offer') return Uint8Array.of(LaneOp.OFFER, c.port >> 8, c.port & 0xff)
  if (c.op === 'reverse') return Uint8Array.of(LaneOp.REVERSE)
  const id = Buffer.from(c.id, 'hex')
  return Uint8Array.from([c.op === 'switch' ? LaneOp.SWITCH : LaneOp.DROP, ...id])
}

/** Decodes a lane control payload; DecodeError on anything else. */
export function decodeLaneControl(b: Uint8Array): LaneControl {
  if (b.length === 3 && b[0] === LaneOp.OFFER) {
    const port = (b[1]! << 8) | b[2]!
    if (port === 0) throw new DecodeError('invalid-value', 'lane offer of port 0', 1)
    return { op: 'offer', port }
  }
  if (b.length === 1 && b[0] === LaneOp.REVERSE) return { op: 'reverse' }
  if (b.length === 1 + LANE_ID_BYTES && (b[0] === LaneOp.SWITCH || b[0] === LaneOp.DROP)) {
    return { op: b[0] === LaneOp.SWITCH ? 'switch' : 'drop', id: Buffer.from(b.subarray(1)).toString('hex') }
  }
  throw new DecodeError('invalid-value', `not a lane control message (${b.length} bytes)`, 0)
}

/** What a lane needs from the link it serves. */
export interface LaneHost {
  readonly maxFrameBytes: number
  /** A DATA frame from the lane, in order (after the peer's SWITCH). */
  deliver(channel: string, payload: Uint8Array): void
  /** Something authenticated arrived from the peer on the lane. */
  heard(): void
  /** The lane's write buffer has room again. */
  drained(): void
  /** The lane is gone (after close(), or on its own); the link goes back to carrying everything. */
  lost(lane: Lane, reason: string): void
}

/** The lane's connection: a Noise secret stream over TCP (what NoiseSecretStream gives), or a test double. */
export type LaneConnection = RawConnection

/** One attached lane: frames out, frames in (held until the peer switched), stall and silence checks. */
export class Lane {
  /** Identifies this lane in SWITCH: the first bytes of its handshake hash, hex. */
  readonly id: string
  /** The peer's SWITCH for this lane arrived: its frames are delivered as they come. */
  private switched = false
  private held: Array<[string, Uint8Array]> = []
  private holdTimer: NodeJS.Timeout | null = null
  private closed = false
  private stallTimer: NodeJS.Timeout | null = null
  private lastHeard = monotonic()
  /** The echo check (see the header): armed by a write, when it started, and whether it sent its PING. */
  private echoTimer: NodeJS.Timeout | null = null
  private echoFrom = 0
  private pinged = false
  private readonly echoFn = () => this.echo()
  /**
   * Frames sealed and opened on the TCP socket itself (lane-direct.ts), null on connections that are not a
   * secret stream of the expected shape. Writes take it once the stream's writer has nothing queued (soon after
   * attaching: what was written before, BIND or ACCEPT, goes first); reads once the peer switched and the
   * stream's reader has nothing queued.
   */
  private readonly direct: DirectPath | null
  private directWrites = false
  private directReads = false
  /** The head (type and channel name) of the last DATA frame read, and its channel. */
  private inHead: Uint8Array | null = null
  private inChannel = ''

  constructor(
    readonly conn: LaneConnection,
    private readonly host: LaneHost,
    readonly initiator: boolean,
  ) {
    this.id = laneId(conn)
    conn.on('data', (d) => this.onData(d))
    conn.on('drain', () => this.onDrain())
    conn.on('error', () => {})
    conn.on('end', () => this.close('lane_closed'))
    conn.on('close', () => this.close('lane_closed'))
    if (initiator)
      (
        conn.rawStream as { setKeepAlive?: (on: boolean, ms: number) => void } | null | undefined
      )?.setKeepAlive?.(true, LANE_KEEPALIVE_MS)
    this.direct = directPath(conn)
    if (this.direct !== null) {
      this.direct.socket.on('drain', () => {
        if (this.directWrites) this.onDrain()
      })
      setImmediate(() => this.tryDirectWrites())
    }
  }

  /** Whether frames go straight to and from the socket (both ways), for tests and logs. */
  get isDirect(): boolean {
    return this.directWrites && this.directReads
  }

  private tryDirectWrites(): void {
    if (this.closed || this.directWrites || this.direct === null) return
    // Still queued (the socket was full): the stream's 'drain' calls this again.
    if (this.direct.writerIdle()) this.directWrites = true
  }

  private tryDirectReads(tries = 0): void {
    if (this.closed || this.directReads || this.direct === null || !this.switched) return
    if (!this.direct.readerIdle()) {
      // The stream is still handing out what it queued while the lane was held; look again after that.
      if (tries < 100) setImmediate(() => this.tryDirectReads(tries + 1))
      return
    }
    this.directReads = true
    this.direct.takeReads((d) => this.onData(d))
  }

  /** One frame out, on the direct path once it is on. */
  private send(frame: Uint8Array): boolean {
    return this.directWrites ? this.direct!.write(frame) : this.conn.write(frame)
  }

  /**
   * Sends the DATA frame `head` (dataFrameHead of its channel) + a payload of `n` bytes that `fill` writes at
   * `out[at]` (with up to `room` bytes there as working space): on the direct path it is written where it is
   * sealed, else into a frame buffer first. False = buffer full (a 'drained' follows).
   */
  writeData(head: Uint8Array, n: number, room: number, fill: (out: Buffer, at: number) => void): boolean {
    if (this.closed) return false
    if (this.directWrites) return this.wrote(this.direct!.writeWith(head, n, room, fill))
    return this.wrote(this.conn.write(frameFilled(head, n, room, fill)))
  }

  /** After a write: the stall and echo checks. */
  private wrote(ok: boolean): boolean {
    if (!ok && this.stallTimer === null) {
      this.stallTimer = setTimeout(() => this.close('lane_stalled'), LANE_STALL_MS)
    }
    if (this.echoTimer === null) this.armEcho()
    return ok
  }

  private armEcho(): void {
    this.echoFrom = monotonic()
    this.echoTimer = setTimeout(this.echoFn, LANE_ECHO_MS)
  }

  /** LANE_ECHO_MS after a write: heard from the peer since? Else PING once, and close if that goes unanswered. */
  private echo(): void {
    this.echoTimer = null
    if (this.closed) return
    if (this.lastHeard >= this.echoFrom) {
      this.pinged = false
      return
    }
    if (this.pinged) {
      this.close('lane_unanswered')
      return
    }
    this.pinged = true
    this.send(encodeFrame({ type: 'ping', nonce: 1 }))
    this.armEcho()
  }

  /** The peer's SWITCH for this lane: deliver what was held, then everything as it comes. */
  peerSwitched(): void {
    if (this.switched || this.closed) return
    this.switched = true
    if (this.holdTimer) clearTimeout(this.holdTimer)
    this.holdTimer = null
    const held = this.held
    this.held = []
    for (const [channel, payload] of held) this.host.deliver(channel, payload)
    this.conn.resume?.()
    if (this.direct !== null) setImmediate(() => this.tryDirectReads())
  }

  close(reason: string): void {
    if (this.closed) return
    this.closed = true
    if (this.stallTimer) clearTimeout(this.stallTimer)
    if (this.echoTimer) clearTimeout(this.echoTimer)
    if (this.holdTimer) clearTimeout(this.holdTimer)
    this.stallTimer = this.echoTimer = this.holdTimer = null
    // Frames that came on the lane but not yet in order are still the peer's authenticated frames.
    const held = this.held
    this.held = []
    for (const [channel, payload] of held) this.host.deliver(channel, payload)
    this.conn.destroy()
    this.host.lost(this, reason)
  }

  private onData(d: Uint8Array): void {
    if (this.closed || d.length === 0) return
    this.lastHeard = monotonic()
    this.host.heard()
    if (d.length > this.host.maxFrameBytes) {
      this.close('lane_oversize_frame')
      return
    }
    let channel: string
    let payload: Uint8Array
    const head = this.inHead
    if (head !== null && bytesEqualAt(d, 0, head, 0, head.length)) {
      // A DATA frame on the channel of the one before (the lane's usual traffic): its payload is the rest.
      this.deliverData(this.inChannel, d.subarray(head.length))
      return
    }
    try {
      const f = decodeFrame(d)
      if (f.type === 'ping') {
        this.send(encodeFrame({ type: 'pong', nonce: f.nonce }))
        return
      }
      if (f.type === 'pong') return
      if (f.type !== 'data' || f.channel === LANE_CHANNEL) {
        this.close('lane_protocol_violation')
        return
      }
      channel = f.channel
      payload = f.payload
      this.inHead = Uint8Array.from(d.subarray(0, d.length - payload.length))
      this.inChannel = channel
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err
      this.close('lane_malformed_frame') // counted as the lane's close reason
      return
    }
    this.deliverData(channel, payload)
  }

  private deliverData(channel: string, payload: Uint8Array): void {
    if (this.switched) {
      this.host.deliver(channel, payload)
      return
    }
    // Ahead of the peer's SWITCH on the link: hold it, and hold the sender back until the switch arrives.
    this.held.push([channel, payload])
    this.conn.pause?.()
    this.holdTimer ??= setTimeout(() => this.close('lane_no_switch'), LANE_SWITCH_WAIT_MS)
  }

  private onDrain(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer)
    this.stallTimer = null
    this.tryDirectWrites()
    this.host.drained()
  }
}

function laneId(conn: LaneConnection): string {
  const h = conn.handshakeHash
  return h ? Buffer.from(h.subarray(0, LANE_ID_BYTES)).toString('hex') : '0'.repeat(2 * LANE_ID_BYTES)
}

/** First message on a lane, from the dialer: the link it belongs to. */
function bindMessage(linkHash: Uint8Array): Uint8Array {
  return Uint8Array.from([BIND, ...linkHash])
}

/**
 * Dials a lane to a peer for the link whose Noise handshake hash is `linkHash`: TCP to host:port, a Noise
 * handshake that must authenticate `remotePublicKey`, BIND, and the listener's ACCEPT, on which `attach` runs
 * at once (frames may follow ACCEPT in the same read). Resolves true when attached; false when refused,
 * timed out, unreachable, with another key, or when `attach` declined (the link went meanwhile).
 */
export function dialLane(opts: {
  host: string
  port: number
  keyPair: KeyPair
  remotePublicKey: Uint8Array
  linkHash: Uint8Array
  attach: (conn: LaneConnection) => boolean
  timeoutMs?: number
}): Promise<{ ok: true } | { ok: false; error: string }> {
  const socket = tcpConnect({ host: opts.host, port: opts.port, noDelay: true })
  const conn = new NoiseSecretStream(true, socket, {
    keyPair: opts.keyPair,
    remotePublicKey: opts.remotePublicKey,
  })
  const timeoutMs = opts.timeoutMs ?? LANE_DIAL_TIMEOUT_MS
  return new Promise((resolve) => {
    let settled = false
    const fail = (error: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      conn.destroy()
      resolve({ ok: false, error })
    }
    const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs)
    conn.on('error', (err: Error) => fail(err.message))
    conn.on('close', () => fail('closed during the handshake'))
    conn.once('data', (d: Uint8Array) => {
      if (settled) return
      if (d.length !== 1 || d[0] !== ACCEPT) {
        fail(d[0] === REFUSE ? 'refused by the peer' : 'unexpected answer')
        return
      }
      settled = true
      clearTimeout(timer)
      conn.removeAllListeners('error')
      conn.removeAllListeners('close')
      if (opts.attach(conn as unknown as LaneConnection)) resolve({ ok: true })
      else {
        conn.destroy()
        resolve({ ok: false, error: 'link gone' })
      }
    })
    conn.write(bindMessage(opts.linkHash))
  })
}

export interface LaneServerOptions {
  keyPair: KeyPair
  /** TCP port to listen on; when taken, any free port is used instead (the OFFER names the real one). */
  port: number
  metrics: TransportMetrics
  logger: Logger
  /**
   * The up link with this handshake hash and peer key, as a function attaching a lane to it; null = no such
   * link (or it has a lane already): the lane is refused.
   */
  bind(linkHash: Uint8Array, remotePublicKey: Uint8Array): ((conn: LaneConnection) => void) | null
}

/** Accepts lanes: TCP, Noise with the node key, then BIND to an up link. */
export class LaneServer {
  private server: Server | null = null
  private closed = false
  /** Connections still handshaking or waiting for BIND (capped by MAX_UNBOUND). */
  private readonly unbound = new Set<NoiseSecretStream>()
  /** Every accepted socket, bound or not, until it closes: close() ends them all. */
  private readonly sockets = new Set<Socket>()

  constructor(private readonly opts: LaneServerOptions) {}

  /** Listens (dual-stack where the host has IPv6); resolves with the port, or null when it cannot listen. */
  async listen(): Promise<number | null> {
    for (const host of ['::', '0.0.0.0']) {
      for (const port of [this.opts.port, 0]) {
        const server = createServer((s) => this.onSocket(s))
        const err = await new Promise<Error | null>((resolve) => {
          server.once('error', resolve)
          server.listen({ host, port }, () => resolve(null))
        })
        if (err === null && this.closed) {
          server.close() // closed while it was binding
          return null
        }
        if (err === null) {
          server.on('error', (e) => this.opts.logger.warn({ err: e.message }, 'lane listener error'))
          this.server = server
          const bound = (server.address() as { port: number }).port
          if (port === 0)
            this.opts.logger.warn({ wanted: this.opts.port, port: bound }, 'lane port taken; using another')
          return bound
        }
        server.close()
        const code = (err as NodeJS.ErrnoException).code
        if (code !== 'EADDRINUSE' && code !== 'EACCES') break // try the next host family
      }
    }
    this.opts.logger.warn(
      { port: this.opts.port },
      'cannot listen for lanes; bulk traffic stays on peer links',
    )
    return null
  }

  close(): void {
    this.closed = true
    this.server?.close()
    this.server = null
    // Destroying a socket ends the secret stream on it, bound (a lane) or not.
    for (const s of this.sockets) s.destroy()
  }

  private onSocket(socket: Socket): void {
    if (this.unbound.size >= MAX_UNBOUND || this.server === null) {
      this.opts.metrics.lanes.inc({ result: 'refused_busy' })
      socket.destroy()
      return
    }
    socket.setNoDelay(true)
    this.sockets.add(socket)
    socket.once('close', () => this.sockets.delete(socket))
    const conn = new NoiseSecretStream(false, socket, { keyPair: this.opts.keyPair })
    this.unbound.add(conn)
    const drop = () => {
      this.unbound.delete(conn)
      conn.destroy()
    }
    const timer = setTimeout(drop, LANE_DIAL_TIMEOUT_MS)
    conn.on('error', () => {})
    conn.on('close', () => {
      clearTimeout(timer)
      this.unbound.delete(conn)
    })
    conn.once('data', (d: Uint8Array) => {
      clearTimeout(timer)
      this.unbound.delete(conn)
      if (d.length < 2 || d[0] !== BIND || conn.remotePublicKey === null) {
        this.opts.metrics.lanes.inc({ result: 'refused_malformed' })
        conn.destroy()
        return
      }
      const attach = this.opts.bind(d.subarray(1), conn.remotePublicKey)
      if (attach === null) {
        this.opts.metrics.lanes.inc({ result: 'refused_no_link' })
        conn.write(Uint8Array.of(REFUSE))
        conn.end()
        return
      }
      // ACCEPT goes first: once attached, this end writes frames on the lane at once.
      conn.write(Uint8Array.of(ACCEPT))
      attach(conn as unknown as LaneConnection)
    })
  }
}
