// The TCP lanes of one node's links (the protocol is in lane.ts): the listener that accepts lanes and binds
// each to the up link it names, the offer of its port on every link, and the dialling: the link's initiator
// dials when the peer offers a port; after its first dial fails it asks the peer to dial instead (REVERSE),
// and from then on the peer does. Whoever dials also dials again after a failure or a lost lane, backing off
// from LANE_RETRY_MS to LANE_RETRY_MAX_MS, for as long as the link is up. The link manager owns one of these.

import type { Logger } from 'pino'
import type { KeyPair } from '../identity/index.js'
import { dialLane, LaneServer } from './lane.js'
import type { PeerLink } from './link.js'
import type { TransportMetrics } from './metrics.js'

/** A failed or lost lane is dialled again after this, doubling per failure up to LANE_RETRY_MAX_MS. */
const LANE_RETRY_MS = 2000
const LANE_RETRY_MAX_MS = 120_000

export interface LanesOptions {
  /** The node key: the lanes' Noise key. */
  keyPair: KeyPair
  /** TCP port to listen on (taken: any free port, offered instead). */
  port: number
  metrics: TransportMetrics
  logger: Logger
  /** The up link whose handshake hash is `hash` and whose peer has `key`, if any. */
  linkFor(hash: Uint8Array, key: Uint8Array): PeerLink | null
}

export class Lanes {
  private server: LaneServer | null = null
  /** The port lanes are accepted on (null: not listening). */
  port: number | null = null
  private closed = false
  /** Links whose lane is dialled again later. */
  private readonly retry = new Map<PeerLink, NodeJS.Timeout>()
  /** Whether this end dials a link's lane (see the header). */
  private readonly dialer = new WeakMap<PeerLink, boolean>()

  constructor(private readonly opts: LanesOptions) {}

  /** Starts accepting lanes; resolves with the port, or null when there is none to listen on. */
  async listen(): Promise<number | null> {
    if (this.server || this.closed) return this.port
    const { keyPair, port, metrics, logger } = this.opts
    this.server = new LaneServer({
      keyPair,
      port,
      metrics,
      logger,
      bind: (hash, key) => {
        const link = this.opts.linkFor(hash, key)
        if (link === null || link.state !== 'up' || link.hasLane) return null
        return (conn) => {
          if (link.attachLane(conn, false)) metrics.lanes.inc({ result: 'up' })
          else conn.destroy()
        }
      },
    })
    this.port = await this.server.listen()
    return this.port
  }

  /** Follows a new link: dials its lane when this end should (see the header). */
  track(link: PeerLink): void {
    this.dialer.set(link, link.isInitiator)
    link.on('lane-offer', () => this.dial(link, 0))
    link.on('lane-reverse', () => {
      if (link.isInitiator) return
      this.dialer.set(link, true)
      this.dial(link, 0)
    })
    link.on('lane', (up) => {
      if (!up) this.dial(link, 1)
    })
    link.once('close', () => {
      clearTimeout(this.retry.get(link))
      this.retry.delete(link)
    })
  }

  /** Offers this node's lane port on an up link (nothing while not listening). */
  offer(link: PeerLink): void {
    if (this.port !== null) link.offerLane(this.port)
  }

  close(): void {
    this.closed = true
    this.server?.close()
    for (const t of this.retry.values()) clearTimeout(t)
    this.retry.clear()
  }

  /** Dials now (failures 0) or after LANE_RETRY_MS doubled per failure (capped). */
  private dial(link: PeerLink, failures: number): void {
    if (!this.mayDial(link)) return
    if (failures === 0) {
      this.dialNow(link, 0)
      return
    }
    const delay = Math.min(LANE_RETRY_MAX_MS, LANE_RETRY_MS * 2 ** (failures - 1))
    clearTimeout(this.retry.get(link))
    const timer = setTimeout(() => {
      this.retry.delete(link)
      this.dialNow(link, failures)
    }, delay)
    timer.unref()
    this.retry.set(link, timer)
  }

  private mayDial(link: PeerLink): boolean {
    return (
      !this.closed &&
      this.dialer.get(link) === true &&
      link.state === 'up' &&
      !link.hasLane &&
      link.peerLanePort !== null &&
      link.conn.handshakeHash != null &&
      link.remoteAddress !== null
    )
  }

  private dialNow(link: PeerLink, failures: number): void {
    if (!this.mayDial(link)) return
    const { metrics, logger, keyPair } = this.opts
    const port = link.peerLanePort!
    const addr = link.remoteAddress!
    void dialLane({
      host: addr.host,
      port,
      keyPair,
      remotePublicKey: link.remotePublicKey,
      linkHash: link.conn.handshakeHash!,
      attach: (conn) => link.attachLane(conn, true),
    }).then((r) => {
      if (r.ok) {
        metrics.lanes.inc({ result: 'up' })
        return
      }
      metrics.lanes.inc({ result: 'dial_failed' })
      logger.debug({ peer: link.peerId, host: addr.host, port, err: r.error }, 'TCP lane dial failed')
      if (failures === 0 && link.isInitiator && this.port !== null && link.state === 'up') {
        // The peer may reach us where we cannot reach it (we found it behind its NAT): it dials from now on.
        this.dialer.set(link, false)
        link.askLaneReverse()
        return
      }
      this.dial(link, failures + 1)
    })
  }
}
