// The bus's boundaries: what it needs from a peer link, the policy hook, addresses and handlers, and the
// limits every queue and table is held to. Kept apart from the router so the daemon (and tests) can build
// links and policies against these types alone.

import type { Registry } from 'prom-client'
import type { Envelope } from './envelope.js'
import { DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_TTL, maxEnvelopeBytes } from './envelope.js'
import { BusError } from './errors.js'
import { MAX_PATTERNS_PER_NODE } from './interest.js'
import type { Run } from './runs.js'
import type { Clock, Rng, Scheduler } from './scheduler.js'

/**
 * The narrow view of a peer link the bus uses; the transport's channel "bus" fits it with a small adapter.
 * Frames the link receives are handed to BusRouter.receive(peerId, frame).
 */
export interface BusLink {
  /** The node id of the router on the other end. */
  readonly peerId: string
  /** Largest frame the peer accepts; batches are cut to fit. Default: no limit beyond the bus's own. */
  readonly maxFrameBytes?: number
  /**
   * Hands one frame to the link; it is always taken. false means the link's buffer is full: the bus sends
   * nothing more until the link calls the onDrain callback.
   */
  send(frame: Uint8Array): boolean
  /**
   * Optional: as send, for a frame of `n` bytes that `fill` writes at `out[at]` (with up to `room` bytes there
   * as its working space), so a link that seals frames into a buffer of its own can have them written there.
   */
  sendWith?(n: number, room: number, fill: (out: Buffer, at: number) => void): boolean
  /** Registers the callback the link calls when it can take frames again after send returned false. */
  onDrain(cb: () => void): void
}

/** Where a direct message or a reply goes: an agent on a node ('' = the node's router itself). */
export interface Address {
  readonly node: string
  readonly agent: string
}

export type PolicyDirection = 'ingress' | 'egress'
/**
 * A refusal's `code` names the rule that refused; the sender sees BusError RATE_LIMITED when the code is
 * 'RATE_LIMITED' (a rate-limit policy), POLICY_DENIED otherwise.
 */
export type PolicyDecision = { allow: true } | { allow: false; code: string; reason: string }

/** The BusError a policy refusal becomes, and the drop reason it is counted under. */
export function policyRefusal(d: { code: string; reason: string }): {
  error: BusError
  drop: 'policy_denied' | 'rate_limited'
} {
  const limited = d.code === 'RATE_LIMITED'
  return {
    error: new BusError(limited ? 'RATE_LIMITED' : 'POLICY_DENIED', `${d.code}: ${d.reason}`),
    drop: limited ? 'rate_limited' : 'policy_denied',
  }
}
/**
 * Network policy enforcement point. Called with 'ingress' where a message enters the bus (the origin
 * router, before anything is sent) and with 'egress' at the destination router before local delivery.
 * Replies and acks answer a message the policy already let through and are not checked again.
 * Must be synchronous and fast: it runs once per message on the hot path.
 */
export type PolicyHook = (envelope: Envelope, direction: PolicyDirection) => PolicyDecision

/**
 * A local receiver: a subscriber, an agent, or the node-level handler. Exceptions are caught and counted.
 * `via` is the neighbour whose peer link delivered the message (null when it originated on this router):
 * when it equals `msg.srcNode`, the link's handshake authenticated the source.
 */
export type MessageHandler = (msg: Envelope, via: string | null) => void

/**
 * Takes a run of messages (runs.ts) at once: what a receiver that writes messages out in bulk (a stream
 * connection) gives besides its MessageHandler. The run's buffers are the link's: copy what is kept.
 */
export type RunHandler = (run: Run, via: string | null) => void

/** Routing's answer: the peer to send towards `node` through, or null when it is unreachable. */
export type NextHop = (node: string) => string | null

