// Node ids and agent names as the bus accepts them, and the text form of remote errors. Names are
// 1..64 printable ASCII characters (no spaces): node ids (node_xxxxxxxxxxxxxxxx), agent names, the
// router's own '' where a name is optional. The envelope decoder enforces the same rule on arrival.

import { BusError, type BusErrorCode } from './errors.js'

export const MAX_NAME_BYTES = 64

/** Throws BusError INVALID_ADDRESS unless `s` is a valid name ('' allowed when not `required`). */
export function checkName(s: string, what: string, required: boolean): void {
  if (typeof s !== 'string') throw new BusError('INVALID_ADDRESS', `${what} must be a string`)
  if (s.length === 0) {
    if (required) throw new BusError('INVALID_ADDRESS', `${what} is empty`)
    return
  }
  if (s.length > MAX_NAME_BYTES)
    throw new BusError('INVALID_ADDRESS', `${what} is ${s.length} characters, more than ${MAX_NAME_BYTES}`)
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x21 || c > 0x7e)
      throw new BusError(
        'INVALID_ADDRESS',
        `${what} ${JSON.stringify(s)} has a character outside printable ASCII at ${i}`,
      )
  }
}

const KNOWN_CODES: ReadonlySet<string> = new Set<BusErrorCode>([
  'TIMEOUT',
  'BACKPRESSURE',
  'QUEUE_FULL',
  'POLICY_DENIED',
  'RATE_LIMITED',
  'NO_RESPONDERS',
  'NO_ROUTE',
  'TOO_LARGE',
  'INVALID_SUBJECT',
  'INVALID_ADDRESS',
  'INVALID_OPTIONS',
  'LIMIT',
  'CLOSED',
])

/** The payload of an error reply or refusal ack: "CODE reason", printable ASCII, at most 512 bytes. */
export function errorPayload(code: string, reason: string): Uint8Array {
  const text = `${code} ${reason}`.slice(0, 512)
  const out = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    out[i] = c >= 0x20 && c < 0x7f ? c : 0x3f
  }
  return out
}

/** The BusError an error payload stands for; unknown codes become REMOTE_ERROR with the text kept. */
export function errorFromPayload(payload: Uint8Array, from: string): BusError {
  const text = String.fromCharCode.apply(null, payload.subarray(0, 512) as unknown as number[])
  const space = text.indexOf(' ')
  const code = space < 0 ? text : text.slice(0, space)
  const reason = space < 0 ? '' : text.slice(space + 1)
  if (KNOWN_CODES.has(code)) return new BusError(code as BusErrorCode, `${from}: ${reason}`)
  return new BusError('REMOTE_ERROR', `${from}: ${text}`)
}

// Decoded names repeat (a few node ids, agents and subjects carry most traffic), so the envelope decoder
// interns them through a small direct-mapped cache: a hit costs a byte comparison and allocates nothing.

const CACHE_SIZE = 4096
const cache: (string | undefined)[] = new Array(CACHE_SIZE)

/** Bytes [start, end) as a string, from the cache when it holds the same text. Bytes must be ASCII. */
export function intern(buf: Uint8Array, start: number, end: number, hash: number): string {
  const slot = hash & (CACHE_SIZE - 1)
  const hit = cache[slot]
  const n = end - start
  if (hit !== undefined && hit.length === n) {
    let same = true
    for (let i = 0; i < n; i++) {
      if (hit.charCodeAt(i) !== buf[start + i]) {
        same = false
        break
      }
    }
    if (same) return hit
  }
  const s = String.fromCharCode.apply(null, buf.subarray(start, end) as unknown as number[])
  cache[slot] = s
  return s
}
