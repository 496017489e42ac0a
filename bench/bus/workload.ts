// The two measurements of the `bus` suite, written once against a small adapter so ours and NATS run exactly
// the same loops: one-way throughput (publisher on server/router A, subscriber on B, 256-byte messages, the
// publisher yielding to the event loop every 256 messages and waiting when its buffer is full) and sequential
// request/reply round trips (requester on A, echo responder on B). Every loop is bounded in count and time.

import { performance } from 'node:perf_hooks'

export interface BusSide {
  publish(subject: string, payload: Uint8Array): void
  shouldDrain(): boolean
  drain(): Promise<void>
  /** Resolves once the server has the subscription. */
  subscribe(subject: string, onMessage: () => void): Promise<void>
  /** Echoes every request on `subject`. */
  respond(subject: string): Promise<void>
  /** One round trip; rejects on timeout or error. */
  request(subject: string, payload: Uint8Array, timeoutMs: number): Promise<void>
  close(): void
}

const tick = () => new Promise<void>((r) => setImmediate(r))
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export interface ThroughputResult {
  rate: number
  received: number
  sent: number
}

/** Publishes `count` messages on A; the rate is what B's subscriber received per second of the run. */
export async function throughput(
  pub: BusSide,
  sub: BusSide,
  count: number,
  size: number,
): Promise<ThroughputResult> {
  const subject = `bench.tp.${Math.floor(Math.random() * 1e9)}`
  let got = 0
  let lastAt = 0
  await sub.subscribe(subject, () => {
    got++
    lastAt = performance.now()
  })
  // Interest reaches A asynchronously: publish probes until B hears one (at most 20 s).
  const probe = new Uint8Array(size)
  const ready = Date.now() + 20_000
  while (got === 0) {
    if (Date.now() > ready) throw new Error('the subscriber on B never received a probe from A')
    pub.publish(subject, probe)
    await sleep(20)
  }
  await sleep(300)
  const base = got
  const payload = new Uint8Array(size).fill(0x61)
  const start = performance.now()
  for (let i = 0; i < count; i++) {
    pub.publish(subject, payload)
    if ((i & 255) === 255) {
      if (pub.shouldDrain()) await pub.drain()
      else await tick()
    }
  }
  // Wait for the rest: until all arrived, nothing arrived for 3 s, or 120 s in all.
  const hardStop = Date.now() + 120_000
  let seen = -1
  let stillSince = Date.now()
  while (got - base < count && Date.now() < hardStop) {
    if (got !== seen) {
      seen = got
      stillSince = Date.now()
    } else if (Date.now() - stillSince > 3000) break
    await sleep(5)
  }
  const received = got - base
  return { rate: received / ((lastAt - start) / 1000), received, sent: count }
}

export interface LatencyResult {
  p50: number
  p99: number
  n: number
}

/** Sequential request/reply round trips (µs), after `warmup` unmeasured ones. */
export async function requestReply(
  req: BusSide,
  resp: BusSide,
  n: number,
  warmup: number,
  size: number,
): Promise<LatencyResult> {
  const rr = await openRequestReply(req, resp, size)
  await rr.run(warmup, null)
  const lat: number[] = []
  await rr.run(n, lat)
  return latencyOf(lat)
}

/** p50 and p99 of round-trip times (µs); sorts `lat`. */
export function latencyOf(lat: number[]): LatencyResult {
  lat.sort((a, b) => a - b)
  const at = (p: number) => lat[Math.min(lat.length - 1, Math.floor((lat.length * p) / 100))]!
  return { p50: at(50), p99: at(99), n: lat.length }
}

/**
 * A responder on `resp` and a requester on `req` that answer each other; run(n, into) makes n sequential
 * round trips and appends their times (µs) to `into` (null: unmeasured). Lets a suite alternate blocks of
 * two systems' round trips, so both meet the same machine.
 */
export async function openRequestReply(
  req: BusSide,
  resp: BusSide,
  size: number,
): Promise<{ run(n: number, into: number[] | null): Promise<void> }> {
  const subject = `bench.rr.${Math.floor(Math.random() * 1e9)}`
  await resp.respond(subject)
  const payload = new Uint8Array(size).fill(0x62)
  const ready = Date.now() + 20_000
  for (;;) {
    try {
      await req.request(subject, payload, 1000)
      break
    } catch (err) {
      if (Date.now() > ready) throw new Error(`the responder on B never answered: ${(err as Error).message}`)
      await sleep(50)
    }
  }
  return {
    async run(n, into) {
      const deadline = Date.now() + 120_000
      for (let i = 0; i < n && Date.now() < deadline; i++) {
        const t = performance.now()
        await req.request(subject, payload, 5000)
        into?.push((performance.now() - t) * 1000)
      }
    },
  }
}

/**
 * Runs `blocks` rounds of one block per system, alternating which goes first (ours, nats, nats, ours, ...): both
 * systems' blocks are spread over the same stretch of a shared machine, whose speed moves between back-to-back
 * runs by more than the differences measured.
 */
export async function alternate(
  blocks: number,
  step: (ours: boolean, block: number) => Promise<void>,
): Promise<void> {
  for (let b = 0; b < blocks; b++) {
    const oursFirst = b % 2 === 0
    await step(oursFirst, b)
    await step(!oursFirst, b)
  }
}

/** The size of block `b` when `total` is split into `blocks` near-equal parts. */
export function blockSize(total: number, blocks: number, b: number): number {
  return Math.floor(total / blocks) + (b < total % blocks ? 1 : 0)
}
