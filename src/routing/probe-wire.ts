// The probe datagram: what two linked routers exchange to measure their link (RTT, loss, liveness). It travels
// as a peer-link datagram (unreliable, unordered, encrypted on its own: src/transport/frames.ts), so a probe
// costs one UDP packet and no acks. Each datagram is both a probe and the answer to the peer's latest probe,
// the way RTCP's receiver reports carry "last report received + delay since": per link and interval, two
// datagrams instead of a ping and a pong each way.
//
//   u8  kind = 1 (probe, format version 1)
//   u8  flags      bit 0 ANSWER_NOW: the sender's link is not up, answer this one at once
//                  bit 1 HELD_MS: `held` counts ms, not 100 µs (a hold over 6.5 s); other bits 0
//   u32 seq        >= 1, the sender's probe counter on this link
//   u32 echo       the highest seq the sender has received from the receiver; 0 = none yet
//   u16 held       time from the arrival of `echo` to this send, in units of 100 µs, or of 1 ms with HELD_MS
//                  (0 when echo is 0). Two idle routers answer each other with their next probe, up to an
//                  idle interval (10 s by default) later: 100 µs units alone stop at 6.5 s, and a probe held
//                  longer could not be answered at all.
//   u16 mask       bit i set: the receiver's seq echo-1-i arrived too (0 when echo is 0)
//   u16 interval   the sender's probe interval in ms (>= 1): a receiver whose own interval is longer answers
//                  each probe at once, since the sender's dead-link timer is set for the sender's pace
//
// 16 bytes. The receiver's RTT sample is (now - when it sent `echo`) - held. decodeProbe throws DecodeError on
// anything else, so the driver can drop and count it.

import { type Codec, DecodeError, decodeWith, encodeWith, type Reader, type Writer } from '../wire/index.js'

export const PROBE_KIND = 1
export const PROBE_BYTES = 16
export const ANSWER_NOW = 0b1
export const HELD_MS = 0b10
/** Without HELD_MS, `held` counts tenths of a ms (100 µs), up to 6553.5 ms. */
const HELD_UNITS_PER_MS = 10
/** The longest hold a probe can say (with HELD_MS), ms. */
export const MAX_HELD_MS = 0xffff

/** `ms` as the held field says it: in 100 µs steps up to 6553.5 ms, in whole ms above. */
function heldOnWire(ms: number): { units: number; coarse: boolean } {
  const fine = Math.round(ms * HELD_UNITS_PER_MS)
  return fine <= 0xffff ? { units: fine, coarse: false } : { units: Math.round(ms), coarse: true }
}

/** The hold a held field says, ms. */
function heldFromWire(held: { units: number; coarse: boolean }): number {
  return held.coarse ? held.units : held.units / HELD_UNITS_PER_MS
}
/** Earlier seqs the mask can acknowledge. */
export const MASK_BITS = 16

export interface ProbeDatagram {
  answerNow: boolean
  seq: number
  echo: number
  /** ms, at 0.1 ms precision up to 6553.5 and 1 ms above (to MAX_HELD_MS). */
  heldMs: number
  mask: number
  /**
   * The sender's probe interval. Not read since a prober bounds a peer's hold by its own interval (driver.ts,
   * applyPace); still sent and checked, so the datagram stays what routers of earlier builds expect.
   */
  intervalMs: number
}

export const probeCodec: Codec<ProbeDatagram> = {
  encode(w: Writer, p: ProbeDatagram) {
    const held = heldOnWire(p.heldMs)
    w.u8(PROBE_KIND)
      .u8((p.answerNow ? ANSWER_NOW : 0) | (held.coarse ? HELD_MS : 0))
      .u32(p.seq)
      .u32(p.echo)
      .u16(held.units)
      .u16(p.mask)
      .u16(p.intervalMs)
  },
  decode(r: Reader): ProbeDatagram {
    const kind = r.u8()
    if (kind !== PROBE_KIND) throw new DecodeError('unknown-tag', `unknown probe datagram kind ${kind}`, 0)
    const flags = r.u8()
    if ((flags & ~(ANSWER_NOW | HELD_MS)) !== 0)
      throw new DecodeError('invalid-value', `unknown probe flags ${flags}`, 1)
    const seq = r.u32()
    if (seq === 0) throw new DecodeError('invalid-value', 'probe seq 0', 2)
    const echo = r.u32()
    const heldUnits = r.u16()
    const mask = r.u16()
    if (echo === 0 && (heldUnits !== 0 || mask !== 0 || flags & HELD_MS))
      throw new DecodeError('invalid-value', 'held time or mask without an echo', 10)
    const intervalMs = r.u16()
    if (intervalMs === 0) throw new DecodeError('invalid-value', 'probe interval 0', 14)
    // One encoding per value: whole ms only where 100 µs units cannot say it.
    if (flags & HELD_MS && heldUnits * HELD_UNITS_PER_MS <= 0xffff)
      throw new DecodeError('invalid-value', `a hold of ${heldUnits} ms in whole ms`, 10)
    const heldMs = heldFromWire({ units: heldUnits, coarse: (flags & HELD_MS) !== 0 })
    return { answerNow: (flags & ANSWER_NOW) !== 0, seq, echo, heldMs, mask, intervalMs }
  },
}

export function encodeProbe(p: ProbeDatagram): Uint8Array {
  return encodeWith(probeCodec, p, PROBE_BYTES)
}

/** Exactly one probe datagram; DecodeError on another kind, bad values, truncation or trailing bytes. */
export function decodeProbe(bytes: Uint8Array): ProbeDatagram {
  return decodeWith(probeCodec, bytes)
}

/**
 * One side's bookkeeping for the probes of one link: its own sequence numbers, and which of the peer's
 * probes arrived, to echo back. Pure; times are monotonic ms.
 */
export class ProbeEcho {
  private next = 1
  /** Highest seq received from the peer (0: none yet), when it arrived, and which earlier ones arrived too. */
  private latest = 0
  private latestAt = 0
  private mask = 0

  /** The sequence number of our next probe on this link. */
  takeSeq(): number {
    const seq = this.next
    this.next = this.next >= 0xffff_ffff ? 1 : this.next + 1
    return seq
  }

  /**
   * The peer's probe `seq` arrived at `at`. Returns how many of the peer's probes went missing just before it
   * (its reverse-path loss), or null for one that is not new (late, repeated or replayed).
   */
  received(seq: number, at: number): number | null {
    if (seq > this.latest) {
      const shift = seq - this.latest
      const skipped = this.latest === 0 ? 0 : shift - 1
      this.mask =
        shift > MASK_BITS || this.latest === 0 ? 0 : ((this.mask << shift) | (1 << (shift - 1))) & 0xffff
      this.latest = seq
      this.latestAt = at
      return skipped
    }
    const back = this.latest - seq
    // A late one was already counted missing; it is acknowledged in the mask but not un-counted (reordering
    // is rare on the paths probes take, and it errs towards loss).
    if (back >= 1 && back <= MASK_BITS) this.mask |= 1 << (back - 1)
    return null
  }

  /** What a probe sent at `at` echoes: the newest probe of the peer's, how long we held it, and the mask. */
  echoAt(at: number): Pick<ProbeDatagram, 'echo' | 'heldMs' | 'mask'> {
    // Said as the wire will say it, so the datagram carries exactly this hold.
    const heldMs = heldFromWire(heldOnWire(Math.max(0, at - this.latestAt)))
    if (this.latest === 0 || heldMs > MAX_HELD_MS) return { echo: 0, heldMs: 0, mask: 0 }
    return { echo: this.latest, heldMs, mask: this.mask }
  }
}
