// The link-state database: the newest valid record of every router, as this router knows it.
// receive() judges each flooded record and says why it was or was not taken, so the driver floods only
// `accepted` records onward (that is the duplicate suppression which makes flooding terminate) and counts the
// rest per status. It is pure: time is passed in, and the origin's key comes from an injected lookup (the
// registry and certificates), which is also where revocation takes effect.
//
// Checks run cheapest first. Records that could not change the database (older or identical to what we hold)
// are answered `stale`/`duplicate` without spending a signature verification; the expensive check is reserved
// for records that would be stored. So `bad-signature` counts forgeries that would have mattered.

import { isDecodeError } from '../wire/index.js'
import { checkOption, RoutingError } from './errors.js'
import {
  compareText,
  type LinkStateRecord,
  openLinkState,
  type SignedLinkState,
  verifyLinkState,
} from './record.js'

export type ReceiveStatus =
  | 'accepted'
  | 'duplicate'
  | 'stale'
  | 'bad-signature'
  | 'too-old'
  | 'from-future'
  | 'malformed'

export interface ReceiveResult {
  status: ReceiveStatus
  /** Set once the record decoded. */
  origin?: string
  seq?: number
  /** Human detail for logs; not stable. */
  reason?: string
  /** On `accepted`: the record to store-and-flood (its `bytes` go to every neighbour but the sender). */
  signed?: SignedLinkState
  /**
   * Set when a validly signed record of OUR origin carries a sequence at or above ours (we restarted and lost
   * the counter): call SequenceAllocator.observe(selfSeqSeen) and originate a fresh record.
   */
  selfSeqSeen?: number
  /** On `accepted`: the origin's record it replaced, if any. */
  previous?: LinkStateRecord
}

export interface LinkStateDbOptions {
  localId: string
  /** The origin's node public key, or undefined when the node is unknown or revoked. */
  keyOf: (nodeId: string) => Uint8Array | undefined
  /** Records older than this (by their issuedAt) are refused and aged out. Origins refresh at about a third. */
  maxAgeMs?: number
  /** How far in the future an issuedAt may be before the record is refused; covers clock error between nodes. */
  maxClockSkewMs?: number
}

// Records need no refresh to arrive (flooding is reliable and a new neighbour gets every record on link-up) and
// link changes re-originate at once, so the age only retires the records of routers that left and bounds
// replays (and how far behind a router's clock may be; one ahead is bounded by the clock skew). OSPF ages its
// LSAs out after an hour; half an hour keeps a quiet mesh's refresh floods (a record of ~400 bytes per link
// every ten minutes) out of its idle traffic, where a 60 s age cost each node of a 5-node mesh about 100 B/s.
export const DEFAULT_MAX_AGE_MS = 30 * 60_000
export const DEFAULT_MAX_CLOCK_SKEW_MS = 30_000
/** Origins should refresh their record this often so it never ages out while they live. */
export const DEFAULT_REFRESH_INTERVAL_MS = DEFAULT_MAX_AGE_MS / 3

export class LinkStateDb {
  readonly localId: string
  readonly maxAgeMs: number
  readonly maxClockSkewMs: number
  private readonly keyOf: (nodeId: string) => Uint8Array | undefined
  private readonly entries = new Map<string, SignedLinkState>()
  private changes = 0

  constructor(opts: LinkStateDbOptions) {
    this.localId = opts.localId
    this.keyOf = opts.keyOf
    this.maxAgeMs = checkOption('maxAgeMs', opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS, 1)
    this.maxClockSkewMs = checkOption('maxClockSkewMs', opts.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS, 0)
  }

  /** Increases whenever the stored set changes; recompute paths when it differs from the last one used. */
  get version(): number {
    return this.changes
  }

  get size(): number {
    return this.entries.size
  }

  get(origin: string): SignedLinkState | undefined {
    return this.entries.get(origin)
  }

  /** Every stored record, sorted by origin (deterministic input for path computation). */
  records(): LinkStateRecord[] {
    return this.signedRecords().map((s) => s.record)
  }

