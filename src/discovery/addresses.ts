// Parsing of the addresses discovery is configured with, and the choice of which bootstrap address is this
// node's own. HyperDHT speaks IPv4 only, so IPv6 literals are refused here with a clear message instead of
// failing later as an unreachable node.
//
// Static peers (config `discovery.static_peers`) come in two forms:
//   "<node public key>@host:port"  a peer dialled directly: the handshake goes straight to that peer's DHT
//                                  UDP port, no DHT lookup needed (see Discovery for the mechanism);
//                                  the key is 64 hex digits or 43 base64url characters.
//   "host:port"                    an address without a key cannot be dialled (a hyperswarm connection is
//                                  to a key), so it is used as an extra DHT contact: the node bootstraps
//                                  through it and finds the federation topic there.

import { isIPv4, isIPv6 } from 'node:net'
import { networkInterfaces } from 'node:os'
import { base64urlDecode, DecodeError } from '../wire/index.js'
import { DiscoveryError } from './errors.js'

export interface HostPort {
  host: string
  port: number
}

export interface StaticPeer extends HostPort {
  /** The peer's Ed25519 node key; null for an address-only entry (used as a DHT contact). */
  publicKey: Buffer | null
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

export function parseHostPort(s: string, what = 'address'): HostPort {
  const m = typeof s === 'string' ? /^(.*):(\d{1,5})$/.exec(s.trim()) : null
  if (!m) throw new DiscoveryError('INVALID_ADDRESS', `${what} "${s}" is not host:port`)
  const host = m[1]!
  const port = Number(m[2])
  if (port < 1 || port > 65535)
    throw new DiscoveryError('INVALID_ADDRESS', `${what} "${s}": port must be 1..65535`)
  if (isIPv6(host.replace(/^\[|\]$/g, ''))) {
    throw new DiscoveryError('INVALID_ADDRESS', `${what} "${s}": HyperDHT supports IPv4 only`)
  }
  if (!isIPv4(host) && !HOSTNAME.test(host)) {
    throw new DiscoveryError(
      'INVALID_ADDRESS',
      `${what} "${s}": "${host}" is neither an IPv4 address nor a host name`,
    )
  }
  return { host, port }
}

export function formatHostPort(a: HostPort): string {
  return `${a.host}:${a.port}`
}

/** Parses "<key>@host:port" or "host:port"; see the header for what each means. */
export function parseStaticPeer(s: string): StaticPeer {
  const at = typeof s === 'string' ? s.lastIndexOf('@') : -1
  if (at < 0) return { publicKey: null, ...parseHostPort(s, 'static peer') }
  const keyText = s.slice(0, at)
  return { publicKey: parsePublicKey(keyText, s), ...parseHostPort(s.slice(at + 1), 'static peer') }
}

function parsePublicKey(text: string, whole: string): Buffer {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex')
  if (/^[A-Za-z0-9_-]{43}$/.test(text)) {
    try {
      const key = base64urlDecode(text)
      if (key.length === 32) return Buffer.from(key)
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err
    }
  }
  throw new DiscoveryError(
    'INVALID_ADDRESS',
    `static peer "${whole}": the key must be 32 bytes as 64 hex digits or 43 base64url characters`,
  )
}

/**
 * The entry of `bootstrap` that names this machine (an IPv4 address of one of its interfaces), or null.
 * A control-plane node lists itself among the federation's bootstrap nodes; this finds which entry is its
 * own, so the bootstrap node announces the address the others dial.
 */
export function localBootstrapAddress(
  bootstrap: readonly string[],
  interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces(),
): HostPort | null {
  const local = new Set<string>()
  for (const list of Object.values(interfaces)) {
    for (const a of list ?? []) if (a.family === 'IPv4') local.add(a.address)
  }
  for (const entry of bootstrap) {
    const a = parseHostPort(entry, 'bootstrap node')
    if (isIPv4(a.host) && local.has(a.host)) return a
  }
  return null
}

/**
 * This host's underlay addresses as one comparable string: every non-loopback IPv4 address of every interface
 * except `ignore` (the mesh's own WireGuard interface), sorted. A change means links may be using an address
 * that is gone. IPv4 only, as the DHT and peer links are: IPv6 link-local addresses come and go with every
 * container's veth on a Docker host and would look like a move each time.
 */
export function interfaceSignature(
  ignore: ReadonlySet<string>,
  interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces(),
): string {
  const out: string[] = []
  for (const [name, list] of Object.entries(interfaces)) {
    if (ignore.has(name)) continue
    for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') out.push(`${name} ${a.address}`)
  }
  return out.sort().join(',')
}
