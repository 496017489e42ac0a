// Certificate renewal timing under a fake clock: nothing happens before renew_before_expiry, renewal happens
// once when due, failures retry with a backoff that stays inside the remaining lifetime, and the timer keeps
// going after each new certificate.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { firstAnswer, JoinError, patiently } from '../../src/control/join-client.js'
import {
  nextCheckDelay,
  RenewalTimer,
  type RenewClock,
  renewalDueAt,
  retryDelay,
} from '../../src/control/renew.js'

const DAY = 24 * 3600_000
const policy = { renewBeforeMs: 7 * DAY, checkIntervalMs: DAY }

class FakeClock implements RenewClock {
  t = 0
  private timers: Array<{ at: number; fn: () => void; id: number }> = []
  private seq = 0
  now(): number {
    return this.t
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq
    this.timers.push({ at: this.t + ms, fn, id })
    return id
  }
  clearTimeout(h: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== h)
  }
  get pending(): number {
    return this.timers.length
  }
  /** Advances time, firing due timers in order; waits for the async work they start. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms
    for (let guard = 0; guard < 10_000; guard++) {
      this.timers.sort((a, b) => a.at - b.at)
      const next = this.timers[0]
      if (!next || next.at > end) break
      this.timers.shift()
      this.t = next.at
      next.fn()
      for (let i = 0; i < 10; i++) await Promise.resolve()
    }
    this.t = end
  }
}

test('due time: renew_before_expiry ahead of expiry, or at two thirds of a short life', () => {
  assert.equal(renewalDueAt({ notBefore: 0, notAfter: 30 * DAY }, policy), 23 * DAY)
  assert.equal(renewalDueAt({ notBefore: 0, notAfter: 3 * DAY }, policy), 2 * DAY)
  assert.equal(
    nextCheckDelay({ notBefore: 0, notAfter: 30 * DAY }, policy, 0),
    DAY,
    'never sleeps past the check interval',
  )
  assert.equal(nextCheckDelay({ notBefore: 0, notAfter: 30 * DAY }, policy, 22.5 * DAY), 0.5 * DAY)
  assert.equal(nextCheckDelay({ notBefore: 0, notAfter: 30 * DAY }, policy, 25 * DAY), 0)
  assert.equal(retryDelay(1, policy, 10 * DAY), 30_000)
  assert.equal(retryDelay(3, policy, 10 * DAY), 120_000)
  assert.equal(retryDelay(30, policy, 10 * DAY), 30_000 * 1024, 'the exponent stops growing')
  assert.equal(
    retryDelay(30, { ...policy, checkIntervalMs: 3600_000 }, 10 * DAY),
    3600_000,
    'capped by the check interval',
  )
  assert.equal(retryDelay(30, policy, 60_000), 30_000, 'capped by half the time left')
})

test('a 30-day certificate is renewed once, at day 23, and the next renewal is scheduled from the new one', async () => {
  const clock = new FakeClock()
  let cert = { notBefore: 0, notAfter: 30 * DAY }
  const renewedAt: number[] = []
  const timer = new RenewalTimer({
    ...policy,
    clock,
    current: () => cert,
    renew: async () => {
      renewedAt.push(clock.now())
      cert = { notBefore: clock.now(), notAfter: clock.now() + 30 * DAY }
    },
  })
  timer.start()
  await clock.advance(22 * DAY)
  assert.deepEqual(renewedAt, [], 'nothing before it is due')
  await clock.advance(2 * DAY)
  assert.deepEqual(renewedAt, [23 * DAY])
  await clock.advance(23 * DAY)
  assert.deepEqual(renewedAt, [23 * DAY, 46 * DAY])
  timer.stop()
  assert.equal(clock.pending, 0, 'stop clears the timer')
  await clock.advance(60 * DAY)
  assert.equal(renewedAt.length, 2)
})

test('failures retry with backoff until the control plane answers, before the certificate expires', async () => {
  const clock = new FakeClock()
  let cert = { notBefore: 0, notAfter: 30 * DAY }
  let attempts = 0
  const errors: Array<[number, number]> = []
  const timer = new RenewalTimer({
    ...policy,
    clock,
    current: () => cert,
    renew: async () => {
      attempts++
      if (attempts <= 4) throw Object.assign(new Error('no leader'), { code: 'NO_LEADER' })
      cert = { notBefore: clock.now(), notAfter: clock.now() + 30 * DAY }
    },
    onError: (_err, failures, retryInMs) => errors.push([failures, retryInMs]),
  })
  timer.start()
  await clock.advance(23 * DAY + 10 * 60_000)
  assert.deepEqual(errors, [
    [1, 30_000],
    [2, 60_000],
    [3, 120_000],
    [4, 240_000],
  ])
  assert.equal(attempts, 5)
  assert.equal(
    cert.notBefore,
    23 * DAY + 450_000,
    'renewed on the fifth attempt, 7.5 minutes after it was due',
  )
  assert.ok(cert.notBefore < 30 * DAY)
  timer.stop()
})

test('a clock far ahead sees a fresh certificate as due, yet renews at most once per gap', async () => {
  const clock = new FakeClock()
  clock.t = 24 * DAY // this node's clock; the issuer's is at 0
  let cert = { notBefore: 0, notAfter: 30 * DAY }
  let renewals = 0
  const timer = new RenewalTimer({
    ...policy,
    minGapMs: 3600_000,
    clock,
    current: () => cert,
    renew: async () => {
      renewals++
      cert = { notBefore: 0, notAfter: 30 * DAY } // the issuer's clock has not moved
    },
  })
  timer.start()
  await clock.advance(1)
  assert.equal(renewals, 1)
  await clock.advance(3 * 3600_000 - 2)
  assert.equal(renewals, 3, 'one renewal per hour, not a loop')
  timer.stop()
})

test('renewal asks the control-plane endpoints in order, past the ones that cannot answer now', async () => {
  const asked: string[] = []
  const answers: Record<string, () => Promise<string>> = {
    down: () => Promise.reject(new JoinError('UNREACHABLE', 'connection refused')),
    issuer: () => Promise.reject(new JoinError('NO_LEADER', 'an issuer does not renew its own certificate')),
    busy: () => Promise.reject(new JoinError('TIMEOUT', 'no answer within 5000 ms')),
    root: () => Promise.resolve('renewed by root'),
    revoked: () => Promise.reject(new JoinError('REVOKED', 'node is revoked')),
  }
  const ask = (e: string) => {
    asked.push(e)
    return answers[e]!()
  }
  assert.equal(await firstAnswer(['down', 'issuer', 'busy', 'root', 'revoked'], ask), 'renewed by root')
  assert.deepEqual(asked, ['down', 'issuer', 'busy', 'root'])
  // A refusal every node would give ends the search; with nobody answering, the last error comes back.
  asked.length = 0
  await assert.rejects(
    firstAnswer(['down', 'revoked', 'root'], ask),
    (e) => (e as JoinError).code === 'REVOKED',
  )
  assert.deepEqual(asked, ['down', 'revoked'])
  await assert.rejects(firstAnswer(['down', 'busy'], ask), (e) => (e as JoinError).code === 'TIMEOUT')
  await assert.rejects(firstAnswer([], ask), (e) => (e as JoinError).code === 'UNREACHABLE')
})

test('a join is asked again while the control plane has no leader or times out, for a bounded while', async () => {
  let t = 0
  const waited: number[] = []
  const clock = {
    now: () => t,
    sleep: async (ms: number) => {
      waited.push(ms)
      t += ms
    },
  }
  const answers = (...codes: Array<string | null>) => {
    let i = 0
    return async () => {
      const c = codes[Math.min(i++, codes.length - 1)]
      if (c === null) return 'joined'
      throw new JoinError(c as 'NO_LEADER', String(c))
    }
  }
  assert.equal(await patiently(answers('NO_LEADER', 'TIMEOUT', 'NO_LEADER', null), clock), 'joined')
  assert.deepEqual(waited, [500, 1000, 2000])
  // Other refusals are final at once.
  waited.length = 0
  await assert.rejects(
    patiently(answers('TOKEN_REUSED', null), clock),
    (e) => (e as JoinError).code === 'TOKEN_REUSED',
  )
  assert.deepEqual(waited, [])
  // A control plane that never gets a leader: given up within the bound, with its last answer.
  t = 0
  waited.length = 0
  await assert.rejects(
    patiently(answers('NO_LEADER'), { ...clock, withinMs: 10_000 }),
    (e) => (e as JoinError).code === 'NO_LEADER',
  )
  assert.deepEqual(waited, [500, 1000, 2000, 4000])
  assert.ok(t <= 10_000)
})