  /** Every stored record as flooded, for synchronising a neighbour whose link just came up. */
  signedRecords(): SignedLinkState[] {
    return [...this.entries.values()].sort((a, b) => compareText(a.record.origin, b.record.origin))
  }

  /** Judges one flooded envelope at wall-clock `nowUnixMs` and stores it when accepted. */
  receive(bytes: Uint8Array, nowUnixMs: number): ReceiveResult {
    let signed: SignedLinkState
    try {
      signed = openLinkState(bytes)
    } catch (err) {
      if (isDecodeError(err)) return { status: 'malformed', reason: err.message }
      throw err
    }
    const { origin, seq, issuedAt } = signed.record
    const base = { origin, seq }

    const age = nowUnixMs - issuedAt
    if (age > this.maxAgeMs) return { ...base, status: 'too-old', reason: `issued ${age} ms ago` }
    if (-age > this.maxClockSkewMs)
      return { ...base, status: 'from-future', reason: `issued ${-age} ms ahead` }

    const held = this.entries.get(origin)
    if (held && seq < held.record.seq)
      return { ...base, status: 'stale', reason: `holding seq ${held.record.seq}` }
    if (held && seq === held.record.seq && bytesEqual(held.bytes, signed.bytes)) {
      return { ...base, status: 'duplicate' }
    }

    const key = this.keyOf(origin)
    if (!key) return { ...base, status: 'bad-signature', reason: 'unknown or revoked origin' }
    if (!verifyLinkState(signed, key)) {
      return { ...base, status: 'bad-signature', reason: 'signature does not verify with the origin key' }
    }

    if (origin === this.localId) {
      // Nobody else speaks for us; a valid record of ours we do not hold predates a restart.
      return { ...base, status: 'stale', reason: 'record of the local origin', selfSeqSeen: seq }
    }

    if (held && seq === held.record.seq) {
      // Two validly signed records with one sequence: the origin reused it. Every router keeps the one with
      // the greater bytes, so the federation converges on one of them instead of disagreeing until a refresh.
      if (compareBytes(signed.bytes, held.bytes) <= 0) {
        return { ...base, status: 'stale', reason: 'conflicting record with the same sequence' }
      }
    }

    this.entries.set(origin, signed)
    this.changes++
    return { ...base, status: 'accepted', signed, ...(held ? { previous: held.record } : {}) }
  }

  /** Stores a record this node just originated and signed. Its sequence must be above the one held. */
  installLocal(signed: SignedLinkState): void {
    if (signed.record.origin !== this.localId) {
      throw new RoutingError(
        'NOT_LOCAL_ORIGIN',
        `record origin ${signed.record.origin} is not ${this.localId}`,
      )
    }
    const held = this.entries.get(this.localId)
    if (held && signed.record.seq <= held.record.seq) {
      throw new RoutingError(
        'LOCAL_RECORD_NOT_NEWER',
        `local record seq ${signed.record.seq} is not above held seq ${held.record.seq}`,
      )
    }
    this.entries.set(this.localId, signed)
    this.changes++
  }

  /**
   * Removes records older than max age (their origin stopped refreshing: dead or cut off) and returns their
   * origins. The local record never ages here; the driver refreshes it.
   */
  expire(nowUnixMs: number): string[] {
    const removed: string[] = []
    for (const [origin, s] of this.entries) {
      if (origin === this.localId) continue
      if (nowUnixMs - s.record.issuedAt > this.maxAgeMs) removed.push(origin)
    }
    for (const origin of removed) this.entries.delete(origin)
    if (removed.length > 0) this.changes++
    return removed.sort(compareText)
  }

  /** When the next record ages out, for the driver's timer; undefined when nothing can age. */
  nextExpiryAt(): number | undefined {
    let next: number | undefined
    for (const [origin, s] of this.entries) {
      if (origin === this.localId) continue
      const at = s.record.issuedAt + this.maxAgeMs + 1
      if (next === undefined || at < next) next = at
    }
    return next
  }

  /** Drops an origin at once, e.g. when its certificate is revoked. */
  forget(origin: string): boolean {
    const had = this.entries.delete(origin)
    if (had) this.changes++
    return had
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!
  }
  return a.length - b.length
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return compareBytes(a, b) === 0
}
