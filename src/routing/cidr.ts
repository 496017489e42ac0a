// Strict parsing and canonical formatting of IP prefixes ("100.64.0.7/32", "fd5e:1::7/128").
// Addresses end up in WireGuard allowed-ips, where two spellings of one prefix would hide a conflict between
// peers and make the desired-state diff see changes that are not there; so every prefix we carry is reduced to
// one canonical text (RFC 5952 for IPv6, prefix always written, host bits zero). Anything ambiguous is refused
// rather than guessed: zone ids, leading zeros in IPv4 octets, host bits set under the prefix.

import { formatIpv6 } from '../wire/index.js'

export interface Cidr {
  family: 4 | 6
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array
  prefix: number
}

const DEC_OCTET = /^(0|[1-9][0-9]{0,2})$/
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/
const PREFIX = /^(0|[1-9][0-9]{0,2})$/

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  const out = new Uint8Array(4)
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!
    if (!DEC_OCTET.test(p)) return null
    const v = Number(p)
    if (v > 255) return null
    out[i] = v
  }
  return out
}

function parseGroups(text: string): number[] | null {
  if (text === '') return []
  const groups: number[] = []
  const parts = text.split(':')
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!
    if (i === parts.length - 1 && p.includes('.')) {
      // Embedded IPv4 in the last 32 bits (::ffff:192.0.2.1).
      const v4 = parseIpv4(p)
      if (!v4) return null
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!)
      continue
    }
    if (!HEX_GROUP.test(p)) return null
    groups.push(Number.parseInt(p, 16))
  }
  return groups
}

function parseIpv6(text: string): Uint8Array | null {
  const halves = text.split('::')
  if (halves.length > 2) return null
  let groups: number[]
  if (halves.length === 2) {
    const head = parseGroups(halves[0]!)
    const tail = parseGroups(halves[1]!)
    if (!head || !tail) return null
    // An embedded IPv4 may only close the address, never sit before "::".
    if (halves[0]!.includes('.')) return null
    const missing = 8 - head.length - tail.length
    if (missing < 1) return null
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail]
  } else {
    const all = parseGroups(text)
    if (all?.length !== 8) return null
    groups = all
  }
  const out = new Uint8Array(16)
  groups.forEach((g, i) => {
    out[2 * i] = g >>> 8
    out[2 * i + 1] = g & 0xff
  })
  return out
}

function hostBitsZero(bytes: Uint8Array, prefix: number): boolean {
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if ((bytes[bit >>> 3]! >>> (7 - (bit & 7))) & 1) return false
  }
  return true
}

/** Parses "addr" or "addr/prefix"; a bare address means a host prefix. Returns null on anything ambiguous. */
export function parseCidr(text: string): Cidr | null {
  if (text.length === 0 || text.length > 64) return null
  const slash = text.indexOf('/')
  const addr = slash < 0 ? text : text.slice(0, slash)
  const prefixText = slash < 0 ? null : text.slice(slash + 1)
  let family: 4 | 6
  let bytes: Uint8Array | null
  if (addr.includes(':')) {
    family = 6
    bytes = parseIpv6(addr)
  } else {
    family = 4
    bytes = parseIpv4(addr)
  }
  if (!bytes) return null
  const max = family === 4 ? 32 : 128
  let prefix = max
  if (prefixText !== null) {
    if (!PREFIX.test(prefixText)) return null
    prefix = Number(prefixText)
    if (prefix > max) return null
  }
  if (!hostBitsZero(bytes, prefix)) return null
  return { family, bytes, prefix }
}

export function formatCidr(c: Cidr): string {
  const addr = c.family === 4 ? Array.from(c.bytes).join('.') : formatIpv6(c.bytes)
  return `${addr}/${c.prefix}`
}

/** The one spelling of a prefix we store, compare and hand to WireGuard; null when the text is not a prefix. */
export function canonicalCidr(text: string): string | null {
  const c = parseCidr(text)
  return c ? formatCidr(c) : null
}
