// A hash map keyed by wire-form names (plus an optional type), looked up straight from the bytes of a query:
// no string is built per query. The parser hashes the lower-cased name as it reads it; a hit is confirmed by
// comparing the stored name with the query's bytes, folding ASCII case on the fly.

/** FNV-1a offset basis; the parser and the builder must hash alike. */
export const HASH_SEED = 0x811c9dc5 | 0

/** One octet into an FNV-1a hash (octets must already be lower-cased). */
export function hashByte(h: number, b: number): number {
  return Math.imul(h ^ b, 0x01000193)
}

/** The hash of (name, type) from the hash of the name alone. Type -1 is "the name itself". */
export function withType(nameHash: number, type: number): number {
  return type < 0 ? nameHash : Math.imul(nameHash ^ (type + 0x10000), 0x9e3779b1) ^ (nameHash >>> 15)
}

/** Hash of a lower-case wire name (as produced by names.wireKey, one char per octet). */
export function hashWireKey(key: string): number {
  let h = HASH_SEED
  for (let i = 0; i < key.length; i++) h = hashByte(h, key.charCodeAt(i))
  return h
}

export class WireMap<V> {
  private slots: Int32Array
  private readonly hashes: number[] = []
  private readonly names: Uint8Array[] = []
  private readonly types: number[] = []
  private readonly values: V[] = []

  constructor(expected = 16) {
    this.slots = new Int32Array(pow2(expected * 2)).fill(-1)
  }

  get size(): number {
    return this.values.length
  }

  /** Adds (or replaces) the value for a lower-case wire name and type (-1: the name itself). */
  set(wireKey: string, type: number, value: V): void {
    const name = new Uint8Array(wireKey.length)
    for (let i = 0; i < name.length; i++) name[i] = wireKey.charCodeAt(i)
    const hash = withType(hashWireKey(wireKey), type)
    const found = this.find(hash, type, name, 0, name.length)
    if (found >= 0) {
      this.values[found] = value
      return
    }
    if ((this.values.length + 1) * 2 > this.slots.length) this.grow()
    this.hashes.push(hash)
    this.names.push(name)
    this.types.push(type)
    this.values.push(value)
    this.place(this.values.length - 1)
  }

  /**
   * The value for the name at `src[offset, offset + length)` (as written in a packet, any case) and `type`,
   * given the hash of its lower-cased form (see withType).
   */
  get(hash: number, type: number, src: Uint8Array, offset: number, length: number): V | undefined {
    const i = this.find(hash, type, src, offset, length)
    return i < 0 ? undefined : this.values[i]
  }

  private find(hash: number, type: number, src: Uint8Array, offset: number, length: number): number {
    const mask = this.slots.length - 1
    for (let s = hash & mask; ; s = (s + 1) & mask) {
      const i = this.slots[s]!
      if (i < 0) return -1
      if (this.hashes[i] !== hash || this.types[i] !== type) continue
      const name = this.names[i]!
      if (name.length !== length) continue
      let same = true
      for (let k = 0; k < length; k++) {
        let c = src[offset + k]!
        // Length octets are at most 63, so folding A-Z never touches them.
        if (c >= 0x41 && c <= 0x5a) c |= 0x20
        if (c !== name[k]) {
          same = false
          break
        }
      }
      if (same) return i
    }
  }

  private place(i: number): void {
    const mask = this.slots.length - 1
    let s = this.hashes[i]! & mask
    while (this.slots[s]! >= 0) s = (s + 1) & mask
    this.slots[s] = i
  }

  private grow(): void {
    this.slots = new Int32Array(this.slots.length * 2).fill(-1)
    for (let i = 0; i < this.values.length; i++) this.place(i)
  }
}

function pow2(n: number): number {
  let p = 16
  while (p < n) p *= 2
  return p
}
