// Certificate renewal without a person: each node renews its certificate when it is within
// `tls.rotation.renew_before_expiry` of expiring (checked at least every `tls.rotation.check_interval`), and
// retries failures with a backoff that never lets it sleep past the expiry. Time is injected, so the schedule is
// tested with a fake clock; the daemon passes the real one and a renew() that talks to the control plane.

export interface RenewClock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const realClock: RenewClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms)
    t.unref()
    return t
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
}

export interface RenewPolicy {
  renewBeforeMs: number
  checkIntervalMs: number
}

/** When a certificate valid [notBefore, notAfter) is due: renew_before_expiry ahead, or at 2/3 of a short life. */
export function renewalDueAt(cert: { notBefore: number; notAfter: number }, p: RenewPolicy): number {
  const life = cert.notAfter - cert.notBefore
  if (p.renewBeforeMs >= life) return cert.notBefore + Math.floor((life * 2) / 3)
  return cert.notAfter - p.renewBeforeMs
}

/** How long to wait before the next look: until due, but no longer than the check interval. */
export function nextCheckDelay(
  cert: { notBefore: number; notAfter: number },
  p: RenewPolicy,
  now: number,
): number {
  return Math.max(0, Math.min(renewalDueAt(cert, p) - now, p.checkIntervalMs))
}

/** Backoff after the n-th consecutive failure (1-based): 30 s doubling, capped at the check interval and at
 * half the time left, so several attempts still happen before expiry. */
export function retryDelay(failures: number, p: RenewPolicy, timeLeftMs: number): number {
  const backoff = 30_000 * 2 ** Math.min(failures - 1, 10)
  return Math.max(1000, Math.min(backoff, p.checkIntervalMs, Math.floor(Math.max(0, timeLeftMs) / 2)))
}

export interface RenewalTimerOptions extends RenewPolicy {
  current(): { notBefore: number; notAfter: number }
  /** Obtains and installs a new certificate; current() returns it afterwards. */
  renew(): Promise<void>
  clock?: RenewClock
  onError?(err: unknown, failures: number, retryInMs: number): void
  onRenewed?(): void
  /**
   * Least time between two successful renewals (default: the check interval, at most 15 min). A node whose clock
   * runs far ahead sees even a fresh certificate as due; without this it would ask again at once, forever.
   */
  minGapMs?: number
}

export class RenewalTimer {
  private handle: unknown = null
  private failures = 0
  private running = false
  private stopped = true
  private readonly clock: RenewClock

  constructor(private readonly opts: RenewalTimerOptions) {
    this.clock = opts.clock ?? realClock
  }

  start(): void {
    this.stopped = false
    this.schedule(nextCheckDelay(this.opts.current(), this.opts, this.clock.now()))
  }

  stop(): void {
    this.stopped = true
    if (this.handle !== null) this.clock.clearTimeout(this.handle)
    this.handle = null
  }

  /** Renews now if due (used by the timer and by tests). */
  async check(): Promise<void> {
    if (this.running || this.stopped) return
    const now = this.clock.now()
    const cert = this.opts.current()
    if (now < renewalDueAt(cert, this.opts)) {
      this.schedule(nextCheckDelay(cert, this.opts, now))
      return
    }
    this.running = true
    try {
      await this.opts.renew()
      this.failures = 0
      this.opts.onRenewed?.()
      const gap = this.opts.minGapMs ?? Math.min(this.opts.checkIntervalMs, 15 * 60_000)
      this.schedule(Math.max(gap, nextCheckDelay(this.opts.current(), this.opts, this.clock.now())))
    } catch (err) {
      this.failures++
      const wait = retryDelay(this.failures, this.opts, cert.notAfter - this.clock.now())
      this.opts.onError?.(err, this.failures, wait)
      this.schedule(wait)
    } finally {
      this.running = false
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return
    if (this.handle !== null) this.clock.clearTimeout(this.handle)
    this.handle = this.clock.setTimeout(() => {
      this.handle = null
      void this.check()
    }, ms)
  }
}
