// "host:port" text, split. Its own module: the DNS server and the daemon use it at run time without loading the
// config schemas (fields.ts builds its field type on it).

import { isIP } from 'node:net'

/** Splits "host:port" / "[v6]:port"; null when malformed. The host comes back without brackets. */
export function splitHostPort(s: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s)
  if (m === null) return null
  const host = (m[1] ?? m[2]) as string
  const p = Number(m[3])
  if (m[1] !== undefined && isIP(host) !== 6) return null
  return { host, port: p }
}
