// The Raft store on a real filesystem: what is saved is what reopening returns, through appends,
// conflicting suffixes, snapshots (kept tail and discarded log) and WAL rewrites; a torn or bit-flipped
// tail is detected and cut back to the last intact record; damage before intact records, a damaged
// snapshot file and a state that goes backwards are refused with their codes. A property test drives
// random Raft-like histories and tears the WAL at random bytes.

import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import {
  type Entry,
  initialSnapshot,
  type RaftDurable,
  type Snapshot,
} from '../../src/protocols/raft/index.js'
import { RaftLogError, RaftLogStore, SNAPSHOT_FILE, WAL_FILE } from '../../src/raftlog/index.js'

const dirs: string[] = []
async function freshDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'raftlog-'))
  dirs.push(d)
  return d
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

/** A Raft-like history of durable states: the operations a node's log really goes through. */
class Model {
  term = 1
  vote: string | null = 'n1'
  commit = 0
  snapshot: Snapshot = initialSnapshot(['n1', 'n2', 'n3'])
  entries: Entry[] = []

  get last(): number {
    return this.snapshot.index + this.entries.length
  }
  termAt(i: number): number {
    return i === this.snapshot.index ? this.snapshot.term : this.entries[i - this.snapshot.index - 1]!.term
  }
  append(n: number): void {
    for (let k = 0; k < n; k++) {
      const index = this.last + 1
      this.entries.push({ index, term: this.term, kind: 'command', data: bytes(`e${index}t${this.term}`) })
    }
  }
  newTerm(vote: string | null): void {
    this.term++
    this.vote = vote
  }
  /** A new leader overwrote our uncommitted suffix from `keep + 1` on. */
  conflict(keep: number, n: number): void {
    const at = Math.max(this.commit, this.snapshot.index, Math.min(keep, this.last))
    this.newTerm('n2')
    this.entries.length = at - this.snapshot.index
    this.append(n)
  }
  commitTo(i: number): void {
    this.commit = Math.max(this.commit, Math.min(i, this.last))
  }
  compact(): void {
    if (this.commit <= this.snapshot.index) return
    const index = this.commit
    const term = this.termAt(index)
    this.entries = this.entries.filter((e) => e.index > index)
    this.snapshot = { index, term, config: this.snapshot.config, data: bytes(`s${index}`) }
  }
  /** InstallSnapshot that conflicts with our log: everything is replaced. */
  install(ahead: number): void {
    const index = this.last + ahead
    this.newTerm(null)
    this.snapshot = { index, term: this.term, config: this.snapshot.config, data: bytes(`i${index}`) }
    this.entries = []
    this.commit = index
  }
  state(): RaftDurable {
    return {
      term: this.term,
      vote: this.vote,
      commit: this.commit,
      snapshot: this.snapshot,
      entries: [...this.entries],
    }
  }
}

test('reopening returns exactly what was saved, through appends, conflicts, snapshots and installs', async () => {
  const dir = await freshDir()
  let store = await RaftLogStore.open(dir)
  assert.equal(store.initial, undefined)
  const m = new Model()
  const steps: (() => void)[] = [
    () => m.append(5),
    () => m.commitTo(3),
    () => m.conflict(4, 3),
    () => m.commitTo(6),
    () => m.compact(),
    () => m.append(2),
    () => m.install(4),
    () => m.append(3),
    () => m.newTerm('n3'),
    () => m.conflict(100, 1),
  ]
  for (const stepFn of steps) {
    stepFn()
    await store.save(m.state())
    await store.close()
    store = await RaftLogStore.open(dir)
    assert.deepEqual(store.initial, m.state())
    assert.equal(store.report.repairedTail, undefined)
  }
  await store.close()
})

