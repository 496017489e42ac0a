// The topic re-query schedule after a (re)join: short pauses first, always run (a peer that announced just after
// our lookup is not found yet, so "converged" says nothing about it), then the regular interval while some
// peer found is not connected, bounded in number.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { refreshPause } from '../../src/discovery/refresh.js'

const S = { firstMs: 250, intervalMs: 2000, attempts: 8 }
const pauses = (converged: boolean): (number | null)[] =>
  Array.from({ length: 9 }, (_, step) => refreshPause(S, step, converged))

test('pauses start short and double up to the interval, at most `attempts` of them', () => {
  assert.deepEqual(pauses(false), [250, 500, 1000, 2000, 2000, 2000, 2000, 2000, null])
})

test('the short re-queries run even when converged; the regular ones do not', () => {
  assert.deepEqual(pauses(true), [250, 500, 1000, null, null, null, null, null, null])
})

test('a first pause longer than the interval is the interval, and the first re-query always runs', () => {
  const s = { firstMs: 5000, intervalMs: 300, attempts: 3 }
  assert.deepEqual(
    [0, 1, 2, 3].map((step) => refreshPause(s, step, false)),
    [300, 300, 300, null],
  )
  assert.equal(refreshPause(s, 0, true), 300)
  assert.equal(refreshPause(s, 1, true), null)
})
