// The shapes peer links are built from and report with: the connection a link runs on, the trust and timing
// options, link events, and the mapping from certificate errors to link reasons. Kept apart from link.ts so
// the manager, the tests and the daemon can name them without pulling in the implementation.

import type { Logger } from 'pino'
import type { NodeCertificate } from '../identity/index.js'
import type { LinkReason } from './errors.js'
import type { TransportMetrics } from './metrics.js'

/** What a link needs from a connection; hyperswarm's NoiseSecretStream is one. */
export interface RawConnection {
  /** The peer's Ed25519 key, authenticated by the Noise handshake. */
  readonly remotePublicKey: Uint8Array
  readonly isInitiator: boolean
  /** Identical on both ends of one connection; used to break ties between duplicates. */
  readonly handshakeHash?: Uint8Array | null
  readonly rawStream?: { remoteHost?: string; remotePort?: number } | null
  readonly destroyed?: boolean
  /** One call = one message on the other side. False = buffer full: wait for 'drain'. */
  write(data: Uint8Array): boolean
  /**
   * One unreliable datagram on the same encrypted connection (secret-stream over UDX: its own packet, no ack,
   * no retransmission), arriving as a 'message' event or not at all. Absent on connections without it.
   */
  trySend?(data: Uint8Array): void
  /** The connection's own keepalive (an empty message after this much write silence); 0 turns it off. */
  setKeepAlive?(ms: number): void
  /** Stop and restart 'data' events; what arrives meanwhile waits in the stream (and holds the sender back). */
  pause?(): unknown
  resume?(): unknown
  end(): void
  destroy(err?: Error): void
  on(event: 'data' | 'message', fn: (data: Uint8Array) => void): unknown
  on(event: 'drain' | 'end' | 'close', fn: () => void): unknown
  on(event: 'error', fn: (err: Error) => void): unknown
}

export interface TrustOptions {
  rootPublicKey: Uint8Array
  federationId: string
  /** Injected revocation check (the registry's RevocationSet.isRevoked). */
  isRevoked?: (cert: NodeCertificate) => boolean
  clockSkewMs?: number
}

export interface LinkTimings {
  /** Largest frame we accept, advertised to the peer (default 1 MiB). */
  maxFrameBytes?: number
  /** Certificates must be exchanged within this (default 10 s). */
  helloTimeoutMs?: number
  /**
   * A PING goes out this often on an up link (default 1 s), unless channel data or a datagram arrived within
   * the interval: traffic already proves the peer is there (routing probes flow as datagrams every 200 ms)...
   */
  keepAliveIntervalMs?: number
  /** ...and a link that received nothing for this long is dead (default 5 s). */
  deadAfterMs?: number
}

export interface PeerLinkOptions extends LinkTimings {
  /** Our encoded node certificate (encodeCertificate). */
  certificate: Uint8Array
  trust: TrustOptions
  metrics: TransportMetrics
  /** Channel names this side sends and accepts; default routing, bus. */
  channels?: Iterable<string>
  logger?: Logger
  /** Wall clock for certificate validity, unix ms (default Date.now). */
  now?: () => number
}

/** Routing probes are not a channel: they travel as datagrams (PeerLink.sendDatagram). */
export const DEFAULT_CHANNELS: readonly string[] = ['routing', 'bus']

export type LinkState = 'handshaking' | 'up' | 'closed'

export interface LinkCloseInfo {
  /** The link had come up (otherwise this close is a refusal). */
  wasUp: boolean
  /** The reason the peer gave in its CLOSE frame, if any (untrusted text, for logs). */
  remoteReason?: string
  error?: Error
}

export interface PeerLinkEvents {
  up: [certificate: NodeCertificate]
  message: [channel: string, payload: Uint8Array]
  /** A datagram from the peer (1..MAX_DATAGRAM_BYTES bytes; the first names its kind), only while up. */
  datagram: [payload: Uint8Array]
  certificate: [certificate: NodeCertificate]
  drain: []
  close: [reason: LinkReason, info: LinkCloseInfo]
  /** The peer offered a TCP lane on this port (lane.ts). */
  'lane-offer': [port: number]
  /** The peer (the link's initiator) could not reach our lane port: this end dials the peer's instead. */
  'lane-reverse': []
  /** A TCP lane came up (reason null) or went (why). */
  lane: [up: boolean, reason: string | null]
}

/**
 * Handshake endings that are not refusals: our own shutdown, and a connection that went away on its own
 * (hyperswarm routinely destroys one of two crossing connections mid-handshake). Not counted as rejected.
 */
export const NOT_A_REFUSAL: ReadonlySet<LinkReason> = new Set([
  'local_close',
  'duplicate',
  'superseded',
  'connection_lost',
])

/** One channel of a link, as the layers above see it (Channel implements it). */
export interface LinkChannel {
  readonly name: string
  send(payload: Uint8Array): boolean
  drained(): Promise<void>
  on(event: 'message', fn: (payload: Uint8Array) => void): unknown
}

/**
 * What the layers above (bus, routing probes) use of a peer link: PeerLink implements it, and a test of
 * those layers can fake it without sockets.
 */
export interface Link {
  readonly state: LinkState
  readonly peerId: string | null
  readonly peerCertificate: NodeCertificate | null
  /** The underlay address the link uses (the peer's WireGuard endpoint candidate). */
  readonly remoteAddress: { host: string; port: number } | null
  readonly rttMs: number | null
  send(channel: string, payload: Uint8Array): boolean
  /** Sends one unreliable datagram; false when the link is not up or the connection has no datagrams. */
  sendDatagram(payload: Uint8Array): boolean
  drained(): Promise<void>
  channel(name: string): LinkChannel
  close(reason?: LinkReason): void
  on(event: 'message', fn: (channel: string, payload: Uint8Array) => void): unknown
  on(event: 'datagram', fn: (payload: Uint8Array) => void): unknown
  on(event: 'close', fn: (reason: LinkReason, info: LinkCloseInfo) => void): unknown
}
