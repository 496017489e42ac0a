// Interest: which subjects each node's local subscribers want, known to every router, so a publisher's
// router sends a message only towards nodes where someone listens.
//
// Each router owns one record {node, version, patterns} and floods it: on a change (coalesced per turn),
// every refresh interval, and to a neighbour when a link comes up (with every record it knows). A router
// keeps a record if its version is newer than the one it holds, and passes it on to its other neighbours;
// an older or equal version stops there, so a flood ends after crossing each link at most twice. Records
// not refreshed within the time-to-live are dropped, which is how a dead node's interest goes away.
// Versions are max(previous + 1, clock ms), so a restarted router outranks its previous life.
//
// Why node-scoped records rather than NATS-style per-link interest (each router telling a neighbour what
// is reachable behind it): in a mesh with cycles, per-link interest needs its own loop avoidance and
// withdrawal rules. With every router knowing which nodes want a subject, pub/sub reuses the routing
// table's loop-free next hops, exactly like a direct send, and one copy crosses each link (the envelope
// lists the destination nodes behind that next hop).
//
//   INTEREST frame = u8 2 | name node | varint version | varint n (<= MAX_PATTERNS_PER_NODE) | n × pattern
//   pattern        = varint length | bytes (a valid pattern, see subjects.ts)

import { DecodeError, Reader, Writer } from '../wire/index.js'
import { MAX_NAME_BYTES } from './envelope.js'
import { FrameKind } from './frames.js'
import { MAX_SUBJECT_BYTES, SubjectIndex, subjectBytesProblem } from './subjects.js'

/** Most patterns one node may announce; its record then stays under ~260 KiB. */
export const MAX_PATTERNS_PER_NODE = 1024

export interface InterestRecord {
  readonly node: string
  readonly version: number
  readonly patterns: readonly string[]
}

export function encodeInterest(rec: InterestRecord): Uint8Array {
  let size = 1 + 1 + rec.node.length + 8 + 3
  for (const p of rec.patterns) size += 2 + p.length
  const w = new Writer(size)
  w.u8(FrameKind.INTEREST).string(rec.node).varint(rec.version).varint(rec.patterns.length)
  for (const p of rec.patterns) w.string(p)
  return w.finish()
}

function ascii(bytes: Uint8Array): string {
  return String.fromCharCode.apply(null, bytes as unknown as number[])
}

/** Decodes an INTEREST frame; DecodeError on anything malformed, including an invalid pattern. */
export function decodeInterest(frame: Uint8Array): InterestRecord {
  const r = new Reader(frame)
  if (r.u8() !== FrameKind.INTEREST) throw new DecodeError('unknown-tag', 'not an interest frame', 0)
  const at = r.offset
  const nodeBytes = r.bytes(MAX_NAME_BYTES)
  if (nodeBytes.length === 0) throw new DecodeError('invalid-value', 'interest: empty node', at)
  for (const c of nodeBytes) {
    if (c < 0x21 || c > 0x7e)
      throw new DecodeError('invalid-value', 'interest: node is not printable ASCII', at)
  }
  const version = r.varint()
  const n = r.count(MAX_PATTERNS_PER_NODE, 2)
  const patterns: string[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const start = r.offset
    const b = r.bytes(MAX_SUBJECT_BYTES)
    const problem = subjectBytesProblem(b, 0, b.length, true)
    if (problem !== null) throw new DecodeError('invalid-value', `interest: pattern ${problem}`, start)
    patterns[i] = ascii(b)
  }
  r.end()
  return { node: ascii(nodeBytes), version, patterns }
}

interface Held {
  version: number
  patterns: readonly string[]
  updatedAt: number
}

export interface InterestLimits {
  /** Most nodes whose records are held; the least recently refreshed goes first. */
  maxNodes: number
  /** A record older than this (not refreshed) is dropped. */
  ttlMs: number
}

/** The records of other nodes, and the index from subject to the nodes that want it. */
export class InterestTable {
  private readonly held = new Map<string, Held>()
  private readonly index = new SubjectIndex<string>()

  constructor(private readonly limits: InterestLimits) {}

  get nodes(): number {
    return this.held.size
  }

  version(node: string): number | undefined {
    return this.held.get(node)?.version
  }

  /** Takes the record if it is newer than what is held; returns whether it did (and should be passed on). */
  apply(rec: InterestRecord, now: number): boolean {
    const old = this.held.get(rec.node)
    if (old !== undefined && rec.version <= old.version) return false
    if (old === undefined && this.held.size >= this.limits.maxNodes) {
      // Map order is insertion order and updates re-insert, so the first key is the stalest record.
      const stalest = this.held.keys().next().value
      if (stalest !== undefined) this.remove(stalest)
    }
    const next = new Set(rec.patterns)
    if (old !== undefined) {
      for (const p of old.patterns) if (!next.has(p)) this.index.remove(p, rec.node)
      this.held.delete(rec.node)
    }
    for (const p of next) this.index.add(p, rec.node)
    this.held.set(rec.node, { version: rec.version, patterns: [...next], updatedAt: now })
    return true
  }

  remove(node: string): boolean {
    const old = this.held.get(node)
    if (old === undefined) return false
    for (const p of old.patterns) this.index.remove(p, node)
    this.held.delete(node)
    return true
  }

  /** Drops records not refreshed within the time-to-live; returns the nodes dropped. */
  expire(now: number): string[] {
    const gone: string[] = []
    for (const [node, h] of this.held) if (now - h.updatedAt > this.limits.ttlMs) gone.push(node)
    for (const node of gone) this.remove(node)
    return gone
  }

  /** Nodes with a subscriber for the literal `subject`. Cached; do not modify. */
  match(subject: string): readonly string[] {
    return this.index.match(subject)
  }

  records(): InterestRecord[] {
    return [...this.held].map(([node, h]) => ({ node, version: h.version, patterns: h.patterns }))
  }
}
