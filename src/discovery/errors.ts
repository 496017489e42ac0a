// Typed errors of the discovery layer. Each has a stable code the daemon logs and `blackroad status` shows;
// callers branch on `code`, never on message text.

export type DiscoveryErrorCode =
  /** A "host:port" or static-peer string that cannot be parsed. */
  | 'INVALID_ADDRESS'
  /** A federation secret that is missing or too short to keep the topic unguessable. */
  | 'INVALID_SECRET'
  /** Options that contradict each other or are out of range. */
  | 'INVALID_OPTIONS'
  /** A UDP port this node must own (bootstrap node, extra DHT nodes) could not be bound. */
  | 'BIND_FAILED'
  /** start() after close(), or start() twice. */
  | 'CLOSED'

export class DiscoveryError extends Error {
  override readonly name = 'DiscoveryError'

  constructor(
    readonly code: DiscoveryErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}
