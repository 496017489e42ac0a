// Control frames larger than one bus message. A bus payload is at most 1 MiB, but a Raft snapshot of a big
// registry (thousands of nodes with certificates) is larger, and a learner that cannot receive the snapshot
// never catches up. Such a frame leaves in chunks and is put back together at the receiver before anything
// else looks at it, so the usual checks (signature or link authentication, then decoding) apply to the whole
// frame: a chunk itself proves nothing, and forged or mixed-up chunks only make a frame that fails them.
//
//   off 0 u8  version (1, as every control frame)
//       1 u8  kind 5 (chunk; kinds 1-4 are in wire.ts)
//       2 u32 transfer id (the sender's counter)
//       6 u32 index, 10 u32 count
//      14 ..  the frame's bytes [index * chunk size, ...)
//
// The receiver keeps one transfer per sender (a newer id replaces an older one: Raft resends what matters),
// bounded in size and age.

import type { NodeId } from '../protocols/core/index.js'

export const CHUNK_KIND = 5
/** Frames above this many bytes leave in chunks of this size. */
export const CHUNK_BYTES = 512 * 1024
const HEADER = 14
/** The largest frame put back together (a 64 MiB snapshot is far beyond what the registry holds). */
export const MAX_CHUNKED_BYTES = 64 * 1024 * 1024
const MAX_CHUNKS = Math.ceil(MAX_CHUNKED_BYTES / CHUNK_BYTES)

export function isChunk(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 1 && bytes[1] === CHUNK_KIND
}

/** The frame itself when it fits in one chunk, else its chunks in order. */
export function splitFrame(frame: Uint8Array, id: number, chunkBytes = CHUNK_BYTES): Uint8Array[] {
  if (frame.length <= chunkBytes) return [frame]
  const count = Math.ceil(frame.length / chunkBytes)
  const out: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    const part = frame.subarray(i * chunkBytes, Math.min(frame.length, (i + 1) * chunkBytes))
    const c = new Uint8Array(HEADER + part.length)
    const v = new DataView(c.buffer)
    c[0] = 1
    c[1] = CHUNK_KIND
    v.setUint32(2, id >>> 0)
    v.setUint32(6, i)
    v.setUint32(10, count)
    c.set(part, HEADER)
    out.push(c)
  }
  return out
}

export type ChunkResult =
  | { readonly type: 'pending' }
  | { readonly type: 'frame'; readonly bytes: Uint8Array; readonly overLink: boolean }
  | { readonly type: 'refused'; readonly reason: string }

interface Transfer {
  id: number
  count: number
  parts: (Uint8Array | undefined)[]
  have: number
  bytes: number
  startedAt: number
  overLink: boolean
}

export class Reassembler {
  private readonly transfers = new Map<NodeId, Transfer>()

  constructor(
    private readonly now: () => number,
    private readonly timeoutMs = 30_000,
  ) {}

  /** One chunk from `from`; returns the whole frame once its last chunk is in. Never throws. */
  accept(from: NodeId, chunk: Uint8Array, overLink: boolean): ChunkResult {
    if (chunk.length <= HEADER) return { type: 'refused', reason: `chunk of ${chunk.length} bytes` }
    const v = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    const id = v.getUint32(2)
    const index = v.getUint32(6)
    const count = v.getUint32(10)
    if (count < 2 || count > MAX_CHUNKS || index >= count) {
      return { type: 'refused', reason: `chunk ${index} of ${count}` }
    }
    const now = this.now()
    let t = this.transfers.get(from)
    if (t !== undefined && (t.id !== id || now - t.startedAt > this.timeoutMs)) {
      this.transfers.delete(from)
      t = undefined
    }
    if (t === undefined) {
      t = { id, count, parts: new Array(count), have: 0, bytes: 0, startedAt: now, overLink: true }
      this.transfers.set(from, t)
    }
    if (t.count !== count) {
      this.transfers.delete(from)
      return { type: 'refused', reason: `chunk count changed from ${t.count} to ${count}` }
    }
    const part = chunk.subarray(HEADER)
    if (t.parts[index] !== undefined) return { type: 'pending' } // a duplicate
    if (t.bytes + part.length > MAX_CHUNKED_BYTES) {
      this.transfers.delete(from)
      return { type: 'refused', reason: `chunked frame above ${MAX_CHUNKED_BYTES} bytes` }
    }
    t.parts[index] = part
    t.have++
    t.bytes += part.length
    t.overLink &&= overLink
    if (t.have < t.count) return { type: 'pending' }
    this.transfers.delete(from)
    const bytes = new Uint8Array(t.bytes)
    let off = 0
    for (const p of t.parts) {
      bytes.set(p!, off)
      off += p!.length
    }
    return { type: 'frame', bytes, overLink: t.overLink }
  }

  /** Transfers in progress (for tests and metrics). */
  get pending(): number {
    return this.transfers.size
  }

  /** Forgets a sender's transfer (e.g. its link went away). */
  forget(from: NodeId): void {
    this.transfers.delete(from)
  }
}