export interface BusLimits {
  /** Largest payload; default 1 MiB. Links must accept frames of maxEnvelopeBytes(this) + 8. */
  maxPayloadBytes: number
  /** Hop limit given to messages sent without an explicit ttl. */
  defaultTtl: number
  /** Per-link queue bounds. */
  maxQueueCount: number
  maxQueueBytes: number
  /** A link write carries at most this many bytes / envelopes (one bigger envelope goes alone). */
  maxBatchBytes: number
  maxBatchCount: number
  /** Sends waiting for queue space, beyond which a send fails at once with QUEUE_FULL. */
  maxBlockedSends: number
  /** How long a send may wait for queue space before failing with BACKPRESSURE. */
  sendTimeoutMs: number
  requestTimeoutMs: number
  maxPendingRequests: number
  maxPendingAcks: number
  ackTimeoutMs: number
  maxBackoffMs: number
  maxAttempts: number
  dedupCapacity: number
  dedupWindowMs: number
  interestRefreshMs: number
  interestTtlMs: number
  maxInterestNodes: number
  /** Distinct patterns this node's subscribers may use (the interest record's size). */
  maxPatterns: number
  maxSubscriptions: number
}

export const DEFAULT_LIMITS: Readonly<BusLimits> = Object.freeze({
  maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
  defaultTtl: DEFAULT_TTL,
  maxQueueCount: 32_768,
  maxQueueBytes: 16 * 1024 * 1024,
  maxBatchBytes: 64 * 1024,
  maxBatchCount: 1024,
  maxBlockedSends: 4096,
  sendTimeoutMs: 10_000,
  requestTimeoutMs: 5_000,
  maxPendingRequests: 65_536,
  maxPendingAcks: 65_536,
  ackTimeoutMs: 250,
  maxBackoffMs: 8_000,
  // 250 ms doubling to 8 s: about 30 s of retrying, well inside the dedup window's guaranteed 60 s.
  maxAttempts: 8,
  dedupCapacity: 262_144,
  dedupWindowMs: 120_000,
  interestRefreshMs: 30_000,
  interestTtlMs: 95_000,
  maxInterestNodes: 4096,
  maxPatterns: MAX_PATTERNS_PER_NODE,
  maxSubscriptions: 100_000,
})

export function resolveLimits(given: Partial<BusLimits> | undefined): BusLimits {
  const l: BusLimits = { ...DEFAULT_LIMITS, ...given }
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isInteger(v) || v <= 0)
      throw new BusError('INVALID_OPTIONS', `limit ${k} must be a positive integer, got ${v}`)
  }
  if (l.defaultTtl > 255) throw new BusError('INVALID_OPTIONS', 'defaultTtl must be 1..255')
  if (l.maxPatterns > MAX_PATTERNS_PER_NODE)
    throw new BusError('INVALID_OPTIONS', `maxPatterns must be at most ${MAX_PATTERNS_PER_NODE}`)
  if (l.maxQueueBytes < maxEnvelopeBytes(l.maxPayloadBytes))
    throw new BusError('INVALID_OPTIONS', 'maxQueueBytes must hold at least one envelope of maxPayloadBytes')
  if (l.interestTtlMs <= l.interestRefreshMs)
    throw new BusError('INVALID_OPTIONS', 'interestTtlMs must exceed interestRefreshMs')
  return l
}

export interface BusOptions {
  /** This router's node id. */
  nodeId: string
  nextHop: NextHop
  clock?: Clock
  scheduler?: Scheduler
  rng?: Rng
  /** Metrics go here; none when absent. */
  registry?: Registry
  policy?: PolicyHook
  limits?: Partial<BusLimits>
}

export interface SendOptions {
  /** 1 (lowest) .. 10 (highest); default 5. Served first on congested links. */
  priority?: number
  /** Hop limit 1..255; default limits.defaultTtl. */
  ttl?: number
  /** At-least-once: the promise resolves once every destination node acked; retries with backoff. */
  reliable?: boolean
  /** The sending agent on this node ('' or absent = the router). */
  from?: string
}

export interface PublishOptions extends SendOptions {
  /** Marks the message as a request whose replies go to this address (handled by the caller). */
  replyTo?: Address
  /**
   * Restricts the fan-out to the subscribing nodes this accepts (e.g. the event scopes: nodes of one cluster
   * or region). Local subscribers are always reached. Default: every subscribing node.
   */
  only?: (node: string) => boolean
}

export interface DirectOptions extends PublishOptions {
  /** A subject label carried with a direct message (no routing meaning). */
  subject?: string
}

export interface RequestOptions extends SendOptions {
  // priority: default REQUEST_PRIORITY (7), above publishes and sends; the reply inherits it.
  /** Default limits.requestTimeoutMs. */
  timeoutMs?: number
  /** A subject label when the request goes to an agent address. */
  subject?: string
}

export interface Subscription {
  readonly pattern: string
  unsubscribe(): void
}
