// Typed errors and the drop-reason vocabulary of the message bus. Codes are stable strings: the local API
// and the CLI show them, clients switch on them, and drop reasons are the `reason` label of the bus
// metrics, so an operator can connect "my request timed out" with "the link to X was dropping queue_full".

export type BusErrorCode =
  /** A request got no reply within its timeout (or a reliable send no ack within its retries). */
  | 'TIMEOUT'
  /** A send could not be queued before its deadline: the links it needs stayed full. */
  | 'BACKPRESSURE'
  /** Too many sends are already waiting for queue space; refused at once rather than buffered. */
  | 'QUEUE_FULL'
  /** The policy hook refused the message (at this router, or at the destination router). */
  | 'POLICY_DENIED'
  /** A rate-limit policy refused the message: the sender is over its messages per second. */
  | 'RATE_LIMITED'
  /** A request found nobody to answer it: no subscriber anywhere, or no such agent on the destination. */
  | 'NO_RESPONDERS'
  /** The destination node is not reachable: routing has no next hop for it. */
  | 'NO_ROUTE'
  /** Payload or envelope exceeds the configured limit. */
  | 'TOO_LARGE'
  /** A subject or subscription pattern that breaks the grammar (see subjects.ts). */
  | 'INVALID_SUBJECT'
  /** A node id or agent name outside the allowed characters or length. */
  | 'INVALID_ADDRESS'
  /** Options out of range (priority 1-10, ttl 1-255, timeouts > 0...). */
  | 'INVALID_OPTIONS'
  /** A configured bound was reached (subscriptions, patterns, in-flight requests). */
  | 'LIMIT'
  /** The router was closed; pending operations fail with this. */
  | 'CLOSED'
  /** The remote side answered with an error code this version does not know (carried in the message). */
  | 'REMOTE_ERROR'

export class BusError extends Error {
  override readonly name = 'BusError'

  constructor(
    readonly code: BusErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export function isBusError(err: unknown, code?: BusErrorCode): err is BusError {
  return err instanceof BusError && (code === undefined || err.code === code)
}

/** Why the router dropped a message: the `reason` label of blackroad_bus_messages_dropped_total. */
export type DropReason =
  /** A frame or envelope from a link did not decode. */
  | 'malformed'
  /** Over the configured message size, or over the next link's frame limit. */
  | 'too_large'
  /** Hop limit reached before the destination. */
  | 'ttl_expired'
  /** Routing has no next hop (or no link) for the destination. */
  | 'no_route'
  /** A transit message met a full link queue (or was evicted by a higher-priority one). */
  | 'queue_full'
  /** Seen before (retry or duplicate on the path): delivered once, not again. */
  | 'duplicate'
  /** The policy hook refused it. */
  | 'policy_denied'
  /** A rate-limit policy refused it (the sender is over its rate). */
  | 'rate_limited'
  /** Arrived for a subject nobody here subscribes to any more (interest changed in flight). */
  | 'no_interest'
  /** Addressed to an agent not registered on this node. */
  | 'no_agent'
  /** A reply or ack for a request that already finished (timed out, or answered by someone else). */
  | 'late_reply'
  /** Addressed to this node's router with no handler for it. */
  | 'unhandled'
  /** The link went down with messages still queued for it. */
  | 'link_down'
  /** A handler threw; the message counts as delivered-and-failed, never redelivered. */
  | 'handler_error'

export const DROP_REASONS: readonly DropReason[] = [
  'malformed',
  'too_large',
  'ttl_expired',
  'no_route',
  'queue_full',
  'duplicate',
  'policy_denied',
  'rate_limited',
  'no_interest',
  'no_agent',
  'late_reply',
  'unhandled',
  'link_down',
  'handler_error',
]
