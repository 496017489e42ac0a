// Typed errors of the data-plane layer. Callers (routing, the daemon, the API) branch on `code`, never on message
// text; `cause` keeps the underlying ExecError (with its command line and stderr) for the logs.

export type WireGuardErrorCode =
  /** `wg show dump` output we cannot read: a tool version we do not understand, or garbage. */
  | 'WG_DUMP_INVALID'
  /** A desired state that cannot be applied as given (bad key, CIDR, endpoint, duplicate peer...). */
  | 'WG_CONFIG_INVALID'
  /** Neither the kernel module nor wireguard-go is usable, or `wg` is missing. */
  | 'WG_NO_BACKEND'
  /** The interface name is served by someone else (a live wireguard-go socket we did not start). */
  | 'WG_NAME_IN_USE'
  /** The interface could not be created, or wireguard-go did not come up. */
  | 'WG_START_FAILED'
  /** reconfigure()/stats() before up(), or up() twice. */
  | 'WG_NOT_UP'
  | 'WG_ALREADY_UP'
  /** A `wg`/`ip`/`sysctl` call failed while applying; `cause` says which. */
  | 'WG_APPLY_FAILED'
  /** down() could not remove everything; `causes` lists what failed. */
  | 'WG_DOWN_INCOMPLETE'

export class WireGuardError extends Error {
  readonly code: WireGuardErrorCode
  readonly causes: unknown[]

  constructor(code: WireGuardErrorCode, message: string, options?: { cause?: unknown; causes?: unknown[] }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined)
    this.name = 'WireGuardError'
    this.code = code
    this.causes = options?.causes ?? (options?.cause !== undefined ? [options.cause] : [])
  }
}

/** Thrown by the `wg show dump` parser: which line (1-based) and why. */
export class DumpParseError extends WireGuardError {
  readonly line: number

  constructor(line: number, reason: string) {
    super('WG_DUMP_INVALID', `wg show dump, line ${line}: ${reason}`)
    this.name = 'DumpParseError'
    this.line = line
  }
}

export function configInvalid(message: string): WireGuardError {
  return new WireGuardError('WG_CONFIG_INVALID', message)
}
