// Mesh addresses. IPv6: a ULA /48 derived from the federation id (fdXX:XXXX:XXXX::/48, RFC 4193 style, so
// two federations almost never overlap) and each node's /128 from a hash of its node key, so a node's IPv6
// address is known to everyone who knows its key, with no allocation. IPv4 comes from 100.64.0.0/10 and must
// be unique, so it is allocated (by the certificate issuer now, by the Raft registry later); the hash-based
// candidate here is only the first proposal an allocator tries.

import { sha256 } from './keys.js'

export const MESH_V4_PREFIX = '100.64.0.0/10'

function hex4(b: Uint8Array, i: number): string {
  return ((b[i]! << 8) | b[i + 1]!).toString(16)
}

/** The federation's /48: fd00::/8 plus 40 bits of sha256(federation id). */
export function meshIpv6Prefix(federationId: string): string {
  const h = sha256(Buffer.from(`blackroad/mesh-v6/${federationId}`))
  const b = new Uint8Array([0xfd, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!])
  return `${hex4(b, 0)}:${hex4(b, 2)}:${hex4(b, 4)}::/48`
}

/** A node's /128 inside the federation's /48: subnet 0, interface id = 64 bits of sha256(node key). */
export function meshIpv6(federationId: string, nodePublicKey: Uint8Array): string {
  const prefix = meshIpv6Prefix(federationId).replace('::/48', '')
  const h = sha256(Buffer.concat([Buffer.from('blackroad/mesh-v6-iid/'), Buffer.from(nodePublicKey)]))
  const iid = [0, 2, 4, 6].map((i) => hex4(h, i)).join(':')
  return `${prefix}:0:${iid}`
}

/** First candidate IPv4 for a node in 100.64.0.0/10, skipping .0 and .255 host parts. */
export function candidateIpv4(nodePublicKey: Uint8Array, attempt = 0): string {
  const h = sha256(Buffer.concat([Buffer.from(`blackroad/mesh-v4/${attempt}/`), Buffer.from(nodePublicKey)]))
  // 22 host bits under the /10.
  let host = ((h[0]! << 16) | (h[1]! << 8) | h[2]!) & 0x3fffff
  if ((host & 0xff) === 0 || (host & 0xff) === 255) host ^= 1
  const n = (100 << 24) + (64 << 16) + host
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.')
}

export function isMeshIpv4(addr: string): boolean {
  const parts = addr.split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return false
  return parts[0] === 100 && parts[1]! >= 64 && parts[1]! <= 127
}
