// Time and chance for the bus: a Clock (what time is it), a Scheduler (run this later) and an Rng. All are
// injected so the router never calls Date.now, setTimeout or Math.random itself; tests drive a virtual
// clock and a seeded Rng and get the same run every time, the daemon passes the system ones below.

import { randomBytes, randomInt } from 'node:crypto'
import { deferToTurnEnd } from '../os/turn.js'
import type { Clock, Rng } from '../protocols/core/index.js'

export type { Clock, Rng }

/** An opaque handle from setTimer. */
export type TimerHandle = object | number

export interface Scheduler {
  /** Runs `fn` once, `ms` milliseconds from now. */
  setTimer(ms: number, fn: () => void): TimerHandle
  clearTimer(handle: TimerHandle): void
  /**
   * Runs `fn` once the current burst of synchronous work is over. The router flushes link queues here, so
   * every message sent in one turn of the event loop goes out in as few link writes as possible.
   */
  defer(fn: () => void): void
}

/** Wall-clock milliseconds: envelope timestamps are read by other nodes, so they are Unix time. */
export const systemClock: Clock = { now: () => Date.now() }

export const systemScheduler: Scheduler = {
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms)
    // Request timeouts and retries must not keep a process alive on their own.
    t.unref()
    return t
  },
  clearTimer(handle) {
    clearTimeout(handle as NodeJS.Timeout)
  },
  // At the end of the read that brought the messages in (a client's chunk, a lane's), else after the turn's
  // I/O (os/turn.ts); never a microtask: a publisher awaiting each publish() yields to microtasks after every
  // message, which would flush one message per link write.
  defer(fn) {
    deferToTurnEnd(fn)
  },
}

/** Randomness for message-id epochs and retry jitter in the daemon; tests pass a SeededRng instead. */
const unit = () => randomInt(0, 2 ** 48 - 1) / 2 ** 48

export const systemRng: Rng = {
  next: unit,
  int: (lo, hi) => lo + Math.floor(unit() * (hi - lo + 1)),
  bytes: (n) => new Uint8Array(randomBytes(n)),
}
