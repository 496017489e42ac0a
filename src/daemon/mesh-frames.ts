// Frames of the 'routing' channel between neighbours: a link-state record together with its origin's
// certificate (so a router can verify records of origins it has never linked with), the same without the
// certificate when this link has carried it already (flood-certs.ts), and WireGuard key announcements.
// Probes are datagrams, not frames (src/routing/probe-wire.ts).

import {
  type CertBook,
  decodeSignedRecord,
  encodeSignedRecord,
  type SignedRecord,
} from '../identity/index.js'
import { openLinkState } from '../routing/index.js'
import { DecodeError, Reader, Writer } from '../wire/index.js'

const TAG_LINK_STATE = 1
const TAG_WG_KEY = 2
const TAG_WG_CONFIGURED = 3
/** A link-state record alone: the receiver holds its origin's certificate (this link carried it before). */
const TAG_LINK_STATE_BARE = 4

export type RoutingFrame =
  /** certificate null: verify against the certificate already held for the record's origin. */
  | { type: 'link-state'; certificate: Uint8Array | null; record: Uint8Array }
  | { type: 'wg-key'; record: SignedRecord }
  /** The sender has configured `key` (the receiver's WireGuard public key) as a peer (see handshake-sync.ts). */
  | { type: 'wg-configured'; key: Uint8Array }

export function encodeLinkStateFrame(certificate: Uint8Array | null, record: Uint8Array): Uint8Array {
  if (certificate === null)
    return new Writer(record.length + 1).u8(TAG_LINK_STATE_BARE).fixed(record).finish()
  return new Writer(certificate.length + record.length + 8)
    .u8(TAG_LINK_STATE)
    .bytes(certificate)
    .fixed(record)
    .finish()
}

export function encodeWgKeyFrame(record: SignedRecord): Uint8Array {
  const body = encodeSignedRecord(record)
  return new Writer(body.length + 1).u8(TAG_WG_KEY).fixed(body).finish()
}

export function encodeWgConfiguredFrame(key: Uint8Array): Uint8Array {
  if (key.length !== 32) throw new RangeError('a WireGuard public key is 32 bytes')
  return new Writer(33).u8(TAG_WG_CONFIGURED).fixed(key).finish()
}

export function decodeRoutingFrame(frame: Uint8Array): RoutingFrame {
  const r = new Reader(frame)
  const tag = r.u8()
  if (tag === TAG_LINK_STATE) {
    const certificate = r.bytes(16 * 1024)
    const record = r.fixed(r.remaining)
    return { type: 'link-state', certificate, record }
  }
  if (tag === TAG_LINK_STATE_BARE)
    return { type: 'link-state', certificate: null, record: r.fixed(r.remaining) }
  if (tag === TAG_WG_KEY) return { type: 'wg-key', record: decodeSignedRecord(r.fixed(r.remaining)) }
  if (tag === TAG_WG_CONFIGURED) {
    const key = r.fixed(32)
    if (r.remaining !== 0)
      throw new DecodeError('trailing-bytes', `${r.remaining} bytes after a wg-configured frame`)
    return { type: 'wg-configured', key }
  }
  throw new DecodeError('unknown-tag', `unknown routing frame tag ${tag}`)
}

/**
 * Checks a link-state frame before the routing database sees it: the certificate must verify (CertBook), and
 * the record must be of that certificate's node and claim no address its certificate does not hold — mesh
 * addresses come from certificates only, so any other claim is a lie or a bug and the frame is dropped whole.
 * A frame without a certificate is judged against the one held for its origin ('cert-unknown' when there is
 * none). Returns 'ok' or the counted reason.
 */
export function judgeLinkStateFrame(
  certs: CertBook,
  frame: { certificate: Uint8Array | null; record: Uint8Array },
  addressesOf: (nodeId: string) => readonly string[],
): string {
  let certified: string | undefined
  if (frame.certificate !== null) {
    const verdict = certs.add(frame.certificate)
    if (!verdict.ok) return `cert-${verdict.code.toLowerCase()}`
    certified = verdict.cert.nodeId
  }
  let origin: string
  let claimed: string[]
  try {
    const { record } = openLinkState(frame.record)
    origin = record.origin
    claimed = record.addresses
  } catch {
    return 'malformed'
  }
  if (certified === undefined) {
    if (certs.get(origin) === undefined) return 'cert-unknown'
  } else if (origin !== certified) return 'cert-not-origin'
  const allowed = new Set(addressesOf(origin))
  return claimed.every((a) => allowed.has(a)) ? 'ok' : 'address-not-certified'
}
