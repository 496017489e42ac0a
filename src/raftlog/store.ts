// Durable storage for one node's Raft state: what the daemon's driver calls in the persist step, before
// anything of the same batch is sent. Two files in the data directory:
//
//   snapshot   one checksummed frame: the snapshot (index, term, membership, state-machine bytes), replaced
//              atomically (write snapshot.tmp, fsync, rename, fsync the directory)
//   wal        checksummed records (records.ts), appended and fdatasync'ed before save() resolves; rewritten
//              atomically the same way once it is mostly dead records
//
// save() takes Raft's whole durable state and writes only the difference from what is on disk: new
// entries, a truncation, a new hard state, a new snapshot. Open repairs a torn tail (the only damage a crash
// can do to an append-only file) and refuses damage anywhere else rather than silently losing data.

import type { FileHandle } from 'node:fs/promises'
import { mkdir, open, readFile, rename, rm, truncate } from 'node:fs/promises'
import path from 'node:path'
import type { RaftDurable, Snapshot } from '../protocols/raft/index.js'
import { durableProblem, snapshotCodec } from '../protocols/raft/index.js'
import { DecodeError, decodeWith, encodeWith } from '../wire/index.js'
import { RaftLogError } from './errors.js'
import { encodeFrame, intactFrameAfter, readFrame, scanFrames } from './frame.js'
import { ReplayedLog, type WalRecord, walRecordCodec } from './records.js'

export const WAL_FILE = 'wal'
export const SNAPSHOT_FILE = 'snapshot'

export interface RaftLogOptions {
  /** Rewrite the WAL once it exceeds this many bytes and is at least half dead records. Default 64 MiB. */
  readonly compactBytes?: number
}

export interface OpenReport {
  /** A torn tail cut off the WAL on open: where it started, how many bytes, and what was wrong. */
  readonly repairedTail?: { readonly offset: number; readonly bytes: number; readonly problem: string }
  readonly walBytes: number
  readonly records: number
}

async function fsyncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r')
  try {
    await dh.sync()
  } finally {
    await dh.close()
  }
}

async function readOptional(file: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(file))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** Writes `bytes` to `dir/name` so that a crash leaves either the old file or the whole new one. */
async function writeAtomic(dir: string, name: string, bytes: Uint8Array): Promise<void> {
  const tmp = path.join(dir, `${name}.tmp`)
  const fh = await open(tmp, 'w')
  try {
    await fh.write(bytes)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path.join(dir, name))
  await fsyncDir(dir)
}

function decodeSnapshotFile(buf: Uint8Array): Snapshot {
  const f = readFrame(buf, 0)
  if ('problem' in f || f.end !== buf.length) {
    throw new RaftLogError(
      'SNAPSHOT_CORRUPT',
      `snapshot file fails its ${'problem' in f ? f.problem : 'length'} check`,
    )
  }
  try {
    return decodeWith(snapshotCodec, f.payload)
  } catch (err) {
    throw new RaftLogError('SNAPSHOT_CORRUPT', 'snapshot file does not decode', { cause: err })
  }
}

export class RaftLogStore {
  private fh: FileHandle | undefined
  private queue: Promise<void> = Promise.resolve()
  private broken = false
  private snapshotWritten: boolean
  private walBytes: number
  private compactAt: number
  /** What is on disk, enough to compute the next difference: hard state, base and the entries' terms. */
  private term: number
  private vote: string | null
  private commit: number
  private snapIndex: number
  private snapTerm: number
  private readonly terms: number[]

  private constructor(
    readonly dir: string,
    /** The state to create the Raft machine from; undefined on a node's first boot. */
    readonly initial: RaftDurable | undefined,
    readonly report: OpenReport,
    private readonly options: Required<RaftLogOptions>,
  ) {
    const d = initial
    this.snapshotWritten = d !== undefined
    this.term = d?.term ?? 0
    this.vote = d?.vote ?? null
    this.commit = d?.commit ?? 0
    this.snapIndex = d?.snapshot.index ?? 0
    this.snapTerm = d?.snapshot.term ?? 0
    this.terms = d?.entries.map((e) => e.term) ?? []
    this.walBytes = report.walBytes
    this.compactAt = options.compactBytes
  }

