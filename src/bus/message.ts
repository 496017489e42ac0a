// The bus message as the router and its clients see it: the Envelope fields with their meanings, the flag
// bits, limits and defaults, and makeEnvelope. Its wire form is in envelope.ts.

import { MAX_NAME_BYTES } from './names.js'

export { MAX_NAME_BYTES }

export const ENVELOPE_VERSION = 1
export const Flag = { ACK_REQUESTED: 1, ACK: 2, REQUEST: 4, REPLY: 8, ERROR: 16 } as const
/** Every defined flag bit; the decoder refuses others. */
export const KNOWN_FLAGS = 31
export const HEADER_BYTES = 18
export const TTL_OFFSET = 2
export const MAX_DESTINATIONS = 64
export const MIN_PRIORITY = 1
export const MAX_PRIORITY = 10
export const DEFAULT_PRIORITY = 5
/**
 * Default priority of requests (and so of their replies, which inherit it): above DEFAULT_PRIORITY, because a
 * request has a caller waiting on it, while publishes and sends at the default are usually a stream that can
 * queue. Without it a request that shares a link with a bulk publisher waits behind that link's whole queue.
 */
export const REQUEST_PRIORITY = 7
export const DEFAULT_TTL = 16
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024
export const MAX_TIMESTAMP = 2 ** 48 - 1

export interface Envelope {
  readonly flags: number
  readonly ttl: number
  readonly priority: number
  readonly epoch: number
  readonly seq: number
  /** ms since the Unix epoch on the origin router's clock; informational (latency metrics, logs). */
  readonly timestamp: number
  readonly srcNode: string
  /** '' when the router itself (or a protocol inside it) sent the message. */
  readonly srcAgent: string
  /** Destination nodes: exactly one for a direct message; for a subject, the nodes that subscribe. */
  readonly to: readonly string[]
  /** '' unless addressed to one agent on `to[0]`. */
  readonly agent: string
  /** '' unless published to a subject (a direct message may carry one too, as a label). */
  readonly subject: string
  /** Where replies go; both '' unless the REQUEST flag is set. */
  readonly replyNode: string
  readonly replyAgent: string
  /** For ACK and REPLY: the id (epoch, seq) of the message answered; 0 otherwise. */
  readonly corrEpoch: number
  readonly corrSeq: number
  /** A view of the received bytes (or the caller's buffer); copy it to keep it beyond the handler. */
  readonly payload: Uint8Array
}

export interface EnvelopeLimits {
  /** Largest payload accepted; default 1 MiB. */
  maxPayloadBytes?: number
}

/** Builds an envelope with defaults; every envelope has the same shape, which keeps the hot path monomorphic. */
export function makeEnvelope(f: Partial<Envelope> & Pick<Envelope, 'srcNode' | 'to'>): Envelope {
  return {
    flags: f.flags ?? 0,
    ttl: f.ttl ?? DEFAULT_TTL,
    priority: f.priority ?? DEFAULT_PRIORITY,
    epoch: f.epoch ?? 0,
    seq: f.seq ?? 0,
    timestamp: f.timestamp ?? 0,
    srcNode: f.srcNode,
    srcAgent: f.srcAgent ?? '',
    to: f.to,
    agent: f.agent ?? '',
    subject: f.subject ?? '',
    replyNode: f.replyNode ?? '',
    replyAgent: f.replyAgent ?? '',
    corrEpoch: f.corrEpoch ?? 0,
    corrSeq: f.corrSeq ?? 0,
    payload: f.payload ?? EMPTY,
  }
}

const EMPTY = new Uint8Array(0)

/**
 * `e` with another sequence number, destination list and payload, copied field by field: the same shape as
 * every other envelope, where an object spread with overrides takes V8's slow path of object cloning.
 */
export function envelopeWith(e: Envelope, seq: number, to: readonly string[], payload: Uint8Array): Envelope {
  return {
    flags: e.flags,
    ttl: e.ttl,
    priority: e.priority,
    epoch: e.epoch,
    seq,
    timestamp: e.timestamp,
    srcNode: e.srcNode,
    srcAgent: e.srcAgent,
    to,
    agent: e.agent,
    subject: e.subject,
    replyNode: e.replyNode,
    replyAgent: e.replyAgent,
    corrEpoch: e.corrEpoch,
    corrSeq: e.corrSeq,
    payload,
  }
}
