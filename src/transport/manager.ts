// The link manager: turns the raw connections discovery finds into at most one up peer link per peer node,
// and tells the rest of the router when a peer comes and goes ('link-up' / 'link-down'). It also owns what
// is shared by all links: our certificate (renewed in place), the channel names, the periodic re-check of
// peers' certificates (expiry, revocations added since the link came up) and the link metrics.
//
// Duplicates: two routers can hold two connections to each other (both dialled at once; a static dial and
// a topic connection crossed). Both ends must keep the same one, or each closes the other's choice. The
// rule is symmetric: prefer the connection opened by the node with the larger public key; if the same node
// opened both, the one with the smaller handshake hash (identical on both ends). The one exception: an up
// link that has been silent for staleAfterMs (its peer restarted and is dialling again) is replaced by the
// newcomer whatever the rule says, so a restarted peer does not wait for the keepalive to expire. And a
// newcomer the rule would refuse waits while the kept link is asked for a sign of life (a PING; answered in
// one round trip by a live peer): a peer whose underlay address changed has lost the old connection (the
// other end still sends to the old address) and dials from its new one at once, and the kept link is then
// silent for less than staleAfterMs; the check makes the newcomer take over within CHECK_TIMEOUT_MS
// instead. Both ends still agree: the peer holds only the newcomer (it closed the old link after its own
// check, see checkLinks()) or applies the same rule and the same check to the same two connections.
//
// Lanes (lanes.ts): with `lanes` set, every link the manager accepts is also tracked there (offers, dials,
// retries), and accepted lanes are bound to the up link they name.

