// Typed errors of the Raft storage layer. A torn tail is not an error (it is repaired on open and reported
// in OpenReport); these are the conditions no repair can make safe, where a node must stop rather than run
// on state that may be missing acknowledged data.

export type RaftLogErrorCode =
  /** Damage before the last intact record: acknowledged data would be lost by truncating, so we refuse. */
  | 'LOG_CORRUPT'
  /** The snapshot file fails its checksum or does not decode. */
  | 'SNAPSHOT_CORRUPT'
  /** The files decode but contradict each other or Raft's rules (a gap in the log, a base after the end). */
  | 'INCONSISTENT'
  /** save() was handed a state that goes backwards (a lower term, a vote changed within a term). */
  | 'BAD_STATE'
  /** The store was closed, or a previous write failed and left it unusable until reopened. */
  | 'CLOSED'

export class RaftLogError extends Error {
  override readonly name = 'RaftLogError'

  constructor(
    readonly code: RaftLogErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}
