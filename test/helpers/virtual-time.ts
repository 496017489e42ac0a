// Virtual time for tests of timer-driven code (the routing driver's probes, paces and link timers): setTimeout,
// setInterval and Date are node:test's mock timers, and time moves only when the test advances it, one
// millisecond at a time, with a turn of the real event loop after each so setImmediate work (the driver's
// recompute) runs at the millisecond it was queued in. A loaded test machine cannot stretch a round trip or
// delay a probe: every run of a test sees the same schedule, and its time bounds are exact.
//
// Node 20's tick(n) sets the clock to the end of the n ms before it fires the timers inside them, and skips
// timers those timers start: hence the single-millisecond steps.

import { afterEach, beforeEach, mock } from 'node:test'

const realImmediate = globalThis.setImmediate
const turn = () => new Promise<void>((resolve) => realImmediate(resolve))

/** Mock timers and Date for every test of the calling file, from a fixed start; restored after each test. */
export function useVirtualTime(start = Date.UTC(2026, 0, 1)): void {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: start }))
  afterEach(() => mock.timers.reset())
}

/** The virtual monotonic clock (ms), for code that takes one (RoutingDriver's monotonicNow). */
export const virtualNow = (): number => Date.now()

/** Moves virtual time on by `ms`, firing what falls due on the way. */
export async function advance(ms: number): Promise<void> {
  for (let i = 0; i < ms; i++) {
    mock.timers.tick(1)
    await turn()
  }
}

/**
 * Advances virtual time until `cond` holds, at most `ms`; resolves with the virtual ms it took. `what` names the
 * condition in the timeout error (a function: read at the timeout).
 */
export async function until(what: string | (() => string), cond: () => boolean, ms: number): Promise<number> {
  const start = Date.now()
  while (!cond()) {
    if (Date.now() - start >= ms)
      throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`)
    await advance(1)
  }
  return Date.now() - start
}
