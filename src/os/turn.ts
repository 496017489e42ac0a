// Work deferred to the end of a burst of input: the bus's link flushes and the local sessions' socket writes.
// Whatever one read brings in (a chunk from a client socket, a chunk of a TCP lane) is handled synchronously and
// queues output here; it all goes out in one write per destination when the read's handler returns. Work
// deferred outside a burst (timers, a UDX link's batches, which complete in microtasks) waits for setImmediate,
// after the turn's I/O, as before.
//
// Why not always setImmediate: a request/reply round trip crosses each router twice, and every crossing paid
// for the immediate queue (the check phase, Node's idle handle started and stopped) before its write, and the
// reply path for a promise and a microtask too. The processes of a round trip run one after another (often on
// one core: the kernel tends to wake a socket's reader on the writer's core), so every microsecond a router
// spends per message, before or after its write, is latency. Measured against the build before
// (bench/tools/bus-ab.ts, two router pairs in alternating batches), with the callback request path
// (router.requestWith): request/reply p50 -4 to -10 %, daemon CPU per round trip -1 to -4 %; throughput +3 to
// +19 %, daemon CPU per message -14 %.
//
// A burst's end also opens the busy-poll window where that runs (setBurstEndHook, src/os/busy-poll.ts).
//
// Bursts do not nest (a read handler does not run another socket's read handler); beginBurst() after a burst that
// never ended (its handler threw) first runs what that burst left.

const pending: Array<() => void> = []
let inBurst = false
let burstEndHook: ((items: number) => void) | null = null
let items = 0
let immediateScheduled = false

function runPending(): void {
  // Index loop: work run here may defer more, which joins the same pass.
  let i = 0
  try {
    for (; i < pending.length; i++) pending[i]!()
  } finally {
    if (i + 1 < pending.length) {
      // One of them threw: the rest run in the next turn, the error goes on to the caller.
      pending.splice(0, i + 1)
      schedule()
    } else pending.length = 0
  }
}

function schedule(): void {
  if (immediateScheduled) return
  immediateScheduled = true
  setImmediate(onImmediate)
}

function onImmediate(): void {
  immediateScheduled = false
  if (!inBurst) runPending()
}

/** Runs `fn` at the end of the current burst, or after this turn's I/O when there is none. */
export function deferToTurnEnd(fn: () => void): void {
  pending.push(fn)
  if (!inBurst) schedule()
}

/** A read handler starts: what it defers runs at endBurst(). */
export function beginBurst(): void {
  if (inBurst) runPending()
  inBurst = true
  items = 0
}

/** `n` messages of the current burst were handled (the burst-end hook gets the count). */
export function burstItems(n = 1): void {
  items += n
}

/** The read handler is done: runs what it deferred. */
export function endBurst(): void {
  inBurst = false
  if (pending.length > 0) runPending()
  if (burstEndHook !== null) burstEndHook(items)
}

/**
 * Runs `fn` after each burst's deferred work, i.e. after a read's output went out (src/os/busy-poll.ts), with the
 * number of messages the burst handled (burstItems); null removes it.
 */
export function setBurstEndHook(fn: ((items: number) => void) | null): void {
  burstEndHook = fn
}
