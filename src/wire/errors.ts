// Typed errors for the wire layer. Decoders run on bytes from the network and from disk, so every way
// a buffer can be wrong maps to one DecodeError with a stable `code` and a machine-readable `reason`;
// callers catch by code and never see a RangeError or TypeError from deep inside a parser.

/** Why a decode failed; stable strings that logs, metrics and tests can match on. */
export type DecodeReason =
  | 'truncated'
  | 'length-exceeds-max'
  | 'overlong-varint'
  | 'varint-too-large'
  | 'invalid-utf8'
  | 'invalid-bool'
  | 'trailing-bytes'
  | 'invalid-base64url'
  | 'invalid-hex'
  | 'invalid-base32'
  | 'unsupported-version'
  | 'unknown-tag'
  | 'non-canonical'
  | 'invalid-value'

export class DecodeError extends Error {
  readonly code = 'DECODE_ERROR' as const
  override readonly name = 'DecodeError'

  constructor(
    readonly reason: DecodeReason,
    message: string,
    /** Byte offset in the input where the problem was found, when there is one. */
    readonly offset?: number,
  ) {
    super(offset === undefined ? message : `${message} (at byte ${offset})`)
  }
}

/**
 * Thrown by a Writer for a value that has no encoding (a negative or fractional integer, a string with a
 * lone surrogate). This is a programming error on the sending side, so it is a separate class: a decoder's
 * caller should never have to handle it.
 */
export class EncodeError extends Error {
  readonly code = 'ENCODE_ERROR' as const
  override readonly name = 'EncodeError'
}

export function isDecodeError(err: unknown): err is DecodeError {
  return err instanceof DecodeError
}
