// Durations: the table of what operators may write, what they may not (and what the error says), and the
// round trip formatDuration -> parseDuration for any value.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { DurationError, formatDuration, parseDuration } from '../../src/config/index.js'

describe('parseDuration', () => {
  const valid: Array<[string, number]> = [
    ['0s', 0],
    ['0ms', 0],
    ['1ms', 1],
    ['200ms', 200],
    ['1s', 1000],
    ['30s', 30_000],
    ['5m', 300_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['1h30m', 5_400_000],
    ['1d12h', 129_600_000],
    ['2m30s500ms', 150_500],
    ['1.5h', 5_400_000],
    ['0.5s', 500],
    ['1.25s', 1250],
    [' 10s ', 10_000],
  ]
  for (const [text, ms] of valid) {
    it(`reads "${text}" as ${ms} ms`, () => assert.equal(parseDuration(text), ms))
  }

  const invalid: Array<[string, RegExp]> = [
    ['', /empty/],
    ['30', /no unit.*"30s" or "30ms"/],
    ['1.5', /no unit/],
    ['-5s', /negative/],
    ['5 s', /not a duration/],
    ['1h 30m', /not a duration/],
    ['5sec', /not a duration/],
    ['5S', /not a duration/],
    ['h', /not a duration/],
    ['1m1h', /misorders/],
    ['1s1s', /repeats/],
    ['0.5ms', /finer than one millisecond/],
    ['1.0001s', /finer than one millisecond/],
    ['99999999999999999999d', /too long/],
    ['1'.repeat(80) + 's', /longer than 64/],
  ]
  for (const [text, why] of invalid) {
    it(`rejects "${text}"`, () => {
      assert.throws(
        () => parseDuration(text),
        (err: unknown) =>
          err instanceof DurationError && err.code === 'DURATION_INVALID' && why.test(err.message),
      )
    })
  }
})

describe('formatDuration', () => {
  const table: Array<[number, string]> = [
    [0, '0s'],
    [1, '1ms'],
    [1500, '1s500ms'],
    [90_000, '1m30s'],
    [5_400_000, '1h30m'],
    [86_400_000, '1d'],
    [604_800_000, '7d'],
  ]
  for (const [ms, text] of table)
    it(`writes ${ms} as "${text}"`, () => assert.equal(formatDuration(ms), text))

  it('rejects negative, fractional and unsafe values', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      assert.throws(() => formatDuration(bad), DurationError)
    }
  })

  it('round-trips through parseDuration for any safe integer', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (ms) => parseDuration(formatDuration(ms)) === ms),
      { numRuns: 2000 },
    )
  })
})
