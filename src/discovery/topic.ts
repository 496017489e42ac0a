// The discovery topic: the 32-byte HyperDHT key every router of one federation announces itself under and
// looks up. It is derived from the federation id (public) and the federation secret (known to members
// only), so an outsider who knows the id cannot find the routers on the public DHT, and two federations
// never share a topic.
//
//   topic = SHA-256( varint-length-prefixed "blackroad-mesh/discovery-topic/v1"
//                  | varint-length-prefixed UTF-8 federation id
//                  | varint-length-prefixed secret bytes )
//
// The domain string keeps this hash from colliding with any other SHA-256 the router computes over the
// same inputs; the length prefixes make the encoding unambiguous (no (id, secret) pair can be shifted
// into another). Changing the derivation partitions old and new routers, so the version is in the domain.

import { createHash } from 'node:crypto'
import { Writer } from '../wire/index.js'
import { DiscoveryError } from './errors.js'

export const TOPIC_DOMAIN = 'blackroad-mesh/discovery-topic/v1'
export const TOPIC_BYTES = 32
/** 128 bits: below this the topic could be brute-forced from the public federation id. */
export const MIN_SECRET_BYTES = 16

export function deriveTopic(federationId: string, secret: Uint8Array): Buffer {
  if (typeof federationId !== 'string' || federationId.length === 0) {
    throw new DiscoveryError('INVALID_OPTIONS', 'federation id must be a non-empty string')
  }
  if (!(secret instanceof Uint8Array) || secret.length < MIN_SECRET_BYTES) {
    const got = secret instanceof Uint8Array ? `${secret.length} bytes` : typeof secret
    throw new DiscoveryError(
      'INVALID_SECRET',
      `federation secret must be at least ${MIN_SECRET_BYTES} bytes, got ${got}`,
    )
  }
  const w = new Writer(64 + secret.length)
  w.string(TOPIC_DOMAIN).string(federationId).bytes(secret)
  return createHash('sha256').update(w.finish()).digest()
}
