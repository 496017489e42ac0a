// IP prefixes and endpoints in the exact text form `wg` and `ip` print them (glibc inet_ntop, host bits masked),
// so that desired state and live state compare as strings and "no change" really means no change.

import { configInvalid } from './errors.js'

export interface Prefix {
  family: 4 | 6
  bytes: Uint8Array
  bits: number
}

function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  const out = new Uint8Array(4)
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string
    // Leading zeros are refused: some tools read them as octal.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined
    const n = Number(p)
    if (n > 255) return undefined
    out[i] = n
  }
  return out
}

function parseIPv6(text: string): Uint8Array | undefined {
  if (text.includes('%')) return undefined // zones mean nothing in allowed-ips or routes
  let head = text
  let tail4: Uint8Array | undefined
  const lastColon = text.lastIndexOf(':')
  if (text.includes('.')) {
    tail4 = parseIPv4(text.slice(lastColon + 1))
    if (tail4 === undefined) return undefined
    head = `${text.slice(0, lastColon + 1)}0:0`
  }
  const halves = head.split('::')
  if (halves.length > 2) return undefined
  const parseGroups = (s: string): number[] | undefined => {
    if (s === '') return []
    const groups: number[] = []
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
      groups.push(Number.parseInt(g, 16))
    }
    return groups
  }
  const left = parseGroups(halves[0] as string)
  const right = halves.length === 2 ? parseGroups(halves[1] as string) : []
  if (left === undefined || right === undefined) return undefined
  let groups: number[]
  if (halves.length === 2) {
    const missing = 8 - left.length - right.length
    if (missing < 1) return undefined
    groups = [...left, ...new Array<number>(missing).fill(0), ...right]
  } else {
    groups = left
  }
  if (groups.length !== 8) return undefined
  const out = new Uint8Array(16)
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8
    out[i * 2 + 1] = g & 0xff
  })
  if (tail4 !== undefined) out.set(tail4, 12)
  return out
}

/** Parses an address of either family; undefined when it is not one. */
export function parseAddress(text: string): { family: 4 | 6; bytes: Uint8Array } | undefined {
  const v4 = parseIPv4(text)
  if (v4 !== undefined) return { family: 4, bytes: v4 }
  const v6 = parseIPv6(text)
  if (v6 !== undefined) return { family: 6, bytes: v6 }
  return undefined
}

/** glibc inet_ntop formatting: longest zero run (>= 2 groups, first on ties) becomes '::', IPv4 tails dotted. */
export function formatAddress(family: 4 | 6, bytes: Uint8Array): string {
  if (family === 4) return Array.from(bytes.subarray(0, 4)).join('.')
  const words: number[] = []
  for (let i = 0; i < 8; i++) words.push(((bytes[i * 2] ?? 0) << 8) | (bytes[i * 2 + 1] ?? 0))
  let bestBase = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLen) {
      bestBase = i
      bestLen = j - i
    }
    i = j
  }
  if (bestLen < 2) bestBase = -1
  const dotted = (): string => `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`
  // inet_ntop's special cases: "::a.b.c.d" (IPv4-compatible) and "::ffff:a.b.c.d" (IPv4-mapped).
  if (bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
    return bestLen === 6 ? `::${dotted()}` : `::ffff:${dotted()}`
  }
  let out = ''
  for (let i = 0; i < 8; i++) {
    if (i === bestBase) {
      out += '::'
      i += bestLen - 1
      continue
    }
    if (out !== '' && !out.endsWith(':')) out += ':'
    out += (words[i] as number).toString(16)
  }
  return out
}

/** Parses 'addr/bits' or a bare address (a host prefix); undefined when malformed. Host bits are kept. */
export function parsePrefix(text: string): Prefix | undefined {
  const slash = text.indexOf('/')
  const addrText = slash === -1 ? text : text.slice(0, slash)
  const addr = parseAddress(addrText)
  if (addr === undefined) return undefined
  const max = addr.family === 4 ? 32 : 128
  let bits = max
  if (slash !== -1) {
    const b = text.slice(slash + 1)
    if (!/^(0|[1-9][0-9]{0,2})$/.test(b)) return undefined
    bits = Number(b)
    if (bits > max) return undefined
  }
  return { family: addr.family, bytes: addr.bytes, bits }
}

export function maskPrefix(p: Prefix): Prefix {
  const bytes = new Uint8Array(p.bytes)
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, p.bits - i * 8))
    bytes[i] = (bytes[i] as number) & ((0xff << (8 - keep)) & 0xff)
  }
  return { family: p.family, bytes, bits: p.bits }
}

/**
 * Canonical text of a prefix as `wg`/`ip` print it: host bits cleared, explicit length. WireGuard itself masks
 * allowed-ips, so '10.0.0.7/24' and '10.0.0.0/24' mean the same thing; we canonicalise instead of refusing.
 */
export function canonicalPrefix(text: string, what = 'prefix'): string {
  const p = parsePrefix(text.trim())
  if (p === undefined) throw configInvalid(`${what}: '${text}' is not an IP prefix`)
  const m = maskPrefix(p)
  return `${formatAddress(m.family, m.bytes)}/${m.bits}`
}

/** Family of a canonical or raw prefix; undefined when malformed. */
export function prefixFamily(text: string): 4 | 6 | undefined {
  return parsePrefix(text)?.family
}

/**
 * Canonical 'a.b.c.d:port' or '[v6]:port'. Only IP literals are accepted: `wg` would resolve a name once, and
 * the live state would then never equal the desired text, so every reconfigure would report a change.
 */
export function canonicalEndpoint(text: string, what = 'endpoint'): string {
  const m = /^\[([^\]]+)\]:([0-9]{1,5})$/.exec(text) ?? /^([^:[\]]+):([0-9]{1,5})$/.exec(text)
  const bad = (): never => {
    throw configInvalid(`${what}: '${text}' is not 'ip:port' or '[ipv6]:port' with an IP literal`)
  }
  if (m === null) return bad()
  const addr = parseAddress(m[1] as string)
  const port = Number(m[2])
  if (addr === undefined || port < 1 || port > 65535) return bad()
  const host = formatAddress(addr.family, addr.bytes)
  return addr.family === 6 ? `[${host}]:${port}` : `${host}:${port}`
}
