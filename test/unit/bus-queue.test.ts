// The bounded pieces under the router: the ring deque, the per-link priority queue with its byte and
// count accounting and eviction, the duplicate cache's bounds, and the interest table's versions and expiry.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { DedupCache, InterestTable, PriorityQueue } from '../../src/bus/index.js'
import { Deque } from '../../src/bus/queue.js'

const item = (tag: number, size = 4) => new Uint8Array(size).fill(tag)

describe('Deque', () => {
  test('behaves like an array used as a queue, through growth and wrap-around', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.nat(1000), fc.constant(-1), fc.constant(-2))), (ops) => {
        const d = new Deque<number>()
        const model: number[] = []
        for (const op of ops) {
          if (op === -1) assert.equal(d.shift(), model.shift())
          else if (op === -2) assert.equal(d.pop(), model.pop())
          else {
            d.push(op)
            model.push(op)
          }
          assert.equal(d.length, model.length)
          assert.equal(d.peek(), model[0])
        }
        d.removeWhere((v) => v % 2 === 0)
        assert.deepEqual(
          Array.from({ length: d.length }, () => d.shift()),
          model.filter((v) => v % 2 !== 0),
        )
      }),
    )
  })
})

describe('PriorityQueue', () => {
  test('serves highest priority first, FIFO within a priority', () => {
    const q = new PriorityQueue<Uint8Array>({ maxCount: 100, maxBytes: 1000 })
    q.push(item(1), 4, 1)
    q.push(item(2), 4, 5)
    q.push(item(3), 4, 10)
    q.push(item(4), 4, 5)
    q.push(item(5), 4, 1)
    const order = Array.from({ length: 5 }, () => q.shift()![0])
    assert.deepEqual(order, [3, 2, 4, 1, 5])
    assert.equal(q.shift(), undefined)
    assert.equal(q.peekSize(), -1)
  })

  test('accounts bytes and count exactly and enforces both bounds', () => {
    const q = new PriorityQueue<Uint8Array>({ maxCount: 3, maxBytes: 10 })
    assert.ok(q.fits(10))
    assert.ok(!q.fits(11))
    q.push(item(1, 4), 4, 5)
    q.push(item(2, 4), 4, 5)
    assert.equal(q.bytes, 8)
    assert.ok(!q.fits(3))
    assert.ok(q.fits(2))
    q.push(item(3, 1), 1, 5)
    assert.ok(!q.fits(0), 'count bound')
    assert.equal(q.count, 3)
    q.shift()
    assert.equal(q.bytes, 5)
    assert.equal(q.clear(), 2)
    assert.equal(q.bytes, 0)
  })

  test('evicts the newest entry of the lowest priority below the given one', () => {
    const q = new PriorityQueue<Uint8Array>({ maxCount: 10, maxBytes: 1000 })
    q.push(item(1), 4, 2)
    q.push(item(2), 4, 2)
    q.push(item(3), 4, 7)
    assert.equal(q.evictBelow(2), undefined)
    assert.equal(q.evictBelow(8)![0], 2)
    assert.equal(q.evictBelow(8)![0], 1)
    assert.equal(q.evictBelow(7), undefined)
    assert.equal(q.count, 1)
  })

  test('never exceeds its bounds under random use by a caller that checks fits()', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ push: fc.boolean(), size: fc.nat(50), prio: fc.integer({ min: 1, max: 10 }) })),
        (ops) => {
          const q = new PriorityQueue<Uint8Array>({ maxCount: 8, maxBytes: 120 })
          let bytes = 0
          let count = 0
          for (const o of ops) {
            if (o.push && q.fits(o.size)) {
              q.push(new Uint8Array(o.size), o.size, o.prio)
              bytes += o.size
              count++
            } else if (!o.push) {
              const v = q.shift()
              if (v) {
                bytes -= v.length
                count--
              }
            }
            assert.equal(q.bytes, bytes)
            assert.equal(q.count, count)
            assert.ok(bytes <= 120 && count <= 8)
          }
        },
      ),
    )
  })
})

describe('DedupCache', () => {
  test('recognises ids by origin, epoch and sequence', () => {
    const d = new DedupCache(0)
    assert.equal(d.seen('a', 1, 1, 0), false)
    assert.equal(d.seen('a', 1, 1, 0), true)
    assert.equal(d.seen('a', 2, 1, 0), false)
    assert.equal(d.seen('b', 1, 1, 0), false)
    assert.ok(d.has('b', 1, 1))
  })

  test('holds at most `capacity` ids and remembers each for at least capacity / 2 later ids', () => {
    const d = new DedupCache(0, { capacity: 100, windowMs: 1e9 })
    for (let i = 0; i < 1000; i++) {
      d.add('a', 1, i, 0)
      assert.ok(d.size <= 100)
      for (let back = 0; back < 50 && back <= i; back++)
        assert.ok(d.has('a', 1, i - back), `id ${i - back} at ${i}`)
    }
    assert.ok(!d.has('a', 1, 0))
  })

  test('forgets after the window', () => {
    const d = new DedupCache(0, { capacity: 1000, windowMs: 100 })
    d.add('a', 1, 1, 0)
    d.add('a', 1, 2, 60)
    assert.ok(d.has('a', 1, 1), 'still within the window')
    d.add('a', 1, 3, 130)
    assert.ok(!d.has('a', 1, 1), 'two rotations later')
  })
})

describe('InterestTable', () => {
  test('takes newer versions only, replaces patterns, expires, evicts the stalest', () => {
    const t = new InterestTable({ maxNodes: 2, ttlMs: 100 })
    assert.ok(t.apply({ node: 'a', version: 2, patterns: ['x.*'] }, 0))
    assert.ok(!t.apply({ node: 'a', version: 2, patterns: ['y'] }, 0))
    assert.ok(!t.apply({ node: 'a', version: 1, patterns: ['y'] }, 0))
    assert.deepEqual(t.match('x.1'), ['a'])
    assert.ok(t.apply({ node: 'a', version: 3, patterns: ['y'] }, 0))
    assert.deepEqual(t.match('x.1'), [])
    assert.deepEqual(t.match('y'), ['a'])
    assert.ok(t.apply({ node: 'b', version: 1, patterns: ['y'] }, 50))
    assert.deepEqual([...t.match('y')].sort(), ['a', 'b'])
    assert.deepEqual(t.expire(120), ['a'])
    assert.deepEqual(t.match('y'), ['b'])
    t.apply({ node: 'c', version: 1, patterns: [] }, 120)
    t.apply({ node: 'd', version: 1, patterns: ['y'] }, 120)
    assert.equal(t.nodes, 2)
    assert.deepEqual(t.match('y'), ['d'], 'b was the stalest and went first')
  })
})
