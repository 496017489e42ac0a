// What the router waits for: replies to its requests, and acks for its at-least-once messages. Both are
// bounded maps keyed by the message sequence number, each entry with one timer from the injected scheduler.
//
// At-least-once: a message tracked here is retransmitted, with the same id, to the destination nodes that
// have not acked, after ackTimeoutMs, then with exponential backoff (doubling, capped at maxBackoffMs, with
// 50-100% jitter so that many senders that lost the same link do not retry in step), up to maxAttempts
// transmissions. The receiving router delivers an id once (dedup.ts) and acks every copy, so the
// destination sees the message exactly once if any copy and any ack gets through in time.

import type { Rng } from '../protocols/core/index.js'
import type { Envelope } from './envelope.js'
import { BusError } from './errors.js'
import type { Scheduler, TimerHandle } from './scheduler.js'

export interface RetryPolicy {
  /** Wait before the first retransmission. */
  ackTimeoutMs: number
  maxBackoffMs: number
  /** Transmissions in all, the first included; then the send fails with TIMEOUT. */
  maxAttempts: number
}

interface PendingAck {
  readonly env: Envelope
  readonly remaining: Set<string>
  readonly total: number
  readonly failures: BusError[]
  readonly resolve: () => void
  readonly reject: (e: BusError) => void
  attempt: number
  timer: TimerHandle
}

export class AckTracker {
  private readonly pending = new Map<number, PendingAck>()

  constructor(
    private readonly scheduler: Scheduler,
    private readonly rng: Rng,
    private readonly policy: RetryPolicy,
    /** Sends `env` again towards `nodes` (best effort: a full queue just waits for the next attempt). */
    private readonly resend: (env: Envelope, nodes: readonly string[]) => void,
    private readonly onRetry: () => void,
  ) {}

  get size(): number {
    return this.pending.size
  }

  /**
   * Waits for acks from every node in `nodes` for `env` (already sent once). Resolves when all have acked
   * and at least one delivered; rejects with the first node's error when every node refused, or TIMEOUT.
   */
  track(env: Envelope, nodes: readonly string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const p: PendingAck = {
        env,
        remaining: new Set(nodes),
        total: nodes.length,
        failures: [],
        resolve,
        reject,
        attempt: 1,
        timer: 0,
      }
      p.timer = this.scheduler.setTimer(this.delay(1), () => this.retry(p))
      this.pending.set(env.seq, p)
    })
  }

  private delay(attempt: number): number {
    const base = Math.min(this.policy.maxBackoffMs, this.policy.ackTimeoutMs * 2 ** (attempt - 1))
    return Math.max(1, Math.round(base * (0.5 + 0.5 * this.rng.next())))
  }

  private retry(p: PendingAck): void {
    if (this.pending.get(p.env.seq) !== p) return
    if (p.attempt >= this.policy.maxAttempts) {
      this.pending.delete(p.env.seq)
      p.reject(
        new BusError(
          'TIMEOUT',
          `no ack from ${[...p.remaining].join(', ')} after ${p.attempt} transmissions of message ${p.env.seq}`,
        ),
      )
      return
    }
    p.attempt++
    this.onRetry()
    this.resend(p.env, [...p.remaining])
    p.timer = this.scheduler.setTimer(this.delay(p.attempt), () => this.retry(p))
  }

  /**
   * An ack (or, with `error`, a refusal) from `node` for our message `seq`. Returns false when nothing was
   * waiting for it (already complete, timed out, or a duplicate ack).
   */
  onAck(node: string, seq: number, error: BusError | null): boolean {
    const p = this.pending.get(seq)
    if (p === undefined || !p.remaining.delete(node)) return false
    if (error !== null) p.failures.push(error)
    if (p.remaining.size > 0) return true
    this.pending.delete(seq)
    this.scheduler.clearTimer(p.timer)
    // Every node refused: the sender should know why. At least one delivered: the send succeeded.
    if (p.failures.length === p.total) p.reject(p.failures[0]!)
    else p.resolve()
    return true
  }

  /** Fails every pending send (router closing). */
  failAll(err: BusError): void {
    for (const p of this.pending.values()) {
      this.scheduler.clearTimer(p.timer)
      p.reject(err)
    }
    this.pending.clear()
  }
}

/** How a request ends: with its reply, or with an error (TIMEOUT, the peer's error, CLOSED). */
export type RequestDone = (err: BusError | null, reply: Envelope | null) => void

interface PendingRequest {
  readonly done: RequestDone
  timer: TimerHandle
}

/**
 * Requests awaiting their reply, by request sequence number. Each ends through its callback, called at once
 * when the reply is handed in (no promise and no microtask between a reply and what answers the requester).
 */
export class RequestTable {
  private readonly pending = new Map<number, PendingRequest>()

  constructor(private readonly scheduler: Scheduler) {}

  get size(): number {
    return this.pending.size
  }

  has(seq: number): boolean {
    return this.pending.has(seq)
  }

  add(seq: number, timeoutMs: number, what: string, done: RequestDone): void {
    const p: PendingRequest = { done, timer: 0 }
    p.timer = this.scheduler.setTimer(timeoutMs, () => {
      if (this.pending.get(seq) !== p) return
      this.pending.delete(seq)
      end(done, new BusError('TIMEOUT', `no reply to ${what} within ${timeoutMs} ms`), null)
    })
    this.pending.set(seq, p)
  }

  /** Hands the reply to the waiting request; false when none waits (late or duplicate reply). */
  resolve(seq: number, reply: Envelope): boolean {
    const p = this.take(seq)
    if (p !== undefined) end(p.done, null, reply)
    return p !== undefined
  }

  reject(seq: number, err: BusError): boolean {
    const p = this.take(seq)
    if (p !== undefined) end(p.done, err, null)
    return p !== undefined
  }

  private take(seq: number): PendingRequest | undefined {
    const p = this.pending.get(seq)
    if (p === undefined) return undefined
    this.pending.delete(seq)
    this.scheduler.clearTimer(p.timer)
    return p
  }

  failAll(err: BusError): void {
    const all = [...this.pending.values()]
    this.pending.clear()
    for (const p of all) {
      this.scheduler.clearTimer(p.timer)
      end(p.done, err, null)
    }
  }
}

/**
 * Calls a request's callback; an exception from it is the requester's bug, not the router's: it is thrown
 * again outside the router (as an uncaught exception), so the router's own state stays whole.
 */
function end(done: RequestDone, err: BusError | null, reply: Envelope | null): void {
  try {
    done(err, reply)
  } catch (thrown) {
    queueMicrotask(() => {
      throw thrown
    })
  }
}
