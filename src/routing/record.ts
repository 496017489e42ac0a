// Link-state records: what one router says about its own links, signed by its node key and flooded to every
// router. This file is the one place the record format is written down, plus the sequence allocator an
// origin uses so that a restart never reuses a sequence number.
//
// A record travels as identity's signed record of kind 'link-state' (domain-separated signature, signer key
// included). Its body, version 1, in src/wire primitives:
//   u8 version=1 | string origin | varint seq (>=1) | varint issuedAt (Unix ms)
//   | count nLinks (<=512) x { string peer | u32 rttMicros | u16 lossPermille (<=1000) | bool up }
//   | count nAddrs (<=64) x string canonical prefix
// Links are sorted by peer and addresses by text, without repeats, so a record has exactly one byte form: a
// duplicate is recognised by comparing bytes, and a signature covers one meaning.

import {
  decodeSignedRecord,
  encodeSignedRecord,
  type KeyPair,
  NODE_ID_PATTERN,
  nodeIdFromPublicKey,
  type SignedRecord,
  signRecord,
  verifyRecord,
} from '../identity/index.js'
import { type Codec, DecodeError, decodeWith, encodeWith, type Reader, type Writer } from '../wire/index.js'
import { canonicalCidr } from './cidr.js'
import { RoutingError } from './errors.js'

export const LINK_STATE_KIND = 'link-state'
export const LINK_STATE_VERSION = 1
export const MAX_LINKS = 512
export const MAX_ADDRESSES = 64
const MAX_NODE_ID_BYTES = 64
const MAX_PREFIX_BYTES = 64
/** Smallest encodings (a 21-character node id; "::/1"), so a forged count is refused before any loop. */
const MIN_LINK_BYTES = 1 + 21 + 4 + 2 + 1
const MIN_ADDRESS_BYTES = 5

/** One link as its origin measured it. rttMicros is the smoothed RTT; 0xffffffff means "not measured". */
export interface LinkReport {
  peer: string
  rttMicros: number
  lossPermille: number
  up: boolean
}

export interface LinkStateRecord {
  origin: string
  seq: number
  /** Wall-clock Unix milliseconds at the origin; ages the record everywhere. */
  issuedAt: number
  links: LinkReport[]
  /** Canonical prefixes the origin serves; may be empty when certificates carry the addresses. */
  addresses: string[]
}

/** A decoded record with its signed envelope and the exact bytes that travel (what the driver floods). */
export interface SignedLinkState {
  record: LinkStateRecord
  envelope: SignedRecord
  bytes: Uint8Array
}

/** The peers a record lists as up: the links its origin has, and sent the record over. */
export function upPeers(rec: Pick<LinkStateRecord, 'links'>): Set<string> {
  const out = new Set<string>()
  for (const l of rec.links) if (l.up) out.add(l.peer)
  return out
}

export function isValidNodeId(id: string): boolean {
  return NODE_ID_PATTERN.test(id)
}

