import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { deflateSync, inflateSync } from 'node:zlib'
import { nativeAddon, nativeProblem } from '../../src/os/native.js'

const off = (process.env.BLACKROAD_NATIVE ?? '').toLowerCase() === 'off'

/** Resident KiB of the process's C heap ([heap] in /proc/self/smaps). */
/**
 * Anonymous resident memory of this process (RssAnon), KiB. Not the [heap] mapping alone: glibc moves a thread
 * whose arena is locked by another thread (V8's helpers allocate too) to a second arena, which lives in its own
 * mappings, and the blocks then never reach [heap] (seen in CI: [heap] at 2 MiB before and after). malloc_trim
 * trims every arena.
 */
function anonKiB(): number {
  const m = /^RssAnon:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))
  assert.ok(m !== null, 'RssAnon in /proc/self/status')
  return Number(m[1])
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
  const before = anonKiB()
  const released = addon.mallocTrim!()
  const after = anonKiB()
  assert.equal(released, true, 'malloc_trim reported memory returned')
  assert.ok(
    before - after > 20 * 1024,
    `anonymous resident ${before} -> ${after} KiB: expected > 20 MiB released`,
  )
  assert.equal(blocks.filter((b) => b !== null).length, 640, 'the live blocks are still there')
  assert.equal(blocks[16]![0], 16, 'and intact')
})

interface Mapping {
  header: string
  readonlyFile: boolean
  rss: number
  anon: number
}

/** The process's mappings from /proc/self/smaps: header line, whether private read-only file-backed, Rss, Anonymous. */
function mappings(): Mapping[] {
  const out: Mapping[] = []
  for (const l of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const h = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ (\d+)/.exec(l)
    if (h !== null) {
      const perms = h[1]!
      out.push({
        header: l,
        readonlyFile: perms[0] === 'r' && perms[1] === '-' && perms[3] === 'p' && h[2] !== '0',
        rss: 0,
        anon: 0,
      })
    } else if (l.startsWith('Rss:')) out.at(-1)!.rss = Number(l.split(/\s+/)[1])
    else if (l.startsWith('Anonymous:')) out.at(-1)!.anon = Number(l.split(/\s+/)[1])
  }
  return out
}

test('dropFilePages unmaps resident pages of read-only file mappings, keeps private copies, and pages map back on use', {
  skip: off,
}, () => {
  const addon = nativeAddon()
  assert.ok(addon !== null, `native addon not loaded: ${nativeProblem()}`)
  assert.equal(typeof addon.dropFilePages, 'function')
  const before = mappings()
  const fileKiB = (ms: Mapping[]) =>
    ms.filter((m) => m.readonlyFile && m.anon === 0).reduce((s, m) => s + m.rss, 0)
  // Pages holding private copies (relocated RELRO data of node and the libraries): DONTNEED would discard them.
  const copies = new Map(before.filter((m) => m.readonlyFile && m.anon > 0).map((m) => [m.header, m.anon]))
  assert.ok(fileKiB(before) > 8 * 1024, `node maps > 8 MiB of its binary (${fileKiB(before)} KiB)`)
  const kib = addon.dropFilePages!()
  const after = mappings()
  assert.ok(kib > 8 * 1024, `reported ${kib} KiB unmapped`)
  assert.ok(
    fileKiB(after) < fileKiB(before) / 2,
    `read-only file pages resident ${fileKiB(before)} -> ${fileKiB(after)} KiB`,
  )
  for (const m of after) {
    const was = copies.get(m.header)
    if (was !== undefined) assert.equal(m.anon, was, `private copies kept in ${m.header}`)
  }
  // What is used again maps back from the page cache: code of node, zlib, OpenSSL and the addon itself.
  const text = Buffer.from('blackroad '.repeat(1000))
  assert.deepEqual(inflateSync(deflateSync(text)), text)
  assert.equal(createHash('sha256').update('abc').digest('hex').slice(0, 8), 'ba7816bf')
  assert.equal(typeof addon.mallocTrim!(), 'boolean')
})