import { EventEmitter } from 'node:events'
import pino, { type Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { KeyPair } from '../identity/index.js'
import { LinkError, type LinkReason } from './errors.js'
import { CHANNEL_NAME } from './frames.js'
import { Lanes } from './lanes.js'
import { PeerLink } from './link.js'
import { createTransportMetrics, type TransportMetrics } from './metrics.js'
import {
  DEFAULT_CHANNELS,
  type LinkTimings,
  NOT_A_REFUSAL,
  type RawConnection,
  type TrustOptions,
} from './types.js'

export interface LinkManagerOptions extends LinkTimings {
  /** Our node key: connections to it are refused, and it breaks ties between duplicates. */
  localPublicKey: Uint8Array
  /** Our encoded node certificate; setCertificate() replaces it after a renewal. */
  certificate: Uint8Array
  trust: TrustOptions
  /** The daemon's metrics registry. */
  registry: Registry
  /** Channel names (default routing, bus); addChannel() adds more. */
  channels?: readonly string[]
  logger?: Logger
  /** Wall clock for certificate validity (default Date.now). */
  now?: () => number
  /** Re-verify every peer certificate this often, ms; 0 = only when recheck() is called (default 60 s). */
  recheckIntervalMs?: number
  /** An up link silent this long yields to a new connection from the same peer (default 2.5 keepalive intervals). */
  staleAfterMs?: number
  /** TCP lanes for the bulk channels (lane.ts): the node key (the lanes' Noise key) and the port to listen on. */
  lanes?: { keyPair: KeyPair; port: number } | null
}

/** How long a link asked for a sign of life (checkAlive) gets to answer, at least. */
export const CHECK_TIMEOUT_MS = 1500

export interface LinkManagerEvents {
  'link-up': [peerId: string, link: PeerLink]
  'link-down': [peerId: string, reason: LinkReason]
  /** A connection refused before it came up (also counted in blackroad_peer_links_rejected_total). */
  rejected: [reason: LinkReason, remotePublicKey: Buffer]
}

export class LinkManager extends EventEmitter<LinkManagerEvents> {
  readonly metrics: TransportMetrics
  private readonly active = new Map<string, PeerLink>()
  private readonly pending = new Set<PeerLink>()
  private readonly closing = new Set<PeerLink>()
  /** Up links waiting for the peer's kept link to answer a check (at most one per peer). */
  private readonly contenders = new Map<string, PeerLink>()
  private readonly channels: Set<string>
  private readonly localKey: Buffer
  private readonly log: Logger
  private readonly staleAfterMs: number
  private certificate: Uint8Array
  private recheckTimer: NodeJS.Timeout | null = null
  private closed = false
  private readonly lanes: Lanes | null

  constructor(private readonly opts: LinkManagerOptions) {
    super()
    this.metrics = createTransportMetrics(opts.registry)
    this.localKey = Buffer.from(opts.localPublicKey)
    this.certificate = opts.certificate
    this.log = opts.logger ?? pino({ level: 'silent' })
    this.channels = new Set()
    for (const c of opts.channels ?? DEFAULT_CHANNELS) this.addChannel(c)
    this.staleAfterMs = opts.staleAfterMs ?? 2.5 * (opts.keepAliveIntervalMs ?? 1000)
    this.lanes = opts.lanes
      ? new Lanes({
          ...opts.lanes,
          metrics: this.metrics,
          logger: this.log,
          linkFor: (hash, key) => {
            for (const link of this.active.values()) {
              const h = link.conn.handshakeHash
              if (h && Buffer.from(h).equals(hash) && link.remotePublicKey.equals(key)) return link
            }
            return null
          },
        })
      : null
    const every = opts.recheckIntervalMs ?? 60_000
    if (every > 0) this.recheckTimer = setInterval(() => this.recheck(), every)
  }

  /** Starts the certificate exchange on a new connection (wire discovery's 'connection' event here). */
  accept(conn: RawConnection): PeerLink | null {
    if (this.closed) {
      conn.destroy()
      return null
    }
    if (this.localKey.equals(conn.remotePublicKey)) {
      this.metrics.rejected.inc({ reason: 'self' })
      conn.destroy()
      return null
    }
    const {
      registry: _r,
      localPublicKey: _k,
      recheckIntervalMs: _i,
      staleAfterMs: _s,
      lanes: _l,
      ...linkOpts
    } = this.opts
    const link = new PeerLink(conn, {
      ...linkOpts,
      certificate: this.certificate,
      channels: this.channels,
      metrics: this.metrics,
      logger: this.log,
    })
    this.pending.add(link)
    link.once('up', () => this.onUp(link))
    link.once('close', (reason, info) => this.onClose(link, reason, info.wasUp))
    this.lanes?.track(link)
    return link
  }

  /**
   * Starts accepting TCP lanes (when `lanes` is set); resolves with the port, or null (lanes off, or no port
   * to listen on: the bulk channels then stay on the links, and this node still dials its peers' lanes).
   */
  async listenLanes(): Promise<number | null> {
    if (this.lanes === null || this.closed) return null
    const port = await this.lanes.listen()
    for (const l of this.active.values()) this.lanes.offer(l)
    return port
  }

  /** The port lanes are accepted on (null: lanes off, or not listening). */
  get lanePort(): number | null {
    return this.lanes?.port ?? null
  }

  get(peerId: string): PeerLink | undefined {
    return this.active.get(peerId)
  }

  /** Node ids of the peers with an up link. */
  peers(): string[] {
    return [...this.active.keys()]
  }

  get size(): number {
    return this.active.size
  }

  /** The underlay address the link to this peer uses (its WireGuard endpoint candidate), or null. */
  remoteAddress(peerId: string): { host: string; port: number } | null {
    return this.active.get(peerId)?.remoteAddress ?? null
  }

  /** Adds a channel name to every link, present and future. */
  addChannel(name: string): void {
    if (!CHANNEL_NAME.test(name)) throw new LinkError('INVALID_CHANNEL', `invalid channel name "${name}"`)
    this.channels.add(name)
    for (const l of this.allLinks()) l.addChannel(name)
  }

  /** Our renewed certificate: used for new links and sent to every up link. */
  setCertificate(certificate: Uint8Array): void {
    this.certificate = certificate
    for (const l of this.active.values()) l.updateCertificate(certificate)
  }

  /** Re-verifies every up link's peer certificate now; closes (and reports link-down for) those that fail. */
  recheck(): number {
    let closed = 0
    for (const l of [...this.active.values()]) if (!l.recheck()) closed++
    return closed
  }

  /**
   * Asks every up link for a sign of life and closes (keepalive_timeout, reported link-down) those that give
   * none within the check timeout. For when this node's underlay address changed: its peers still send to the
   * old one, so those links are dead though nothing told us, and closing them lets discovery dial again now
   * instead of after the keepalive's dead interval. Resolves with the number closed.
   */
  async checkLinks(): Promise<number> {
    const links = [...this.active.values()]
    const alive = await Promise.all(links.map((l) => l.checkAlive(this.checkTimeout(l))))
    let closed = 0
    links.forEach((l, i) => {
      if (alive[i] || l.state !== 'up') return
      this.log.info({ peer: l.peerId, remote: l.remoteAddress }, 'peer link gave no sign of life; closing')
      l.close('keepalive_timeout')
      closed++
    })
    return closed
  }

  private checkTimeout(link: PeerLink): number {
    return Math.max(CHECK_TIMEOUT_MS, 4 * (link.rttMs ?? 0))
  }

  /** Closes every link, telling peers why, and waits (about a second at most) for the connections to go. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.recheckTimer) clearInterval(this.recheckTimer)
    this.recheckTimer = null
    this.lanes?.close()
    const links = [...this.allLinks(), ...this.closing]
    for (const l of links) l.close('local_close')
    await Promise.all(links.map((l) => l.connectionClosed()))
  }

  private *allLinks(): Iterable<PeerLink> {
    yield* this.pending
    yield* this.active.values()
    yield* this.contenders.values()
  }

  private onUp(link: PeerLink): void {
    this.pending.delete(link)
    const id = link.peerId!
    const current = this.active.get(id)
    if (current) {
      const stale = current.silentForMs > this.staleAfterMs
      if (!stale && !this.preferred(link, current)) {
        if (this.contenders.has(id)) {
          this.refuse(id, link)
          return
        }
        this.contenders.set(id, link)
        link.pauseFrames() // until it is announced or retired: the peer may be using it already
        void current
          .checkAlive(this.checkTimeout(current))
          .then((alive) => this.settleContender(id, link, alive))
        return
      }
      this.supersede(id, current, link)
      return
    }
    this.active.set(id, link)
    this.announceUp(id, link)
  }

  /** The kept link answered (or not) the check a newcomer from the same peer started. */
  private settleContender(id: string, link: PeerLink, currentAlive: boolean): void {
    this.contenders.delete(id)
    if (link.state !== 'up' || this.closed) return // it went meanwhile; onClose had nothing to report
    const current = this.active.get(id)
    if (current && currentAlive) {
      this.refuse(id, link)
      return
    }
    if (current) {
      this.log.info({ peer: id, remote: link.remoteAddress }, 'peer link silent; a new connection takes over')
      this.supersede(id, current, link)
    } else {
      this.active.set(id, link)
      this.announceUp(id, link)
    }
    link.resumeFrames() // the link-up listeners are subscribed now
  }

  private refuse(id: string, link: PeerLink): void {
    this.log.debug({ peer: id }, 'duplicate peer link; keeping the existing one')
    this.retire(link, 'duplicate')
  }

  private supersede(id: string, current: PeerLink, link: PeerLink): void {
    // Replace before closing, so the old link's close handler does not report the peer down.
    this.active.set(id, link)
    this.retire(current, 'superseded')
    this.emit('link-down', id, 'superseded')
    this.announceUp(id, link)
  }

  private announceUp(id: string, link: PeerLink): void {
    this.metrics.links.set(this.active.size)
    this.log.info({ peer: id, name: link.peerCertificate?.name, remote: link.remoteAddress }, 'peer link up')
    this.emit('link-up', id, link)
    this.lanes?.offer(link)
  }

  private onClose(link: PeerLink, reason: LinkReason, wasUp: boolean): void {
    this.pending.delete(link)
    if (!wasUp) {
      if (!NOT_A_REFUSAL.has(reason)) this.emit('rejected', reason, link.remotePublicKey)
      return
    }
    const id = link.peerId
    if (id === null || this.active.get(id) !== link) return
    this.active.delete(id)
    this.metrics.links.set(this.active.size)
    this.emit('link-down', id, reason)
  }

  /** Closes a link that is not the peer's link (any more), remembering it until its connection is gone. */
  private retire(link: PeerLink, reason: LinkReason): void {
    this.closing.add(link)
    link.connectionClosed().then(() => this.closing.delete(link))
    link.close(reason)
  }

  /** Whether `a` is the connection both ends keep over `b` (see the header). */
  private preferred(a: PeerLink, b: PeerLink): boolean {
    const byKey = Buffer.compare(this.initiatorKey(a), this.initiatorKey(b))
    if (byKey !== 0) return byKey > 0
    const ha = a.conn.handshakeHash
    const hb = b.conn.handshakeHash
    return ha && hb ? Buffer.compare(ha, hb) < 0 : false
  }

  private initiatorKey(link: PeerLink): Buffer {
    return link.isInitiator ? this.localKey : link.remotePublicKey
  }
}