/** Code-unit order: locale-independent, so every router sorts identically. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function invalid(message: string): never {
  throw new RoutingError('INVALID_RECORD', message)
}

/** Checks a record an origin is about to sign and returns its canonical form (sorted, canonical prefixes). */
export function normalizeRecord(rec: LinkStateRecord): LinkStateRecord {
  if (!isValidNodeId(rec.origin)) invalid(`origin is not a node id: ${JSON.stringify(rec.origin)}`)
  if (!Number.isSafeInteger(rec.seq) || rec.seq < 1)
    invalid(`seq must be a positive safe integer, got ${rec.seq}`)
  if (!Number.isSafeInteger(rec.issuedAt) || rec.issuedAt < 0)
    invalid(`issuedAt must be Unix ms, got ${rec.issuedAt}`)
  if (rec.links.length > MAX_LINKS) invalid(`${rec.links.length} links, limit ${MAX_LINKS}`)
  if (rec.addresses.length > MAX_ADDRESSES)
    invalid(`${rec.addresses.length} addresses, limit ${MAX_ADDRESSES}`)
  const links = rec.links.map((l) => {
    if (!isValidNodeId(l.peer) || l.peer === rec.origin) invalid(`bad link peer ${JSON.stringify(l.peer)}`)
    if (!Number.isInteger(l.rttMicros) || l.rttMicros < 0 || l.rttMicros > 0xffff_ffff) {
      invalid(`link ${l.peer}: rttMicros out of range: ${l.rttMicros}`)
    }
    if (!Number.isInteger(l.lossPermille) || l.lossPermille < 0 || l.lossPermille > 1000) {
      invalid(`link ${l.peer}: lossPermille out of range: ${l.lossPermille}`)
    }
    return { peer: l.peer, rttMicros: l.rttMicros, lossPermille: l.lossPermille, up: l.up === true }
  })
  links.sort((a, b) => compareText(a.peer, b.peer))
  for (let i = 1; i < links.length; i++) {
    if (links[i]!.peer === links[i - 1]!.peer) invalid(`link to ${links[i]!.peer} listed twice`)
  }
  const addresses = rec.addresses.map(
    (a) => canonicalCidr(a) ?? invalid(`not an IP prefix: ${JSON.stringify(a)}`),
  )
  addresses.sort(compareText)
  for (let i = 1; i < addresses.length; i++) {
    if (addresses[i] === addresses[i - 1]) invalid(`address ${addresses[i]} listed twice`)
  }
  return { origin: rec.origin, seq: rec.seq, issuedAt: rec.issuedAt, links, addresses }
}

function readNodeId(r: Reader, what: string): string {
  const at = r.offset
  const id = r.string(MAX_NODE_ID_BYTES)
  if (!isValidNodeId(id)) throw new DecodeError('invalid-value', `${what} is not a node id`, at)
  return id
}

/** The body codec. encode() expects a normalised record (encodeRecordBody normalises first). */
export const linkStateBodyCodec: Codec<LinkStateRecord> = {
  encode(w: Writer, rec) {
    w.u8(LINK_STATE_VERSION).string(rec.origin).varint(rec.seq).varint(rec.issuedAt)
    w.varint(rec.links.length)
    for (const l of rec.links) w.string(l.peer).u32(l.rttMicros).u16(l.lossPermille).bool(l.up)
    w.varint(rec.addresses.length)
    for (const a of rec.addresses) w.string(a)
  },
  decode(r: Reader) {
    const version = r.u8()
    if (version !== LINK_STATE_VERSION) {
      throw new DecodeError('unsupported-version', `link-state version ${version} is not supported`, 0)
    }
    const origin = readNodeId(r, 'origin')
    const seqAt = r.offset
    const seq = r.varint()
    if (seq < 1) throw new DecodeError('invalid-value', 'seq must be at least 1', seqAt)
    const issuedAt = r.varint()
    const nLinks = r.count(MAX_LINKS, MIN_LINK_BYTES)
    const links: LinkReport[] = []
    for (let i = 0; i < nLinks; i++) {
      const at = r.offset
      const peer = readNodeId(r, 'link peer')
      if (peer === origin)
        throw new DecodeError('invalid-value', 'a record cannot list a link to its origin', at)
      const prev = links[i - 1]
      if (prev && compareText(prev.peer, peer) >= 0) {
        throw new DecodeError('non-canonical', 'links are not sorted or repeat a peer', at)
      }
      const rttMicros = r.u32()
      const lossAt = r.offset
      const lossPermille = r.u16()
      if (lossPermille > 1000)
        throw new DecodeError('invalid-value', `loss ${lossPermille}‰ above 1000`, lossAt)
      links.push({ peer, rttMicros, lossPermille, up: r.bool() })
    }
    const nAddrs = r.count(MAX_ADDRESSES, MIN_ADDRESS_BYTES)
    const addresses: string[] = []
    for (let i = 0; i < nAddrs; i++) {
      const at = r.offset
      const text = r.string(MAX_PREFIX_BYTES)
      if (canonicalCidr(text) !== text) {
        throw new DecodeError('non-canonical', 'address is not a canonical IP prefix', at)
      }
      const prev = addresses[i - 1]
      if (prev !== undefined && compareText(prev, text) >= 0) {
        throw new DecodeError('non-canonical', 'addresses are not sorted or repeat', at)
      }
      addresses.push(text)
    }
    return { origin, seq, issuedAt, links, addresses }
  },
}

