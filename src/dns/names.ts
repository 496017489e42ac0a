// Domain names and addresses as the zone needs them: which labels the mesh accepts, dotted names to wire form,
// and the in-addr.arpa / ip6.arpa names of mesh addresses. Pure; no I/O.

import { isIPv4, isIPv6 } from 'node:net'
import { MAX_LABEL, MAX_NAME_WIRE } from './constants.js'

// Names from the registry become DNS labels as they are. Hostname rules (RFC 1123: letters, digits, inner
// hyphens) plus inner underscores, which agent names use; anything else is reported by the zone, not mangled,
// because a silently rewritten name is one nobody can find.
const LABEL_RE = /^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?$/

export function isMeshLabel(s: string): boolean {
  return LABEL_RE.test(s)
}

/** Lower-case, no trailing dot: the one spelling the zone's maps are keyed by (DNS compares ASCII case-blind). */
export function normalizeName(name: string): string {
  const n = name.endsWith('.') ? name.slice(0, -1) : name
  return asciiLower(n)
}

/** ASCII-only lower-casing: DNS case-folding is ASCII (RFC 4343); String#toLowerCase would fold other letters. */
export function asciiLower(s: string): string {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) | 0x20)) : s
}

/** The labels of a normalized name; the root ('') has none. */
export function labelsOf(name: string): string[] {
  return name === '' ? [] : name.split('.')
}

/** Wire length of a normalized dotted name: one length byte per label, the labels, the root byte. */
export function wireLength(name: string): number {
  return name === '' ? 1 : name.length + 2
}

/** Whether a normalized dotted name can be encoded: labels 1-63 octets, ASCII, total at most 255 octets. */
export function isEncodableName(name: string): boolean {
  if (name === '') return true
  if (wireLength(name) > MAX_NAME_WIRE || !/^[\x21-\x7e]+$/.test(name)) return false
  return labelsOf(name).every((l) => l.length >= 1 && l.length <= MAX_LABEL)
}

/**
 * Wire form of a normalized dotted name, as a latin1 string (one char per octet). The answer table keys its
 * maps by exactly this string, so the parser can look a query up without building a dotted name.
 */
export function wireKey(name: string): string {
  let out = ''
  for (const label of labelsOf(name)) out += String.fromCharCode(label.length) + label
  return `${out}\0`
}

/** Dotted name from a wire key (the inverse of wireKey, for messages and the slow path). */
export function nameFromWireKey(key: string): string {
  const labels: string[] = []
  let i = 0
  while (i < key.length) {
    const len = key.charCodeAt(i)
    if (len === 0) break
    labels.push(key.slice(i + 1, i + 1 + len))
    i += 1 + len
  }
  return labels.join('.')
}

/** The four bytes of a dotted-quad IPv4 address, or null. */
export function ipv4Bytes(ip: string): Uint8Array | null {
  if (!isIPv4(ip)) return null
  return Uint8Array.from(ip.split('.').map(Number))
}

/** The sixteen bytes of an IPv6 address (with "::" and an embedded dotted quad allowed), or null. */
export function ipv6Bytes(ip: string): Uint8Array | null {
  if (!isIPv6(ip) || ip.includes('%')) return null
  let text = ip
  let v4: Uint8Array | null = null
  const lastColon = text.lastIndexOf(':')
  if (text.slice(lastColon + 1).includes('.')) {
    // An embedded dotted quad fills the last two groups: parse it apart, leave two zero groups in its place.
    v4 = ipv4Bytes(text.slice(lastColon + 1))
    if (!v4) return null
    text = `${text.slice(0, lastColon + 1)}0:0`
  }
  const groupsOf = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)))
  const gap = text.indexOf('::')
  let groups: number[]
  if (gap < 0) {
    groups = groupsOf(text)
  } else {
    const head = groupsOf(text.slice(0, gap))
    const tail = groupsOf(text.slice(gap + 2))
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]
  }
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 0xffff))) return null
  const out = new Uint8Array(16)
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8
    out[2 * i + 1] = g & 0xff
  })
  if (v4) out.set(v4, 12)
  return out
}

/** `d.c.b.a.in-addr.arpa` for an IPv4 address, the nibble name under ip6.arpa for IPv6; null if not an address. */
export function reverseName(ip: string): string | null {
  const v4 = ipv4Bytes(ip)
  if (v4) return `${[...v4].reverse().join('.')}.in-addr.arpa`
  const v6 = ipv6Bytes(ip)
  if (!v6) return null
  const nibbles: string[] = []
  for (let i = 15; i >= 0; i--) nibbles.push((v6[i]! & 0xf).toString(16), (v6[i]! >> 4).toString(16))
  return `${nibbles.join('.')}.ip6.arpa`
}

/**
 * The reverse zone that holds an address's PTR: the /16 of an IPv4 address (mesh IPv4 is 100.64.0.0/10, so the
 * zones are 64.100.in-addr.arpa ... 127.100.in-addr.arpa) and the /48 of an IPv6 one (the federation's ULA prefix).
 */
export function reverseZoneOf(ip: string): string | null {
  const name = reverseName(ip)
  if (name === null) return null
  const labels = name.split('.')
  const keep = ipv4Bytes(ip) ? 2 : 12
  return labels.slice(labels.length - 2 - keep).join('.')
}