  static async open(dir: string, options: RaftLogOptions = {}): Promise<RaftLogStore> {
    // A new directory's own entry must be durable too, or a crash can lose the whole directory.
    const created = await mkdir(dir, { recursive: true })
    if (created !== undefined) await fsyncDir(path.dirname(path.resolve(created)))
    await rm(path.join(dir, `${WAL_FILE}.tmp`), { force: true })
    await rm(path.join(dir, `${SNAPSHOT_FILE}.tmp`), { force: true })
    const snapBytes = await readOptional(path.join(dir, SNAPSHOT_FILE))
    const snapshot = snapBytes === undefined ? undefined : decodeSnapshotFile(snapBytes)
    const walPath = path.join(dir, WAL_FILE)
    const wal = (await readOptional(walPath)) ?? new Uint8Array(0)
    const scan = scanFrames(wal)
    let repairedTail: OpenReport['repairedTail']
    if (scan.problem !== undefined) {
      const later = intactFrameAfter(wal, scan.goodLength)
      if (later !== undefined) {
        throw new RaftLogError(
          'LOG_CORRUPT',
          `WAL damaged at byte ${scan.goodLength} (${scan.problem}) with intact records after it (at ${later}): refusing to drop them`,
        )
      }
      repairedTail = { offset: scan.goodLength, bytes: wal.length - scan.goodLength, problem: scan.problem }
      await truncate(walPath, scan.goodLength)
      const fh = await open(walPath, 'r+')
      await fh.sync().finally(() => fh.close())
    }
    const log = new ReplayedLog()
    for (const payload of scan.payloads) {
      let rec: WalRecord
      try {
        rec = decodeWith(walRecordCodec, payload)
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err
        throw new RaftLogError(
          'LOG_CORRUPT',
          `a WAL record passes its checksum but does not decode: ${err.message}`,
        )
      }
      const problem = log.apply(rec)
      if (problem !== undefined) throw new RaftLogError('INCONSISTENT', `WAL replay: ${problem}`)
    }
    let initial: RaftDurable | undefined
    if (snapshot !== undefined) {
      if (snapshot.index < log.baseIndex) {
        throw new RaftLogError(
          'INCONSISTENT',
          `WAL compacted to ${log.baseIndex}, past the snapshot at ${snapshot.index}`,
        )
      }
      // The snapshot file is written before the WAL learns of it: apply it last, with Raft's install rule.
      log.rebase(snapshot.index, snapshot.term)
      const d = {
        term: log.term,
        vote: log.vote,
        commit: Math.min(log.commit, log.lastIndex),
        snapshot,
        entries: log.entries,
      }
      const problem = durableProblem(d)
      if (problem !== undefined) throw new RaftLogError('INCONSISTENT', `stored Raft state: ${problem}`)
      initial = d
    } else if (scan.payloads.length > 0) {
      throw new RaftLogError(
        'INCONSISTENT',
        'WAL records without a snapshot file (the snapshot is always written first)',
      )
    }
    const report = { repairedTail, walBytes: scan.goodLength, records: scan.payloads.length }
    const store = new RaftLogStore(dir, initial, report, {
      compactBytes: options.compactBytes ?? 64 * 1024 * 1024,
    })
    store.fh = await open(walPath, 'a')
    await fsyncDir(dir)
    return store
  }

  /**
   * Makes `d` durable: resolves only after the bytes are fsync'ed. Calls are serialised in call order.
   * After a failed write the store refuses further saves (CLOSED): the kernel may have dropped the dirty
   * pages, so only reopening (re-reading what really is on disk) is safe.
   */
  save(d: RaftDurable): Promise<void> {
    const next = this.queue.then(() => this.write(d))
    this.queue = next.catch(() => undefined)
    return next
  }

  async close(): Promise<void> {
    await this.queue
    this.broken = true
    await this.fh?.close()
    this.fh = undefined
  }

