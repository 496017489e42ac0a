// Probe datagrams: the codec is exact (16 bytes, round trip) and total (arbitrary bytes give a probe or a
// DecodeError); the echo bookkeeping answers the peer's newest probe with the time it was held, acknowledges
// earlier ones in the mask, and counts gaps in the peer's sequence as its lost probes.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  decodeProbe,
  encodeProbe,
  PROBE_BYTES,
  type ProbeDatagram,
  ProbeEcho,
} from '../../src/routing/probe-wire.js'
import { DecodeError } from '../../src/wire/index.js'

const probe = (p: Partial<ProbeDatagram> = {}): ProbeDatagram => ({
  answerNow: false,
  seq: 1,
  echo: 0,
  heldMs: 0,
  mask: 0,
  intervalMs: 200,
  ...p,
})

describe('probe datagram codec', () => {
  it('round-trips in 16 bytes', () => {
    const p = probe({
      answerNow: true,
      seq: 0xffff_fffe,
      echo: 77,
      heldMs: 123.4,
      mask: 0b1010,
      intervalMs: 65535,
    })
    const bytes = encodeProbe(p)
    assert.equal(bytes.length, PROBE_BYTES)
    assert.deepEqual(decodeProbe(bytes), p)
    // Holds past 6553.5 ms travel in whole ms (HELD_MS), up to 65535.
    for (const heldMs of [6553.5, 6554, 9871, 65_535]) {
      const q = probe({ echo: 3, heldMs })
      const b = encodeProbe(q)
      assert.equal(b.length, PROBE_BYTES)
      assert.equal(b[1], heldMs > 6553.5 ? 0b10 : 0, `flags for ${heldMs} ms`)
      assert.deepEqual(decodeProbe(b), q)
    }
  })

  it('refuses what it does not define, with a DecodeError', () => {
    const good = encodeProbe(probe({ echo: 3, heldMs: 1, mask: 1 }))
    const cases: Array<[string, Uint8Array, string]> = [
      ['another kind', Uint8Array.from([2, ...good.subarray(1)]), 'unknown-tag'],
      ['unknown flags', Uint8Array.from([1, 0b100, ...good.subarray(2)]), 'invalid-value'],
      ['seq 0', encodeProbe(probe({ seq: 0 })), 'invalid-value'],
      ['a held time without an echo', encodeProbe(probe({ heldMs: 0.5 })), 'invalid-value'],
      [
        'HELD_MS without an echo',
        Uint8Array.from([1, 0b10, ...encodeProbe(probe()).subarray(2)]),
        'invalid-value',
      ],
      ['a mask without an echo', encodeProbe(probe({ mask: 1 })), 'invalid-value'],
      ['an interval of 0', encodeProbe(probe({ intervalMs: 0 })), 'invalid-value'],
      ['a truncated one', good.subarray(0, 15), 'truncated'],
      ['trailing bytes', Uint8Array.from([...good, 0]), 'trailing-bytes'],
      ['nothing', new Uint8Array(0), 'truncated'],
    ]
    for (const [what, bytes, reason] of cases) {
      assert.throws(
        () => decodeProbe(bytes),
        (err: unknown) => err instanceof DecodeError && err.reason === reason,
        what,
      )
    }
  })

  it('gives a probe or a DecodeError for any bytes, and re-encodes what it accepts exactly', () => {
    // Random bytes, and probe-shaped ones (kind 1, defined flags, 16 bytes) that reach every field check.
    const shaped = fc.uint8Array({ minLength: PROBE_BYTES, maxLength: PROBE_BYTES }).map((b) => {
      b[0] = 1
      b[1]! &= 0b11
      return b
    })
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 40 }), shaped), (b) => {
        let p: ProbeDatagram
        try {
          p = decodeProbe(b)
        } catch (err) {
          assert.ok(err instanceof DecodeError, String(err))
          return
        }
        assert.deepEqual(encodeProbe(p), b)
      }),
      { numRuns: 20_000 },
    )
  })
})

describe('probe echo bookkeeping', () => {
  it('numbers our probes from 1', () => {
    const e = new ProbeEcho()
    assert.deepEqual([e.takeSeq(), e.takeSeq(), e.takeSeq()], [1, 2, 3])
  })

  it('echoes nothing until a probe arrived, then the newest with the time held', () => {
    const e = new ProbeEcho()
    assert.deepEqual(e.echoAt(100), { echo: 0, heldMs: 0, mask: 0 })
    assert.equal(e.received(5, 1000), 0, 'the first one seen starts the count')
    assert.deepEqual(e.echoAt(1012.34), { echo: 5, heldMs: 12.3, mask: 0 })
  })

  it('acknowledges earlier probes in the mask and counts gaps as lost', () => {
    const e = new ProbeEcho()
    e.received(1, 0)
    assert.equal(e.received(2, 10), 0)
    assert.equal(e.received(5, 20), 2, '3 and 4 missing')
    // mask bit i = seq 5-1-i: 4 no, 3 no, 2 yes, 1 yes
    assert.equal(e.echoAt(20).mask, 0b1100)
    assert.equal(e.received(4, 25), null, 'a late one is not new...')
    assert.equal(e.echoAt(25).mask, 0b1101, '...but it is acknowledged')
    assert.equal(e.received(5, 30), null, 'a repeat is not new')
    assert.equal(e.received(3, 30), null)
    assert.equal(e.echoAt(30).mask, 0b1111)
    assert.equal(e.echoAt(30).echo, 5)
  })

  it('forgets what falls out of the 16-bit mask', () => {
    const e = new ProbeEcho()
    e.received(1, 0)
    e.received(17, 1)
    assert.equal(e.echoAt(1).mask, 1 << 15, 'seq 1 is 16 behind 17')
    e.received(18, 2)
    assert.equal(e.echoAt(2).mask, 1, 'only 17 left')
    assert.equal(e.received(40, 3), 21)
    assert.equal(e.echoAt(3).mask, 0)
  })

  it('echoes a probe held for an idle interval, and stops past what the field can say', () => {
    const e = new ProbeEcho()
    e.received(9, 0)
    assert.deepEqual(e.echoAt(6500), { echo: 9, heldMs: 6500, mask: 0 })
    // Two routers probing every 10 s answer each other up to 10 s later.
    assert.deepEqual(e.echoAt(10_000.4), { echo: 9, heldMs: 10_000, mask: 0 })
    assert.deepEqual(e.echoAt(65_535), { echo: 9, heldMs: 65_535, mask: 0 })
    assert.deepEqual(e.echoAt(65_536), { echo: 0, heldMs: 0, mask: 0 })
  })
})
