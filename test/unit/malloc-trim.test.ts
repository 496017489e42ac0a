import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { nativeAddon, nativeProblem } from '../../src/os/native.js'

const off = (process.env.BLACKROAD_NATIVE ?? '').toLowerCase() === 'off'

/** Resident KiB of the process's C heap ([heap] in /proc/self/smaps). */
function cHeapKiB(): number {
  const lines = readFileSync('/proc/self/smaps', 'utf8').split('\n')
  let inHeap = false
  let kib = 0
  for (const l of lines) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(l)) inHeap = l.trimEnd().endsWith('[heap]')
    else if (inHeap && l.startsWith('Rss:')) kib += Number(l.split(/\s+/)[1])
  }
  return kib
}

test('mallocTrim gives the free pages between live blocks of the C heap back to the kernel', {
  skip: off,
}, async () => {
  const addon = nativeAddon()
  assert.ok(addon !== null, `native addon not loaded: ${nativeProblem()}`)
  assert.equal(typeof addon.mallocTrim, 'function', 'glibc build exports mallocTrim')
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  // 40 MiB of 4 KiB C-heap blocks (Buffer.allocUnsafeSlow: one malloc each, below the mmap threshold), written so
  // they are resident. Every 16th stays alive, so free() alone cannot shrink the heap from its top.
  const blocks: (Buffer | null)[] = []
  for (let i = 0; i < 10_240; i++) blocks.push(Buffer.allocUnsafeSlow(4096).fill(i & 0xff))
  for (let i = 0; i < blocks.length; i++) if (i % 16 !== 0) blocks[i] = null
  gc()
  // V8 frees dead backing stores on a background thread after the collection; wait until the heap stops moving.
  await new Promise((r) => setTimeout(r, 300))
  gc()
  await new Promise((r) => setTimeout(r, 300))
  const before = cHeapKiB()
  const released = addon.mallocTrim!()
  const after = cHeapKiB()
  assert.equal(released, true, 'malloc_trim reported memory returned')
  assert.ok(
    before - after > 20 * 1024,
    `[heap] resident ${before} -> ${after} KiB: expected > 20 MiB released`,
  )
  assert.equal(blocks.filter((b) => b !== null).length, 640, 'the live blocks are still there')
  assert.equal(blocks[16]![0], 16, 'and intact')
})
