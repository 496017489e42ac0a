// A small, fast, seeded pseudo-random generator: xoshiro128** (Blackman & Vigna), seeded through
// splitmix32. Written here rather than taken from pure-rand because protocols ship in the daemon and
// pure-rand is a dev dependency, and because the simulator draws millions of numbers per CI run, so a
// mutable 4×32-bit state with Math.imul beats an immutable generator that allocates per draw.
//
// Determinism is the point: the same seed gives the same sequence on every platform Node runs on, because
// only 32-bit integer arithmetic is involved. Not cryptographic; the daemon's driver passes a crypto Rng.

import { ProtocolError } from './errors.js'
import type { Rng } from './types.js'

const TWO_POW_32 = 4294967296
const TWO_POW_53 = 9007199254740992

/** splitmix32: spreads a counter into well-mixed words, so seeds 1, 2, 3 give unrelated streams. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0
  let z = state.s
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

export class SeededRng implements Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  /** `seed` is any integer in [0, 2^53): the simulator's seeds and SIM_SEED values. */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new ProtocolError('RNG_RANGE', `seed must be an integer in [0, 2^53), got ${seed}`)
    }
    const st = { s: seed >>> 0 }
    const hi = Math.floor(seed / TWO_POW_32)
    this.a = splitmix32(st)
    this.b = splitmix32(st)
    st.s ^= hi
    this.c = splitmix32(st)
    this.d = splitmix32(st)
    // The all-zero state is the one fixed point of xoshiro; splitmix never yields four zeros, but be sure.
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1
  }

  /** An independent stream derived from this one, so subsystems do not perturb each other's draws. */
  fork(): SeededRng {
    const child = new SeededRng(0)
    child.a = this.u32() ^ 0x6a09e667
    child.b = this.u32() ^ 0xbb67ae85
    child.c = this.u32() ^ 0x3c6ef372
    child.d = this.u32() ^ 0xa54ff53a
    if ((child.a | child.b | child.c | child.d) === 0) child.a = 1
    return child
  }

  /** A uniform unsigned 32-bit integer. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0
    const t = this.b << 9
    this.c ^= this.a
    this.d ^= this.b
    this.b ^= this.c
    this.a ^= this.d
    this.c ^= t
    this.d = rotl(this.d, 11)
    return result
  }

  next(): number {
    return this.u32() / TWO_POW_32
  }

  int(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo > hi) {
      throw new ProtocolError('RNG_RANGE', `int(${lo}, ${hi}) needs safe integers with lo <= hi`)
    }
    const range = hi - lo + 1
    // Multiply-and-floor: bias is at most range / 2^32 (or 2^53), far below anything a test can observe.
    if (range <= TWO_POW_32) return lo + Math.floor(this.next() * range)
    const x = (this.u32() * 2097152 + (this.u32() >>> 11)) / TWO_POW_53
    return lo + Math.floor(x * range)
  }

  bytes(n: number): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0) throw new ProtocolError('RNG_RANGE', `bytes(${n})`)
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i += 4) {
      let w = this.u32()
      for (let j = i; j < i + 4 && j < n; j++) {
        out[j] = w & 0xff
        w >>>= 8
      }
    }
    return out
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.next() < p
  }

  /** Uniform real in [lo, hi). */
  between(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next()
  }

  /** Exponentially distributed with the given mean (0 gives 0). */
  exponential(mean: number): number {
    if (mean <= 0) return 0
    // 1 - next() is in (0, 1], so the log is finite.
    return -mean * Math.log(1 - this.next())
  }

  pick<V>(items: readonly V[]): V {
    if (items.length === 0) throw new ProtocolError('RNG_RANGE', 'pick from an empty list')
    return items[Math.floor(this.next() * items.length)]!
  }

  /** Fisher–Yates, in place; returns the same array. */
  shuffle<V>(items: V[]): V[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1))
      const tmp = items[i]!
      items[i] = items[j]!
      items[j] = tmp
    }
    return items
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
