// Framing for everything the Raft store writes: [u32 length][u32 CRC-32 of length and payload][payload],
// big-endian. The checksum covers the length too, so a damaged length cannot send the reader off into the
// middle of another record with a plausible-looking frame. Scanning stops at the first frame that is cut
// short or fails its checksum; whether that is a torn tail (normal after a crash: truncate) or damage in
// the middle of the file (refuse) is decided by looking for intact frames after it.

import { crc32 } from 'node:zlib'

export const FRAME_HEADER = 8
/** No record is larger: a length above this is damage, not data. */
export const MAX_FRAME = 512 * 1024 * 1024

function checksum(header: Uint8Array, payload: Uint8Array): number {
  return crc32(payload, crc32(header.subarray(0, 4)))
}

export function encodeFrame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER + payload.length)
  const dv = new DataView(out.buffer)
  dv.setUint32(0, payload.length)
  out.set(payload, FRAME_HEADER)
  dv.setUint32(4, checksum(out, payload))
  return out
}

/** The frame starting at `offset`, or why there is none. */
export function readFrame(
  buf: Uint8Array,
  offset: number,
): { payload: Uint8Array; end: number } | { problem: 'truncated' | 'checksum' | 'length' } {
  if (buf.length - offset < FRAME_HEADER) return { problem: 'truncated' }
  const dv = new DataView(buf.buffer, buf.byteOffset + offset, FRAME_HEADER)
  const length = dv.getUint32(0)
  if (length === 0 || length > MAX_FRAME) return { problem: 'length' }
  if (buf.length - offset - FRAME_HEADER < length) return { problem: 'truncated' }
  const header = buf.subarray(offset, offset + FRAME_HEADER)
  const payload = buf.subarray(offset + FRAME_HEADER, offset + FRAME_HEADER + length)
  if (checksum(header, payload) !== dv.getUint32(4)) return { problem: 'checksum' }
  return { payload, end: offset + FRAME_HEADER + length }
}

export interface Scan {
  readonly payloads: Uint8Array[]
  /** Bytes from the start that hold intact frames. */
  readonly goodLength: number
  /** Why scanning stopped before the end, if it did. */
  readonly problem?: 'truncated' | 'checksum' | 'length'
}

export function scanFrames(buf: Uint8Array): Scan {
  const payloads: Uint8Array[] = []
  let offset = 0
  while (offset < buf.length) {
    const f = readFrame(buf, offset)
    if ('problem' in f) return { payloads, goodLength: offset, problem: f.problem }
    payloads.push(f.payload)
    offset = f.end
  }
  return { payloads, goodLength: offset }
}

/**
 * Whether an intact frame starts anywhere after `from`. A crash can only tear the last write, so intact
 * frames after a bad one mean the damage is in the middle, where truncating would drop records that were
 * acknowledged. A random 8-byte window passes the checksum with probability 2^-32 per position.
 */
export function intactFrameAfter(buf: Uint8Array, from: number): number | undefined {
  for (let at = from + 1; at + FRAME_HEADER < buf.length; at++) {
    const f = readFrame(buf, at)
    if (!('problem' in f)) return at
  }
  return undefined
}