export function encodeRecordBody(rec: LinkStateRecord): Uint8Array {
  return encodeWith(linkStateBodyCodec, normalizeRecord(rec), 64 + rec.links.length * 40)
}

/** Decodes a body that must fill `bytes` exactly; DecodeError otherwise. */
export function decodeRecordBody(bytes: Uint8Array): LinkStateRecord {
  return decodeWith(linkStateBodyCodec, bytes)
}

/** Encodes and signs a record with the origin's node key; the key must be the origin's. */
export function sealLinkState(rec: LinkStateRecord, nodeKey: KeyPair): SignedLinkState {
  if (nodeIdFromPublicKey(nodeKey.publicKey) !== rec.origin) {
    throw new RoutingError('INVALID_RECORD', `the signing key is not the key of origin ${rec.origin}`)
  }
  const body = encodeRecordBody(rec)
  const envelope = signRecord(LINK_STATE_KIND, body, nodeKey)
  const bytes = encodeSignedRecord(envelope)
  return { record: decodeRecordBody(body), envelope, bytes }
}

/**
 * Decodes an envelope and its body without verifying the signature: the database does that, with the key the
 * registry holds for the origin, so a record signed by any other key is a bad signature, not a malformed one.
 */
export function openLinkState(bytes: Uint8Array): SignedLinkState {
  const envelope = decodeSignedRecord(bytes)
  if (envelope.kind !== LINK_STATE_KIND) {
    throw new DecodeError('invalid-value', `expected a "${LINK_STATE_KIND}" record, got "${envelope.kind}"`)
  }
  let record: LinkStateRecord
  try {
    record = decodeRecordBody(envelope.body)
  } catch (err) {
    if (err instanceof DecodeError) throw new DecodeError(err.reason, `link-state body: ${err.message}`)
    throw err
  }
  return { record, envelope, bytes: bytes.slice() }
}

/** True when the record is signed by `originKey` (the origin's registered node key) and the signature holds. */
export function verifyLinkState(signed: SignedLinkState, originKey: Uint8Array): boolean {
  try {
    verifyRecord(signed.envelope, LINK_STATE_KIND, originKey)
    return true
  } catch {
    // TrustError (bad signature, untrusted signer) or a malformed key: either way, not valid.
    return false
  }
}

/**
 * Sequence numbers for the records this node originates. A sequence must never repeat or go backwards, even
 * across a restart that lost the persisted counter: next() returns max(last + 1, wall-clock ms × 1000), so
 * after a restart it jumps past anything issued before as long as the clock did not run backwards and fewer
 * than 1000 records per millisecond were issued. The driver persists `last` (fsync) before it floods a record.
 */
export class SequenceAllocator {
  private lastSeq: number

  constructor(persistedLast = 0) {
    if (!Number.isSafeInteger(persistedLast) || persistedLast < 0) {
      throw new RoutingError(
        'INVALID_OPTIONS',
        `persisted sequence must be a safe integer >= 0, got ${persistedLast}`,
      )
    }
    this.lastSeq = persistedLast
  }

  get last(): number {
    return this.lastSeq
  }

  next(nowUnixMs: number): number {
    const floor = Math.floor(Math.max(0, nowUnixMs)) * 1000
    const seq = Math.max(this.lastSeq + 1, floor)
    if (!Number.isSafeInteger(seq))
      throw new RoutingError('SEQUENCE_EXHAUSTED', 'link-state sequence above 2^53')
    this.lastSeq = seq
    return seq
  }

  /** Another router holds a record of ours with this sequence (from before a restart): go past it. */
  observe(seq: number): void {
    if (Number.isSafeInteger(seq) && seq > this.lastSeq) this.lastSeq = seq
  }
}
