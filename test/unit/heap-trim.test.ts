import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Counter, Registry } from 'prom-client'
import { HeapTrimmer } from '../../src/daemon/heap-trim.js'

test('heap trimmer: collects only after the heap grew by the threshold, and the collection frees garbage', async () => {
  const registry = new Registry()
  const trims = new Counter({ name: 't_trims_total', help: 'h', registers: [registry] })
  const t = new HeapTrimmer({ intervalMs: 60_000, minGarbageBytes: 4 * 1024 * 1024, trims, busy: () => 0 })
  assert.equal(t.available, true, 'gc() is obtainable at run time')
  assert.equal(t.tick(), true, 'the first check collects and sets the baseline')
  assert.equal(t.tick(), false, 'nothing allocated since: no collection')
  // ~16 MiB of short-lived garbage, kept reachable only until the loop ends.
  let keep: number[][] = []
  for (let i = 0; i < 2_000; i++) keep.push(new Array(1_000).fill(i))
  const grown = process.memoryUsage().heapUsed
  keep = []
  assert.equal(keep.length, 0)
  assert.equal(t.tick(), true, 'grown by more than the threshold: collects')
  assert.ok(process.memoryUsage().heapUsed < grown - 8 * 1024 * 1024, 'the garbage was collected')
  assert.equal((await trims.get()).values[0]?.value, 2, 'each collection counted')
  t.stop()
})

test('heap trimmer: skips while the event loop was busy, collects once it is idle again', () => {
  let load = 0.9
  const t = new HeapTrimmer({ intervalMs: 60_000, minGarbageBytes: 1024, busy: () => load })
  assert.equal(t.tick(), false, 'busy: no forced pause in the middle of traffic')
  load = 0.05
  assert.equal(t.tick(), true, 'idle: collects')
  let keep: number[][] = []
  for (let i = 0; i < 200; i++) keep.push(new Array(1_000).fill(i))
  keep = []
  assert.equal(keep.length, 0)
  load = 0.3
  assert.equal(t.tick(), false, 'grown, but above the default 25 % utilisation')
  load = 0.1
  assert.equal(t.tick(), true)
  t.stop()
})

test('heap trimmer: hands the C heap back after each collection it runs, and counts the times it gave memory back', async () => {
  const registry = new Registry()
  const releases = new Counter({ name: 't_releases_total', help: 'h', registers: [registry] })
  let calls = 0
  let gives = true
  const t = new HeapTrimmer({
    intervalMs: 60_000,
    minGarbageBytes: 64 << 20,
    busy: () => 0,
    releaseC: () => {
      calls++
      return gives
    },
    releases,
  })
  assert.equal(t.tick(), true)
  assert.equal(calls, 1, 'released after the collection')
  assert.equal(t.tick(), false, 'no collection: nothing to release')
  assert.equal(calls, 1)
  gives = false
  let keep: number[][] = []
  for (let i = 0; i < 10_000; i++) keep.push(new Array(1_000).fill(i))
  keep = []
  assert.equal(keep.length, 0)
  assert.equal(t.tick(), true)
  assert.equal(calls, 2)
  assert.equal(
    (await releases.get()).values[0]?.value,
    1,
    'only the release that gave memory back is counted',
  )
  t.stop()
})
