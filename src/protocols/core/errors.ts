// Typed errors shared by protocols. A protocol that finds its own state impossible throws ProtocolError
// (TigerBeetle's habit: assertions stay on in production), and drivers tell it apart from a bug in
// themselves by `code`.

export type ProtocolErrorCode =
  /** An internal invariant of the machine does not hold: a bug, never a network condition. */
  | 'ASSERTION'
  /** The driver handed the machine something it never asked for (a timer it did not set...). */
  | 'UNEXPECTED_INPUT'
  /** The protocol was built with a configuration it cannot run with. */
  | 'BAD_CONFIG'
  /** A seed or range given to the Rng is not an integer it can honour. */
  | 'RNG_RANGE'

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError'

  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/** Asserts an internal invariant; the message should say which one, in the protocol's own terms. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ProtocolError('ASSERTION', message)
}
