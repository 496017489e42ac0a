import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Counter, Registry } from 'prom-client'
import { HeapTrimmer, youngGenerationBytes } from '../../src/daemon/heap-trim.js'
import { nativeAddon, nativeProblem } from '../../src/os/native.js'

/** About 1.6 MiB of arrays that are garbage once this returns. */
function makeGarbage(): void {
  const keep: number[][] = []
  for (let i = 0; i < 200; i++) keep.push(new Array(1_000).fill(i))
}

test('heap trimmer: collects only after the heap grew by the threshold, and the collection frees garbage', async () => {
  const registry = new Registry()
  const trims = new Counter({ name: 't_trims_total', help: 'h', registers: [registry] })
  const t = new HeapTrimmer({
    intervalMs: 60_000,
    minSpacingMs: 0,
    minGarbageBytes: 4 * 1024 * 1024,
    trims,
    busy: () => 0,
  })
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
  const t = new HeapTrimmer({ intervalMs: 60_000, minSpacingMs: 0, minGarbageBytes: 1024, busy: () => load })
  assert.equal(t.tick(), false, 'busy: no forced pause in the middle of traffic')
  load = 0.05
  assert.equal(t.tick(), true, 'idle: collects')
  makeGarbage()
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
    minSpacingMs: 0,
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

test('heap trimmer: collections stay minSpacingMs apart however often it checks', () => {
  let now = 0
  const t = new HeapTrimmer({
    intervalMs: 2_000,
    minSpacingMs: 10_000,
    minGarbageBytes: 1,
    busy: () => 0,
    now: () => now,
  })
  assert.equal(t.tick(), true, 'first idle check collects')
  makeGarbage()
  now = 2_000
  assert.equal(t.tick(), false, 'garbage, but 2 s after the last collection')
  now = 10_000
  assert.equal(t.tick(), true, '10 s after: collects')
  t.stop()
})

test('heap trimmer: unmaps idle file pages on idle checks filesSpacingMs apart, collection or not, and counts the bytes', async () => {
  const registry = new Registry()
  const filesReleased = new Counter({ name: 't_files_total', help: 'h', registers: [registry] })
  let now = 0
  let load = 0
  let calls = 0
  const t = new HeapTrimmer({
    intervalMs: 2_000,
    minSpacingMs: 10_000,
    filesSpacingMs: 20_000,
    minGarbageBytes: 1 << 30,
    busy: () => load,
    now: () => now,
    releaseFiles: () => {
      calls++
      return calls === 2 ? -2 : 1000
    },
    filesReleased,
  })
  assert.equal(t.tick(), true, 'first idle check collects')
  assert.equal(calls, 1, 'and unmaps')
  now = 12_000
  assert.equal(t.tick(), false, 'no garbage: no collection')
  assert.equal(calls, 1, '12 s after the last: too soon')
  now = 20_000
  load = 0.9
  t.tick()
  assert.equal(calls, 1, 'busy: not while traffic runs')
  load = 0
  now = 22_000
  assert.equal(t.tick(), false, 'still no collection')
  assert.equal(calls, 2, 'idle, 22 s after: unmaps without a collection')
  now = 42_000
  t.tick()
  assert.equal(calls, 3)
  assert.equal(
    (await filesReleased.get()).values[0]?.value,
    2000 * 1024,
    'bytes counted from kB; the errno result (-2) adds nothing',
  )
  t.stop()
})

test('heap trimmer: with a collect that shrinks it, a grown young generation alone triggers, once per youngSpacingMs', () => {
  let now = 0
  let collections = 0
  const t = new HeapTrimmer({
    intervalMs: 2_000,
    minSpacingMs: 0,
    // A limit of 0: the young generation always counts as grown, so only the spacing decides.
    youngLimitBytes: 0,
    youngSpacingMs: 30_000,
    minGarbageBytes: 1 << 30,
    collect: () => collections++,
    busy: () => 0,
    now: () => now,
  })
  assert.equal(t.available, true)
  assert.equal(t.tick(), true, 'first check: the start-up collection')
  now = 2_000
  assert.equal(t.tick(), true, 'no garbage to speak of, but the young generation is past its limit')
  now = 4_000
  assert.equal(t.tick(), false, 'young generation again, within youngSpacingMs')
  now = 32_000
  assert.equal(t.tick(), true, 'youngSpacingMs later')
  assert.equal(collections, 3, 'each collection ran the given collect, not gc()')
  t.stop()
  // Without a collect of its own (gc() does not shrink the young generation) the young generation is ignored.
  const plain = new HeapTrimmer({
    intervalMs: 2_000,
    minSpacingMs: 0,
    youngLimitBytes: 0,
    minGarbageBytes: 1 << 30,
    busy: () => 0,
  })
  assert.equal(plain.tick(), true)
  assert.equal(plain.tick(), false)
})

const nativeOff = (process.env.BLACKROAD_NATIVE ?? '').toLowerCase() === 'off'

test('lowMemory (native addon) shrinks a grown young generation back to its minimum', {
  skip: nativeOff,
}, () => {
  const addon = nativeAddon()
  assert.ok(addon !== null, `native addon not loaded: ${nativeProblem()}`)
  assert.equal(typeof addon.lowMemory, 'function', 'the addon exports lowMemory')
  // Objects that survive a few scavenges each make V8 grow the young generation (this process runs with V8's
  // default limit of 16 MiB per semi-space).
  const keep: { i: number; s: string }[] = []
  for (let i = 0; i < 400_000 && youngGenerationBytes() <= 8 << 20; i++) {
    keep.push({ i, s: `x${i}` })
    if (keep.length > 30_000) keep.splice(0, 15_000)
  }
  const grown = youngGenerationBytes()
  assert.ok(grown > 8 << 20, `young generation grew to ${grown} bytes`)
  keep.length = 0
  addon.lowMemory!()
  const after = youngGenerationBytes()
  assert.ok(after <= 2 << 20, `young generation after lowMemory: ${after} bytes (was ${grown})`)
})
