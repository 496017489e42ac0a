// Typed errors of the routing layer for caller mistakes (bad options, records we refuse to encode, sequence
// numbers going backwards). Bad bytes from the network are DecodeErrors (codec.ts), and records refused by the
// database are results, not exceptions: a router sees them every day.

export type RoutingErrorCode =
  | 'INVALID_OPTIONS'
  | 'INVALID_RECORD'
  | 'SEQUENCE_EXHAUSTED'
  | 'LOCAL_RECORD_NOT_NEWER'
  | 'NOT_LOCAL_ORIGIN'

export class RoutingError extends Error {
  readonly code: RoutingErrorCode

  constructor(code: RoutingErrorCode, message: string) {
    super(message)
    this.name = 'RoutingError'
    this.code = code
  }
}

/** Validates one numeric option; options come from config, so the message names the option. */
export function checkOption(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new RoutingError('INVALID_OPTIONS', `${name} must be a number in [${min}, ${max}], got ${value}`)
  }
  return value
}