test('a torn last write (file cut mid-record) is detected and cut back to the previous save', async () => {
  const dir = await freshDir()
  const store = await RaftLogStore.open(dir)
  const m = new Model()
  m.append(3)
  await store.save(m.state())
  const before = m.state()
  m.append(2)
  await store.save(m.state())
  await store.close()
  const full = (await stat(path.join(dir, WAL_FILE))).size
  await truncate(path.join(dir, WAL_FILE), full - 3)
  const reopened = await RaftLogStore.open(dir)
  assert.ok(reopened.report.repairedTail, 'the tear is reported')
  assert.equal(reopened.report.repairedTail.problem, 'truncated')
  // The last save wrote several records; the ones before the torn one stay (they are a prefix of it).
  const got = reopened.initial!
  assert.equal(got.term, before.term)
  assert.ok(got.entries.length >= before.entries.length && got.entries.length < m.state().entries.length)
  assert.deepEqual(got.entries.slice(0, before.entries.length), before.entries)
  // The file itself was repaired: opening again finds nothing to repair.
  await reopened.close()
  const again = await RaftLogStore.open(dir)
  assert.equal(again.report.repairedTail, undefined)
  await again.close()
})

test('a flipped byte in the last record is caught by its checksum and that record dropped', async () => {
  const dir = await freshDir()
  const store = await RaftLogStore.open(dir)
  const m = new Model()
  m.append(4)
  await store.save(m.state())
  const before = m.state()
  m.newTerm('n2')
  await store.save(m.state())
  await store.close()
  const file = path.join(dir, WAL_FILE)
  const buf = await readFile(file)
  buf[buf.length - 2]! ^= 0x40
  await writeFile(file, buf)
  const reopened = await RaftLogStore.open(dir)
  assert.equal(reopened.report.repairedTail?.problem, 'checksum')
  assert.deepEqual(reopened.initial, before, 'the damaged hard-state record is not used')
  await reopened.close()
})

test('damage before intact records is refused (LOG_CORRUPT), not silently truncated', async () => {
  const dir = await freshDir()
  const store = await RaftLogStore.open(dir)
  const m = new Model()
  for (let i = 0; i < 5; i++) {
    m.append(2)
    await store.save(m.state())
  }
  await store.close()
  const file = path.join(dir, WAL_FILE)
  const buf = await readFile(file)
  buf[Math.floor(buf.length / 3)]! ^= 0x01
  await writeFile(file, buf)
  await assert.rejects(RaftLogStore.open(dir), (e) => e instanceof RaftLogError && e.code === 'LOG_CORRUPT')
})

test('a damaged snapshot file is refused (SNAPSHOT_CORRUPT)', async () => {
  const dir = await freshDir()
  const store = await RaftLogStore.open(dir)
  const m = new Model()
  m.append(4)
  m.commitTo(4)
  m.compact()
  await store.save(m.state())
  await store.close()
  const file = path.join(dir, SNAPSHOT_FILE)
  const buf = await readFile(file)
  buf[buf.length - 1]! ^= 0xff
  await writeFile(file, buf)
  await assert.rejects(
    RaftLogStore.open(dir),
    (e) => e instanceof RaftLogError && e.code === 'SNAPSHOT_CORRUPT',
  )
})

test('a state that goes backwards is refused (BAD_STATE)', async () => {
  const dir = await freshDir()
  const store = await RaftLogStore.open(dir)
  const m = new Model()
  m.newTerm('n1')
  await store.save(m.state())
  const s = m.state()
  await assert.rejects(
    store.save({ ...s, term: s.term - 1 }),
    (e) => e instanceof RaftLogError && e.code === 'BAD_STATE',
  )
  await store.close()
})

test('the WAL is rewritten once mostly dead, and the rewrite reopens to the same state', async () => {
  const dir = await freshDir()
  let store = await RaftLogStore.open(dir, { compactBytes: 4096 })
  const m = new Model()
  for (let round = 0; round < 60; round++) {
    m.append(5)
    m.commitTo(m.last - 1)
    if (round % 4 === 3) m.compact()
    await store.save(m.state())
  }
  const size = (await stat(path.join(dir, WAL_FILE))).size
  assert.ok(size < 8192, `WAL of ${size} bytes was not compacted`)
  await store.close()
  store = await RaftLogStore.open(dir, { compactBytes: 4096 })
  assert.deepEqual(store.initial, m.state())
  await store.close()
})

