// Static peers: configured node keys with the address of their DHT node, dialled directly. The handshake
// goes straight to the peer's own DHT node (`relayAddresses: [host:port]`), which answers for its own
// server, so no DHT lookup is needed and it works on a LAN with no DHT at all; the peer's DHT UDP port must
// be reachable from here. A static peer is dialled at start and again, with exponential backoff, whenever no
// connection to it is open (from this dialer or from the topic). The backoff resets only after a connection
// that lasted STABLE_MS, so a peer that accepts and then drops us (say, it refuses our certificate) is not
// redialled every second.

import type NoiseSecretStream from '@hyperswarm/secret-stream'
import type HyperDHT from 'hyperdht'
import type { Logger } from 'pino'
import { formatHostPort, type StaticPeer } from './addresses.js'

export interface StaticDialerOptions {
  /** Peers with a key (address-only entries are DHT contacts, not dialled). */
  peers: readonly StaticPeer[]
  keyPair: { publicKey: Buffer; secretKey: Buffer }
  minRetryMs: number
  maxRetryMs: number
  logger: Logger
  /** Whether any connection to this key (hex) is open, whoever made it. */
  isConnected: (key: string) => boolean
  /** An opened connection; the owner tracks it and calls disconnected() when the last one to the key closes. */
  onOpen: (conn: NoiseSecretStream) => void
}

const STABLE_MS = 15_000

interface Dial {
  peer: StaticPeer & { publicKey: Buffer }
  key: string
  timer: NodeJS.Timeout | null
  backoffMs: number
  pending: NoiseSecretStream | null
  openedAt: number
}

export class StaticDialer {
  private readonly dials: Dial[] = []
  private dht: HyperDHT | null = null
  private closed = false

  constructor(private readonly opts: StaticDialerOptions) {
    for (const peer of opts.peers) {
      if (peer.publicKey === null) continue
      const key = peer.publicKey.toString('hex')
      this.dials.push({
        peer: { ...peer, publicKey: peer.publicKey },
        key,
        timer: null,
        backoffMs: opts.minRetryMs,
        pending: null,
        openedAt: 0,
      })
    }
  }

  start(dht: HyperDHT): void {
    this.dht = dht
    for (const d of this.dials) this.dial(d)
  }

  /** The last open connection to `key` closed: redial it if it is a static peer. */
  disconnected(key: string): void {
    const d = this.dials.find((x) => x.key === key)
    if (!d) return
    if (d.openedAt > 0 && Date.now() - d.openedAt >= STABLE_MS) d.backoffMs = this.opts.minRetryMs
    this.retryLater(d)
  }

  close(): void {
    this.closed = true
    for (const d of this.dials) {
      if (d.timer) clearTimeout(d.timer)
      d.timer = null
      d.pending?.destroy()
    }
  }

  private schedule(d: Dial, delayMs: number): void {
    if (this.closed || d.timer) return
    d.timer = setTimeout(() => {
      d.timer = null
      this.dial(d)
    }, delayMs)
  }

  private dial(d: Dial): void {
    if (!this.dht || this.closed || d.pending || this.opts.isConnected(d.key)) return
    const conn = this.dht.connect(d.peer.publicKey, {
      keyPair: this.opts.keyPair,
      relayAddresses: [{ host: d.peer.host, port: d.peer.port }],
    })
    d.pending = conn
    let opened = false
    conn.on('error', (err: Error & { code?: string }) => {
      if (!opened)
        this.opts.logger.debug({ peer: formatHostPort(d.peer), code: err.code }, 'static peer dial failed')
    })
    conn.once('open', () => {
      opened = true
      d.pending = null
      d.openedAt = Date.now()
      this.opts.onOpen(conn)
    })
    conn.once('close', () => {
      if (opened) return // the owner calls disconnected() when the last connection to the peer closes
      d.pending = null
      this.retryLater(d)
    })
  }

  private retryLater(d: Dial): void {
    const wait = d.backoffMs
    d.backoffMs = Math.min(d.backoffMs * 2, this.opts.maxRetryMs)
    this.schedule(d, wait)
  }
}
