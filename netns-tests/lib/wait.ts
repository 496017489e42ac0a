// Bounded polling. Tests never sleep for a guessed time and hope: they poll a condition with a deadline and an
// attempt cap, and on timeout the error says what was awaited and the last thing the probe said (netns.sh's
// waitiface / waitiperf, as a function).

import { setTimeout as sleepMs } from 'node:timers/promises'
import { HarnessError } from './errors.js'

export { sleepMs }

export interface WaitOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number
  /** Pause between attempts (default 100 ms). */
  intervalMs?: number
  /** What is awaited, for the error message: "b's daemon socket", "ping a->b". */
  what?: string
  /** Stop early (e.g. the test's t.signal). */
  signal?: AbortSignal
}

/**
 * Calls probe until it returns a value other than false/undefined/null, and returns that value. A probe that
 * throws counts as "not yet" and its error is reported if time runs out. Bounded both by time and by the number
 * of attempts (timeout / interval + 2), so a probe that returns instantly cannot spin.
 */
export async function waitFor<T>(
  probe: () => Promise<T | false | undefined | null> | T | false | undefined | null,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  const intervalMs = Math.max(1, opts.intervalMs ?? 100)
  const what = opts.what ?? 'condition'
  const deadline = performance.now() + timeoutMs
  const maxAttempts = Math.ceil(timeoutMs / intervalMs) + 2
  let lastError: unknown
  let attempts = 0
  while (attempts < maxAttempts) {
    attempts++
    if (opts.signal?.aborted) {
      throw new HarnessError(
        'WAIT_TIMEOUT',
        `aborted while waiting for ${what}`,
        { attempts },
        { cause: opts.signal.reason },
      )
    }
    try {
      const v = await probe()
      if (v !== false && v !== undefined && v !== null) return v
      lastError = undefined
    } catch (err) {
      lastError = err
    }
    const left = deadline - performance.now()
    if (left <= 0) break
    await sleepMs(Math.min(intervalMs, left))
  }
  const last =
    lastError === undefined
      ? ''
      : `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`
  throw new HarnessError(
    'WAIT_TIMEOUT',
    `timed out after ${timeoutMs} ms (${attempts} attempts) waiting for ${what}${last}`,
    { what, timeoutMs, attempts },
    lastError instanceof Error ? { cause: lastError } : undefined,
  )
}
