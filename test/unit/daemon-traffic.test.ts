// Which WireGuard counter movements make routing probe a link fast (daemon/traffic.ts).

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { TRAFFIC_MIN_BYTES, wantsFastProbing } from '../../src/daemon/traffic.js'

const at = (rx: number, tx: number) => ({ rx, tx })

test('traffic both ways counts from TRAFFIC_MIN_BYTES; WireGuard handshakes and keepalives do not', () => {
  const base = at(10_000, 20_000)
  assert.equal(wantsFastProbing(base, at(10_000 + 4000, 20_000 + 4000)), true, 'a transfer')
  assert.equal(wantsFastProbing(base, at(10_000 + 256, 20_000 + 256)), true, 'exactly the bound')
  assert.equal(wantsFastProbing(base, at(10_000 + 92, 20_000 + 148)), false, 'a handshake')
  assert.equal(wantsFastProbing(base, at(10_000 + 32, 20_000)), false, 'a keepalive received')
  assert.equal(wantsFastProbing(base, at(10_000, 20_000 + 32)), false, 'a keepalive sent')
  assert.equal(wantsFastProbing(base, at(10_000 + 116, 20_000 + 116)), false, 'a healthy ping a second')
  assert.equal(wantsFastProbing(base, base), false, 'nothing')
  assert.ok(TRAFFIC_MIN_BYTES > 148 + 92)
})

test('sending with nothing coming back counts at once: a silently failed link under a ping a second', () => {
  const base = at(10_000, 20_000)
  assert.equal(wantsFastProbing(base, at(10_000, 20_000 + 116)), true)
  assert.equal(wantsFastProbing(base, at(10_000, 20_000 + 148)), true, 'handshake retries into silence')
})

test('counters that went backwards (the peer entry was re-added) say nothing', () => {
  assert.equal(wantsFastProbing(at(10_000, 20_000), at(0, 600)), false)
})
