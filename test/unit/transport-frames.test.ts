// The peer-link frame codec: every frame type round-trips, every malformed input is a DecodeError (never a
// RangeError or a silently accepted frame), and arbitrary bytes either decode to a frame that re-encodes to
// the same bytes or are refused.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  decodeFrame,
  encodeFrame,
  type Frame,
  FrameType,
  MAX_FRAME_LIMIT,
  MIN_FRAME_LIMIT,
} from '../../src/transport/index.js'
import { DecodeError, type DecodeReason } from '../../src/wire/index.js'

const bytes = (...b: number[]) => Uint8Array.from(b)

describe('frame codec', () => {
  const frames: Frame[] = [
    { type: 'hello', version: 1, certificate: bytes(1, 2, 3), maxFrameBytes: 1024 * 1024 },
    { type: 'ready' },
    { type: 'data', channel: 'bus', payload: bytes(9, 8, 7) },
    { type: 'data', channel: 'routing.v2_x-y', payload: new Uint8Array(0) },
    { type: 'ping', nonce: 0 },
    { type: 'pong', nonce: 2 ** 31 - 2 },
    { type: 'close', reason: 'expired' },
    { type: 'cert', certificate: new Uint8Array(300).fill(7) },
  ]
  for (const f of frames) {
    it(`round-trips ${f.type}${f.type === 'data' ? ` on "${f.channel}"` : ''}`, () => {
      const enc = encodeFrame(f)
      assert.deepEqual(decodeFrame(enc), f)
      assert.deepEqual(encodeFrame(decodeFrame(enc)), enc)
    })
  }

  const bad: Array<[string, Uint8Array, DecodeReason]> = [
    ['an empty frame', bytes(), 'truncated'],
    ['an unknown frame type', bytes(0xee, 1, 2), 'unknown-tag'],
    ['type 0', bytes(0), 'unknown-tag'],
    ['a HELLO cut inside its certificate', bytes(FrameType.HELLO, 1, 10, 1, 2), 'truncated'],
    ['a HELLO without its frame limit', bytes(FrameType.HELLO, 1, 1, 0xaa), 'truncated'],
    ['a HELLO advertising a tiny frame limit', bytes(FrameType.HELLO, 1, 0, 0x10), 'invalid-value'],
    ['a READY with trailing bytes', bytes(FrameType.READY, 0), 'trailing-bytes'],
    ['a DATA frame cut inside its channel name', bytes(FrameType.DATA, 5, 0x62, 0x75), 'truncated'],
    ['a DATA frame with an upper-case channel', bytes(FrameType.DATA, 3, 0x42, 0x55, 0x53), 'invalid-value'],
    ['a DATA frame with an empty channel', bytes(FrameType.DATA, 0), 'invalid-value'],
    ['a PING with an overlong varint', bytes(FrameType.PING, 0x80, 0x00), 'overlong-varint'],
    ['a PONG without its nonce', bytes(FrameType.PONG), 'truncated'],
    [
      'a CLOSE whose reason is too long',
      Uint8Array.from([FrameType.CLOSE, 65, ...new Uint8Array(65).fill(97)]),
      'length-exceeds-max',
    ],
    ['a CLOSE with invalid UTF-8', bytes(FrameType.CLOSE, 1, 0xff), 'invalid-utf8'],
  ]
  for (const [what, input, reason] of bad) {
    it(`refuses ${what} with DecodeError ${reason}`, () => {
      assert.throws(
        () => decodeFrame(input),
        (err: unknown) => err instanceof DecodeError && err.reason === reason,
      )
    })
  }

  it('refuses a HELLO advertising a limit beyond what the secret stream can carry', () => {
    const f = encodeFrame({ type: 'hello', version: 1, certificate: bytes(), maxFrameBytes: MIN_FRAME_LIMIT })
    const tooBig = encodeFrame({
      type: 'hello',
      version: 1,
      certificate: bytes(),
      maxFrameBytes: MAX_FRAME_LIMIT + 1,
    })
    assert.equal(decodeFrame(f).type, 'hello')
    assert.throws(() => decodeFrame(tooBig), DecodeError)
  })

  it('decodes arbitrary bytes to a canonical frame or throws DecodeError', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 1, max: 7 }),
        fc.boolean(),
        (tail, type, typed) => {
          // Half the inputs start with a valid type byte, so the per-type decoders get exercised too.
          const input = typed ? Uint8Array.from([type, ...tail]) : tail
          let frame: Frame
          try {
            frame = decodeFrame(input)
          } catch (err) {
            assert.ok(err instanceof DecodeError, `unexpected ${String(err)}`)
            return
          }
          assert.deepEqual(encodeFrame(frame), input)
        },
      ),
      { numRuns: 3000 },
    )
  })
})
