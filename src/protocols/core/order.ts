// The order in which a driver applies one batch of outputs. Both drivers (the daemon's and the simulator's)
// use this table so they cannot drift apart: the simulator's crash model is only a faithful test of the
// daemon if the daemon also makes state durable before anything that depends on it leaves the node.

import type { Output, Outputs, ProtocolTypes } from './types.js'

/** persist (fsync) → timers (volatile, local) → send → reply / effect. */
export const OUTPUT_PHASE: Readonly<Record<Output<ProtocolTypes>['type'], number>> = {
  persist: 0,
  setTimer: 1,
  cancelTimer: 1,
  send: 2,
  reply: 3,
  effect: 3,
}

/**
 * The batch in driver order, stable within a phase. Returns the input array itself when it is already in
 * order, which is the common case, so the hot path allocates nothing.
 */
export function inDriverOrder<T extends ProtocolTypes>(outputs: Outputs<T>): Outputs<T> {
  let last = 0
  for (const o of outputs) {
    const phase = OUTPUT_PHASE[o.type]
    if (phase < last) return sortByPhase(outputs)
    last = phase
  }
  return outputs
}

function sortByPhase<T extends ProtocolTypes>(outputs: Outputs<T>): Outputs<T> {
  // Array.prototype.sort is stable since ES2019, which keeps sends to one peer in the order written.
  return [...outputs].sort((a, b) => OUTPUT_PHASE[a.type] - OUTPUT_PHASE[b.type])
}
