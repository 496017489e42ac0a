// Reads the live state of one interface from `wg show NAME dump` (pure). The format is tab-separated: one
// interface line (private-key, public-key, listen-port, fwmark), then one line per peer (public-key,
// preshared-key, endpoint, allowed-ips, latest-handshake, transfer-rx, transfer-tx, persistent-keepalive), with
// "(none)" / "off" for unset values. Anything else is a DumpParseError naming the line, never a crash or a guess:
// a misread live state would make the diff remove peers that are fine.

import { formatAddress, parseAddress, parsePrefix } from './cidr.js'
import { DumpParseError } from './errors.js'
import { isBase64Key } from './keys.js'

export interface LivePeer {
  publicKey: string
  /** Base64, or null when the peer has none. */
  presharedKey: string | null
  /** 'a.b.c.d:port' / '[v6]:port' as wg prints it, or null before the peer was ever heard from or configured. */
  endpoint: string | null
  /** As printed: canonical prefixes. Order is the device's, not meaningful. */
  allowedIps: string[]
  /** Unix seconds of the last handshake; 0 = never. */
  latestHandshake: number
  rxBytes: number
  txBytes: number
  /** Seconds; 0 = off. */
  persistentKeepalive: number
}

export interface LiveInterface {
  /** Base64, or null when no private key is set. */
  privateKey: string | null
  publicKey: string | null
  listenPort: number
  /** 0 = off. */
  fwmark: number
  peers: LivePeer[]
}

const UINT = /^(0|[1-9][0-9]*)$/

function uint(line: number, field: string, text: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!UINT.test(text))
    throw new DumpParseError(line, `${field} '${clip(text)}' is not a non-negative integer`)
  const n = Number(text)
  // Byte counters beyond 2^53 lose precision but stay useful; fields with a real bound are checked.
  if (n > max) throw new DumpParseError(line, `${field} ${clip(text)} is larger than ${max}`)
  return n
}

function key(line: number, field: string, text: string, optional: boolean): string | null {
  if (optional && text === '(none)') return null
  if (!isBase64Key(text)) throw new DumpParseError(line, `${field} '${clip(text)}' is not a base64 key`)
  return text
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

function endpoint(line: number, text: string): string | null {
  if (text === '(none)') return null
  const m = /^\[([^\]]+)\]:([0-9]{1,5})$/.exec(text) ?? /^([0-9.]+):([0-9]{1,5})$/.exec(text)
  const addr = m === null ? undefined : parseAddress((m[1] as string).replace(/%.*$/, ''))
  if (m === null || addr === undefined || Number(m[2]) > 65535) {
    throw new DumpParseError(line, `endpoint '${clip(text)}' is not ip:port`)
  }
  // Re-format so a zone id or an unusual spelling compares equal to our canonical desired endpoints.
  const host = formatAddress(addr.family, addr.bytes)
  return addr.family === 6 ? `[${host}]:${m[2]}` : `${host}:${m[2]}`
}

function allowedIps(line: number, text: string): string[] {
  if (text === '(none)') return []
  return text.split(',').map((item) => {
    const p = parsePrefix(item)
    if (p === undefined || !item.includes('/')) {
      throw new DumpParseError(line, `allowed-ip '${clip(item)}' is not a prefix`)
    }
    return `${formatAddress(p.family, p.bytes)}/${p.bits}`
  })
}

function parsePeer(line: number, fields: string[]): LivePeer {
  const [pub, psk, ep, ips, hs, rx, tx, ka] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ]
  return {
    publicKey: key(line, 'peer public-key', pub, false) as string,
    presharedKey: key(line, 'preshared-key', psk, true),
    endpoint: endpoint(line, ep),
    allowedIps: allowedIps(line, ips),
    latestHandshake: uint(line, 'latest-handshake', hs),
    rxBytes: uint(line, 'transfer-rx', rx),
    txBytes: uint(line, 'transfer-tx', tx),
    persistentKeepalive: ka === 'off' ? 0 : uint(line, 'persistent-keepalive', ka, 65535),
  }
}

/** Parses the output of `wg show NAME dump` (one interface, no interface-name column). */
export function parseDump(text: string): LiveInterface {
  const lines = text.split('\n')
  // wg ends the output with a newline; anything blank after the content is tolerated, blank lines inside are not.
  while (lines.length > 0 && (lines[lines.length - 1] as string).trim() === '') lines.pop()
  if (lines.length === 0) throw new DumpParseError(1, 'empty output (no interface line)')
  const head = (lines[0] as string).replace(/\r$/, '').split('\t')
  if (head.length !== 4) {
    throw new DumpParseError(
      1,
      `interface line has ${head.length} fields, expected 4 (private-key, public-key, listen-port, fwmark)`,
    )
  }
  const [priv, pub, port, fwmark] = head as [string, string, string, string]
  const iface: LiveInterface = {
    privateKey: key(1, 'private-key', priv, true),
    publicKey: key(1, 'public-key', pub, true),
    listenPort: uint(1, 'listen-port', port, 65535),
    fwmark: fwmark === 'off' ? 0 : parseFwmark(fwmark),
    peers: [],
  }
  const seen = new Set<string>()
  for (let i = 1; i < lines.length; i++) {
    const n = i + 1
    const fields = (lines[i] as string).replace(/\r$/, '').split('\t')
    if (fields.length !== 8) throw new DumpParseError(n, `peer line has ${fields.length} fields, expected 8`)
    const peer = parsePeer(n, fields)
    if (seen.has(peer.publicKey)) throw new DumpParseError(n, `peer ${peer.publicKey} listed twice`)
    seen.add(peer.publicKey)
    iface.peers.push(peer)
  }
  return iface

  function parseFwmark(text: string): number {
    // wg prints the mark in hex ("0x1234") or decimal depending on version.
    if (/^0x[0-9a-fA-F]{1,8}$/.test(text)) return Number.parseInt(text.slice(2), 16)
    return uint(1, 'fwmark', text, 0xffffffff)
  }
}
