// Typed errors of the netns test harness. Every failure the harness itself detects carries a stable code, so a
// test (or the lead reading CI output) can tell "the lab could not be built" from "the system under test
// misbehaved", and the message always says what was being done and what came back.

export type HarnessErrorCode =
  | 'NOT_ROOT' // network namespaces need root
  | 'DEPS_MISSING' // a binary or the nfqdelay build is missing: run scripts/ensure-deps.sh
  | 'BAD_NAME' // a host/bridge name or interface name breaks the naming rules
  | 'DUPLICATE' // a name used twice in one lab
  | 'LAB_CLOSED' // the lab was already cleaned up
  | 'EXEC_FAILED' // a command exited non-zero (or by a signal) where success was required
  | 'EXEC_TIMEOUT' // a command ran past its time budget and was killed
  | 'SPAWN_FAILED' // a long-lived process could not be started
  | 'STOP_FAILED' // a process did not exit even after SIGKILL, or exited with an unexpected status
  | 'WAIT_TIMEOUT' // waitFor gave up
  | 'ADDRESS_PLAN' // the address plan ran out, or an address was asked for where none exists
  | 'FAULT' // installing a fault (delay, loss, cut) failed
  | 'DELAY_PROGRAM' // nfqdelay failed to start or to answer
  | 'DAEMON' // a blackroad daemon failed to start, answer or stop
  | 'NOT_CLEAN' // assertClean found leftovers

export class HarnessError extends Error {
  readonly code: HarnessErrorCode
  readonly details: Record<string, unknown>

  constructor(
    code: HarnessErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(`[${code}] ${message}`, options)
    this.name = 'HarnessError'
    this.code = code
    this.details = details
  }
}

/** True when err is a HarnessError with the given code: lets tests assert on codes without instanceof chains. */
export function isHarnessError(err: unknown, code?: HarnessErrorCode): err is HarnessError {
  return err instanceof HarnessError && (code === undefined || err.code === code)
}
