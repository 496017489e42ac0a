// Chunked control frames (src/control/chunks.ts): a frame above the chunk size is split and put back together
// in any order, duplicates are ignored, link authentication holds only if every chunk came over the link,
// a newer transfer replaces an older one, and malformed or oversize transfers are refused without throwing.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { CHUNK_KIND, isChunk, MAX_CHUNKED_BYTES, Reassembler, splitFrame } from '../../src/control/chunks.js'

const frame = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff)

test('a small frame goes whole; a large one in chunks that come back together in any order', () => {
  const small = frame(100)
  assert.deepEqual(splitFrame(small, 1, 64 * 1024), [small])
  const big = frame(10_000)
  const parts = splitFrame(big, 7, 1000)
  assert.equal(parts.length, 10)
  assert.ok(parts.every(isChunk) && parts.every((p) => p[1] === CHUNK_KIND))
  let now = 0
  const r = new Reassembler(() => now)
  const order = [3, 0, 9, 1, 1, 2, 8, 4, 5, 7, 6]
  let out: ReturnType<Reassembler['accept']> = { type: 'pending' }
  for (const i of order) out = r.accept('node_a', parts[i]!, true)
  assert.equal(out.type, 'frame')
  assert.deepEqual(out.type === 'frame' && out.bytes, big)
  assert.equal(out.type === 'frame' && out.overLink, true)
  assert.equal(r.pending, 0)
  now += 1
})

test('one chunk not over the link makes the whole frame not link-authenticated', () => {
  const parts = splitFrame(frame(3000), 1, 1000)
  const r = new Reassembler(() => 0)
  r.accept('node_a', parts[0]!, true)
  r.accept('node_a', parts[1]!, false)
  const out = r.accept('node_a', parts[2]!, true)
  assert.equal(out.type === 'frame' && out.overLink, false)
})

test('a newer transfer replaces an unfinished one; a stale one expires', () => {
  let now = 0
  const r = new Reassembler(() => now, 1000)
  const a = splitFrame(frame(3000), 1, 1000)
  const b = splitFrame(frame(2500), 2, 1000)
  r.accept('node_a', a[0]!, true)
  r.accept('node_a', b[0]!, true)
  r.accept('node_a', a[1]!, true) // the old transfer again: starts over as id 1
  r.accept('node_a', b[1]!, true)
  const done = r.accept('node_a', b[2]!, true)
  assert.equal(done.type, 'pending', 'b lost its first chunk when a came back')
  const c = splitFrame(frame(2000), 3, 1000)
  r.accept('node_a', c[0]!, true)
  now = 5000
  assert.equal(r.accept('node_a', c[1]!, true).type, 'pending', 'the transfer expired and started over')
  // Different senders do not mix.
  const d = splitFrame(frame(2000), 4, 1000)
  r.accept('node_b', d[0]!, true)
  assert.equal(r.accept('node_c', d[1]!, true).type, 'pending')
})

test('malformed chunks are refused, never thrown', () => {
  const r = new Reassembler(() => 0)
  const bad = (bytes: Uint8Array) => r.accept('node_a', bytes, true).type === 'refused'
  assert.ok(bad(new Uint8Array([1, CHUNK_KIND, 0])))
  const parts = splitFrame(frame(3000), 1, 1000)
  const wrongIndex = parts[0]!.slice()
  new DataView(wrongIndex.buffer).setUint32(6, 5)
  assert.ok(bad(wrongIndex))
  const huge = parts[0]!.slice()
  new DataView(huge.buffer).setUint32(10, MAX_CHUNKED_BYTES)
  assert.ok(bad(huge))
  const changed = parts[1]!.slice()
  r.accept('node_a', parts[0]!, true)
  new DataView(changed.buffer).setUint32(10, 4)
  assert.ok(bad(changed))
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 2, maxLength: 64 }), (bytes) => {
      bytes[0] = 1
      bytes[1] = CHUNK_KIND
      r.accept('node_z', bytes, false)
    }),
    { numRuns: 10_000 },
  )
})
