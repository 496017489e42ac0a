// When to re-query the topic after a (re)join (pure). Two routers that join at the same moment can miss each
// other: each one's lookup runs before the other's announce landed (research/feasibility.md §1). A re-query a
// moment later finds the other, so the first pauses are short (a quarter second, doubling) and the later ones
// the regular interval. "Every peer found is connected" proves nothing while a peer's announce may still be on
// its way, so the short re-queries always run; only the later ones stop once discovery has converged.

export interface RefreshSchedule {
  /** Pause before the first re-query; each next pause doubles, up to intervalMs. */
  firstMs: number
  intervalMs: number
  /** Re-queries at most, short ones included. */
  attempts: number
}

/** Pause (ms) before re-query number `step` (0-based), or null when there is none. */
export function refreshPause(s: RefreshSchedule, step: number, converged: boolean): number | null {
  if (step >= s.attempts) return null
  const first = Math.min(s.firstMs, s.intervalMs)
  const pause = Math.min(first * 2 ** step, s.intervalMs)
  // The first and the short re-queries are due whatever convergence says; regular ones only while not converged.
  if (converged && step > 0 && pause >= s.intervalMs) return null
  return pause
}
