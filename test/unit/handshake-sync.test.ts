// The first-handshake race fix: who is told that we configured them, when a router resets its side, and the
// 'wg-configured' routing frame.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  FIRST_LOOK_MS,
  HandshakeSync,
  lookDelayMs,
  SECOND_LOOK_EXTRA_MS,
} from '../../src/daemon/handshake-sync.js'
import { decodeRoutingFrame, encodeWgConfiguredFrame } from '../../src/daemon/mesh-frames.js'
import { DecodeError } from '../../src/wire/index.js'

describe('HandshakeSync', () => {
  it('tells each neighbour once, not on a key rotation, again after a link loss', () => {
    const h = new HandshakeSync()
    /** Neighbour → the key configured for it, as the map toTell() takes. */
    const tell = (configured: Record<string, string>) => h.toTell(new Map(Object.entries(configured)))
    assert.deepEqual(tell({ a: 'K1', b: 'K2' }), ['a', 'b'])
    assert.deepEqual(tell({ a: 'K1', b: 'K2' }), [])
    assert.deepEqual(tell({ a: 'K1b', b: 'K2' }), [], 'a rotated its key: not told')
    h.forget('b')
    assert.deepEqual(tell({ a: 'K1b', b: 'K2' }), ['b'], 'b came back')
    assert.deepEqual(tell({ a: 'K1b' }), [])
    assert.deepEqual(tell({ a: 'K1b', b: 'K2' }), ['b'], 'b left the plan and returned')
  })

  it('resets only without a session, for our current key, with the peer configured, at most every 15 s', () => {
    const h = new HandshakeSync()
    const ours = { currentKey: 'ME', configured: true, latestHandshakeMs: 0 }
    assert.equal(h.shouldReset('p', 'OLD', ours, 1000), false, 'they configured a key we no longer use')
    assert.equal(
      h.shouldReset('p', 'ME', { ...ours, configured: false }, 1000),
      false,
      'our add will initiate',
    )
    assert.equal(h.shouldReset('p', 'ME', { ...ours, latestHandshakeMs: 5 }, 1000), false, 'session exists')
    assert.equal(h.shouldReset('p', 'ME', ours, 1000), true)
    assert.equal(h.shouldReset('p', 'ME', ours, 10_000), false, 'rate-limited')
    assert.equal(h.shouldReset('q', 'ME', ours, 10_000), true, 'per neighbour')
    assert.equal(h.shouldReset('p', 'ME', ours, 16_001), true, 'after the interval')
  })

  it('looks after a few round trips from the lower key, well after that from the higher one', () => {
    // Never at once: the neighbour's own initiation, sent when it configured us, may still be on its way.
    assert.equal(lookDelayMs('AAA', 'BBB', undefined), FIRST_LOOK_MS)
    assert.equal(lookDelayMs('AAA', 'BBB', null), FIRST_LOOK_MS)
    assert.equal(lookDelayMs('AAA', 'BBB', 1_000), FIRST_LOOK_MS, 'a LAN round trip is under the floor')
    assert.equal(lookDelayMs('AAA', 'BBB', 100_000), 300, 'three 100 ms round trips')
    assert.equal(lookDelayMs('BBB', 'AAA', undefined), FIRST_LOOK_MS + SECOND_LOOK_EXTRA_MS)
    assert.equal(lookDelayMs('BBB', 'AAA', 100_000), 300 + SECOND_LOOK_EXTRA_MS)
    // Both ends agree who goes first: exactly one of a pair takes the short delay.
    const pair = [lookDelayMs('k1', 'k2', 5_000), lookDelayMs('k2', 'k1', 5_000)].sort((a, b) => a - b)
    assert.deepEqual(pair, [FIRST_LOOK_MS, FIRST_LOOK_MS + SECOND_LOOK_EXTRA_MS])
  })
})

describe("'wg-configured' routing frame", () => {
  it('round-trips and rejects wrong lengths with a typed error', () => {
    const key = new Uint8Array(32).map((_, i) => i)
    const f = decodeRoutingFrame(encodeWgConfiguredFrame(key))
    assert.equal(f.type, 'wg-configured')
    assert.deepEqual(f.type === 'wg-configured' ? [...f.key] : [], [...key])
    const bytes = encodeWgConfiguredFrame(key)
    assert.throws(() => decodeRoutingFrame(bytes.subarray(0, 20)), DecodeError)
    const long = new Uint8Array(bytes.length + 1)
    long.set(bytes)
    assert.throws(
      () => decodeRoutingFrame(long),
      (e: unknown) => e instanceof DecodeError && e.reason === 'trailing-bytes',
    )
    assert.throws(() => encodeWgConfiguredFrame(new Uint8Array(31)), RangeError)
  })
})