type Op =
  | { t: 'append'; n: number }
  | { t: 'commit' }
  | { t: 'conflict'; keep: number; n: number }
  | { t: 'compact' }
  | { t: 'install' }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({ t: fc.constant('append' as const), n: fc.integer({ min: 1, max: 4 }) }),
    weight: 4,
  },
  { arbitrary: fc.constant({ t: 'commit' as const }), weight: 2 },
  {
    arbitrary: fc.record({
      t: fc.constant('conflict' as const),
      keep: fc.nat(30),
      n: fc.integer({ min: 1, max: 3 }),
    }),
    weight: 1,
  },
  { arbitrary: fc.constant({ t: 'compact' as const }), weight: 1 },
  { arbitrary: fc.constant({ t: 'install' as const }), weight: 1 },
)

function play(m: Model, op: Op): void {
  if (op.t === 'append') m.append(op.n)
  else if (op.t === 'commit') m.commitTo(m.last)
  else if (op.t === 'conflict') m.conflict(op.keep, op.n)
  else if (op.t === 'compact') m.compact()
  else m.install(2)
}

test('property: any history reopens to its last save; a last save torn at any byte reopens between the last two', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { minLength: 1, maxLength: 12 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      async (ops, cut) => {
        const dir = await freshDir()
        const file = path.join(dir, WAL_FILE)
        const store = await RaftLogStore.open(dir)
        const m = new Model()
        let prev: RaftDurable | undefined
        let last: RaftDurable | undefined
        let sizeBefore = 0
        for (const op of ops) {
          play(m, op)
          prev = last
          sizeBefore = (await stat(file)).size
          last = m.state()
          await store.save(last)
        }
        await store.close()
        const reopened = await RaftLogStore.open(dir)
        assert.deepEqual(reopened.initial, last)
        await reopened.close()
        // A crash during the last save: only its own bytes can be torn; every earlier save was fsynced. A
        // save that installs a snapshot fsyncs its new term before writing the snapshot file, so a crash
        // after the snapshot file exists cannot tear that first record.
        const size = (await stat(file)).size
        let from = sizeBefore
        const hardFirst = prev === undefined || prev.term !== last!.term || prev.vote !== last!.vote
        if (hardFirst && (prev === undefined || prev.snapshot.index !== last!.snapshot.index)) {
          const wal = await readFile(file)
          from += 8 + new DataView(wal.buffer, wal.byteOffset + sizeBefore, 4).getUint32(0)
        }
        await truncate(file, from + Math.floor((size - from) * cut))
        const torn = await RaftLogStore.open(dir)
        const got = torn.initial
        await torn.close()
        await rm(dir, { recursive: true, force: true })
        if (prev === undefined || last === undefined || got === undefined) return
        const hard = (d: RaftDurable) => `${d.term}/${d.vote}`
        assert.ok([hard(prev), hard(last)].includes(hard(got)), `hard state ${hard(got)} was never saved`)
        assert.deepEqual(got.snapshot, last.snapshot, 'the snapshot file is written before the WAL')
        const at = (d: RaftDurable, i: number) => d.entries[i - d.snapshot.index - 1]
        for (const e of got.entries) {
          const a = at(prev, e.index)
          const b = at(last, e.index)
          assert.ok(isDeepStrictEqual(e, a) || isDeepStrictEqual(e, b), `entry ${e.index} is in neither save`)
        }
        // Entries both saves hold (past the snapshot) were durable before the last save began: none lost.
        for (const e of last.entries) {
          const a = at(prev, e.index)
          if (a !== undefined && a.term === e.term)
            assert.deepEqual(at(got, e.index), e, `entry ${e.index} was lost`)
        }
      },
    ),
    { numRuns: 80 },
  )
})