  private async write(d: RaftDurable): Promise<void> {
    if (this.broken || this.fh === undefined) throw new RaftLogError('CLOSED', 'the Raft store is closed')
    if (d.term < this.term || (d.term === this.term && this.vote !== null && d.vote !== this.vote)) {
      throw new RaftLogError(
        'BAD_STATE',
        `save goes backwards: term ${this.term}→${d.term}, vote ${this.vote}→${d.vote}`,
      )
    }
    if (d.snapshot.index < this.snapIndex) {
      throw new RaftLogError(
        'BAD_STATE',
        `snapshot ${d.snapshot.index} is older than the stored ${this.snapIndex}`,
      )
    }
    try {
      // Order matters because a crash can cut a save anywhere. Term and vote go first (with the old commit
      // index), so no entry or snapshot on disk is ever of a later term than the hard state; the commit
      // index goes last, so it never covers an old entry that the new ones were about to replace.
      let records: WalRecord[] = []
      if (d.term !== this.term || d.vote !== this.vote) {
        records.push({ type: 'hard', term: d.term, vote: d.vote, commit: this.commit })
        this.term = d.term
        this.vote = d.vote
      }
      const s = d.snapshot
      if (!this.snapshotWritten || s.index !== this.snapIndex) {
        await this.append(records)
        records = []
        await writeAtomic(this.dir, SNAPSHOT_FILE, encodeFrame(encodeWith(snapshotCodec, s)))
        this.snapshotWritten = true
        const keep = this.termAt(s.index) === s.term
        this.terms.splice(0, keep ? s.index - this.snapIndex : this.terms.length)
        this.snapIndex = s.index
        this.snapTerm = s.term
        records.push({ type: 'base', index: s.index, term: s.term })
      }
      this.entryRecords(d, records)
      if (d.commit !== this.commit) {
        records.push({ type: 'hard', term: d.term, vote: d.vote, commit: d.commit })
        this.commit = d.commit
      }
      await this.append(records)
      if (this.walBytes > this.compactAt) await this.compact(d)
    } catch (err) {
      this.broken = true
      throw err
    }
  }

  /** Appends records to the WAL in one write and makes them durable. */
  private async append(records: readonly WalRecord[]): Promise<void> {
    if (records.length === 0) return
    const frames = records.map((r) => encodeFrame(encodeWith(walRecordCodec, r)))
    const bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0))
    let at = 0
    for (const f of frames) {
      bytes.set(f, at)
      at += f.length
    }
    await this.fh!.write(bytes)
    await this.fh!.datasync()
    this.walBytes += bytes.length
  }

  /** The ENTRY/TRUNCATE records that turn the stored log into `d`'s, updating the mirror of terms. */
  private entryRecords(d: RaftDurable, records: WalRecord[]): void {
    const s = d.snapshot
    // By Log Matching, the last index where both logs have the same term ends their common prefix.
    const dLast = s.index + d.entries.length
    const mLast = this.snapIndex + this.terms.length
    let j = Math.min(dLast, mLast)
    while (j > this.snapIndex && this.terms[j - this.snapIndex - 1] !== d.entries[j - s.index - 1]!.term) j--
    if (j === dLast && dLast < mLast) records.push({ type: 'truncate', after: dLast })
    this.terms.length = j - this.snapIndex
    for (let i = j + 1; i <= dLast; i++) {
      const entry = d.entries[i - s.index - 1]!
      records.push({ type: 'entry', entry })
      this.terms.push(entry.term)
    }
  }

  private termAt(index: number): number | undefined {
    if (index === this.snapIndex) return this.snapTerm
    return this.terms[index - this.snapIndex - 1]
  }

  /** Rewrites the WAL as base + live entries + hard state when that is less than half its size. */
  private async compact(d: RaftDurable): Promise<void> {
    const live: WalRecord[] = [{ type: 'base', index: d.snapshot.index, term: d.snapshot.term }]
    for (const entry of d.entries) live.push({ type: 'entry', entry })
    live.push({ type: 'hard', term: d.term, vote: d.vote, commit: d.commit })
    const frames = live.map((r) => encodeFrame(encodeWith(walRecordCodec, r)))
    const size = frames.reduce((n, f) => n + f.length, 0)
    this.compactAt = Math.max(this.options.compactBytes, 2 * size)
    if (size * 2 > this.walBytes) return
    const bytes = new Uint8Array(size)
    let at = 0
    for (const f of frames) {
      bytes.set(f, at)
      at += f.length
    }
    await this.fh!.close()
    this.fh = undefined
    await writeAtomic(this.dir, WAL_FILE, bytes)
    this.fh = await open(path.join(this.dir, WAL_FILE), 'a')
    this.walBytes = size
  }
}
