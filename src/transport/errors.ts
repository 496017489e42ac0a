// Typed errors and the reason vocabulary of peer links. Reasons are stable snake_case strings: they are the
// `reason` label of the link metrics, the field in logs, and what a CLOSE frame tells the peer, so an
// operator can match "my link to X keeps dropping" with "X refuses my certificate: expired".

/** Why a link was refused before it came up, or why an up link went down. */
export type LinkReason =
  // certificate checks (TrustError codes of src/identity, lowercased; MALFORMED -> malformed_certificate)
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'other_federation'
  | 'malformed_certificate'
  | 'revoked'
  | 'key_mismatch'
  | 'wrong_kind'
  | 'untrusted_signer'
  // protocol
  | 'unsupported_version'
  | 'hello_timeout'
  | 'malformed_frame'
  | 'oversize_frame'
  | 'protocol_violation'
  | 'self'
  /** A bug on this side (an exception where none was expected); logged at error level. */
  | 'internal_error'
  // lifecycle
  | 'remote_rejected'
  | 'remote_closed'
  | 'connection_lost'
  | 'keepalive_timeout'
  | 'duplicate'
  | 'superseded'
  | 'local_close'

export type LinkErrorCode =
  /** The handshake failed; `reason` says why. */
  | 'LINK_REJECTED'
  /** The link is closed (or closed while waiting); `reason` says why. */
  | 'LINK_CLOSED'
  /** A payload too large for the peer's advertised frame limit. */
  | 'FRAME_TOO_LARGE'
  /** send() on a channel name this node has not registered. */
  | 'UNKNOWN_CHANNEL'
  /** A channel name outside [a-z][a-z0-9._-]{0,31}. */
  | 'INVALID_CHANNEL'
  /** send() before the link is up. */
  | 'NOT_READY'
  | 'INVALID_OPTIONS'

export class LinkError extends Error {
  override readonly name = 'LinkError'

  constructor(
    readonly code: LinkErrorCode,
    message: string,
    readonly reason?: LinkReason,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}
