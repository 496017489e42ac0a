// Frames of the 'routing' channel between neighbours: a link-state record together with its origin's
// certificate (so a router can verify records of origins it has never linked with), and WireGuard key
// announcements. Probe frames have their own channel and format (src/routing/driver.ts).

import { type CertBook, decodeSignedRecord, encodeSignedRecord, type SignedRecord } from '../identity/index.js'
import { openLinkState } from '../routing/index.js'
import { DecodeError, Reader, Writer } from '../wire/index.js'

const TAG_LINK_STATE = 1
const TAG_WG_KEY = 2

export type RoutingFrame =
  | { type: 'link-state'; certificate: Uint8Array; record: Uint8Array }
  | { type: 'wg-key'; record: SignedRecord }

export function encodeLinkStateFrame(certificate: Uint8Array, record: Uint8Array): Uint8Array {
  return new Writer(certificate.length + record.length + 8).u8(TAG_LINK_STATE).bytes(certificate).fixed(record).finish()
}

export function encodeWgKeyFrame(record: SignedRecord): Uint8Array {
  const body = encodeSignedRecord(record)
  return new Writer(body.length + 1).u8(TAG_WG_KEY).fixed(body).finish()
}

export function decodeRoutingFrame(frame: Uint8Array): RoutingFrame {
  const r = new Reader(frame)
  const tag = r.u8()
  if (tag === TAG_LINK_STATE) {
    const certificate = r.bytes(16 * 1024)
    const record = r.fixed(r.remaining)
    return { type: 'link-state', certificate, record }
  }
  if (tag === TAG_WG_KEY) return { type: 'wg-key', record: decodeSignedRecord(r.fixed(r.remaining)) }
  throw new DecodeError('unknown-tag', `unknown routing frame tag ${tag}`)
}

/**
 * Checks a link-state frame before the routing database sees it: the certificate must verify (CertBook), and
 * the record must be of that certificate's node and claim no address its certificate does not hold — mesh
 * addresses come from certificates only, so any other claim is a lie or a bug and the frame is dropped whole.
 * Returns 'ok' or the counted reason.
 */
export function judgeLinkStateFrame(
  certs: CertBook,
  frame: { certificate: Uint8Array; record: Uint8Array },
  addressesOf: (nodeId: string) => readonly string[],
): string {
  const verdict = certs.add(frame.certificate)
  if (!verdict.ok) return `cert-${verdict.code.toLowerCase()}`
  let origin: string
  let claimed: string[]
  try {
    const { record } = openLinkState(frame.record)
    origin = record.origin
    claimed = record.addresses
  } catch {
    return 'malformed'
  }
  if (origin !== verdict.cert.nodeId) return 'cert-not-origin'
  const allowed = new Set(addressesOf(origin))
  return claimed.every((a) => allowed.has(a)) ? 'ok' : 'address-not-certified'
}
