// The shape every wire format in the router is described with: one object per message type that knows
// how to write itself to a Writer and read itself back from a Reader, kept in one place per format so the
// layout is readable at a glance (the habit of holepunch's compact-encoding, without its preencode pass:
// our Writer grows instead).

import { Reader } from './reader.js'
import { Writer } from './writer.js'

export interface Codec<T> {
  encode(w: Writer, v: T): void
  /** Reads one value; throws DecodeError on any malformed input. */
  decode(r: Reader): T
}

export function encodeWith<T>(codec: Codec<T>, value: T, initialCapacity?: number): Uint8Array {
  const w = new Writer(initialCapacity)
  codec.encode(w, value)
  return w.finish()
}

/** Decodes exactly one value: bytes left over are a DecodeError ('trailing-bytes'). */
export function decodeWith<T>(codec: Codec<T>, bytes: Uint8Array): T {
  const r = new Reader(bytes)
  const v = codec.decode(r)
  r.end()
  return v
}

/** A codec for a list of `item`, prefixed by a varint count capped at `maxItems`. */
export function arrayCodec<T>(item: Codec<T>, maxItems: number): Codec<T[]> {
  return {
    encode(w, list) {
      w.varint(list.length)
      for (const v of list) item.encode(w, v)
    },
    decode(r) {
      const n = r.count(maxItems)
      const out: T[] = new Array(n)
      for (let i = 0; i < n; i++) out[i] = item.decode(r)
      return out
    },
  }
}
