// Typed errors of the identity layer. Each class has a closed set of stable codes that the API, CLI and
// logs show next to a human message; callers branch on `code`, never on message text.

export type KeyErrorCode = 'KEY_FILE_INSECURE' | 'KEY_FILE_MALFORMED' | 'KEY_INVALID'

export type TrustErrorCode =
  | 'BAD_SIGNATURE'
  | 'EXPIRED'
  | 'NOT_YET_VALID'
  | 'OTHER_FEDERATION'
  | 'MALFORMED'
  | 'REVOKED'
  | 'KEY_MISMATCH'
  | 'WRONG_KIND'
  | 'UNTRUSTED_SIGNER'

export type TokenErrorCode =
  | 'TOKEN_MALFORMED'
  | 'TOKEN_BAD_SIGNATURE'
  | 'TOKEN_EXPIRED'
  | 'TOKEN_NOT_YET_VALID'
  | 'TOKEN_OTHER_FEDERATION'

export type FederationErrorCode =
  | 'FEDERATION_EXISTS'
  | 'FEDERATION_NOT_FOUND'
  | 'FEDERATION_MALFORMED'
  | 'FEDERATION_INVALID_NAME'

export type IdentityErrorCode = KeyErrorCode | TrustErrorCode | TokenErrorCode | FederationErrorCode

/** Base of every identity error, so a caller can catch the whole layer with one instanceof. */
export abstract class IdentityError<C extends IdentityErrorCode = IdentityErrorCode> extends Error {
  constructor(
    readonly code: C,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** A key or key file that cannot be used (wrong size, unreadable format, unsafe permissions). */
export class KeyError extends IdentityError<KeyErrorCode> {
  override readonly name = 'KeyError'
}

/** A signed object (record, certificate, revocation) that must not be trusted. */
export class TrustError extends IdentityError<TrustErrorCode> {
  override readonly name = 'TrustError'
}

/** A join token that must not be accepted. */
export class TokenError extends IdentityError<TokenErrorCode> {
  override readonly name = 'TokenError'
}

/** Federation state on disk that is missing, already present or unreadable. */
export class FederationError extends IdentityError<FederationErrorCode> {
  override readonly name = 'FederationError'
}
