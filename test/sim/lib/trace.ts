// The run's memory: a fixed ring of the last N events (what a failure message shows) and a running hash of
// every event ever recorded (what the determinism test compares). Records are preallocated and
// overwritten in place because the simulator writes several per step and must stay fast for thousands of
// seeds; text is only produced when a failure is reported.

export const TRACE_KINDS = [
  'start',
  'deliver',
  'timer',
  'request',
  'call',
  'send',
  'drop',
  'dup',
  'persist',
  'reply',
  'effect',
  'crash',
  'torn',
  'restart',
  'pause',
  'resume',
  'partition',
  'heal',
  'phase',
] as const
export type TraceKind = (typeof TRACE_KINDS)[number]
const KIND_CODE = new Map<TraceKind, number>(TRACE_KINDS.map((k, i) => [k, i]))

interface TraceRecord {
  step: number
  time: number
  kind: TraceKind
  node: number
  peer: number
  detail: unknown
}

export class Trace {
  private readonly ring: TraceRecord[]
  private next = 0
  private count = 0
  private h1 = 0x811c9dc5
  private h2 = 0x2545f491

  /** `hashDetails` also folds message bodies and timer names into the hash: slower, stronger. */
  constructor(
    size: number,
    private readonly hashDetails: boolean,
  ) {
    this.ring = Array.from({ length: Math.max(1, size) }, () => ({
      step: 0,
      time: 0,
      kind: 'start' as TraceKind,
      node: -1,
      peer: -1,
      detail: undefined,
    }))
  }

  /** `peer` is the other end (sender, destination) or -1; `detail` is kept by reference until overwritten. */
  add(step: number, time: number, kind: TraceKind, node: number, peer: number, detail?: unknown): void {
    const r = this.ring[this.next]!
    r.step = step
    r.time = time
    r.kind = kind
    r.node = node
    r.peer = peer
    r.detail = detail
    this.next = (this.next + 1) % this.ring.length
    this.count++
    this.mix(KIND_CODE.get(kind)!)
    this.mix(step)
    this.mix(time)
    this.mix(node)
    this.mix(peer)
    if (this.hashDetails && detail !== undefined) {
      const s = describe(detail, Number.POSITIVE_INFINITY)
      for (let i = 0; i < s.length; i++) this.mix(s.charCodeAt(i))
    }
  }

  private mix(x: number): void {
    const lo = x | 0
    const hi = Math.floor(x / 4294967296) | 0
    this.h1 = Math.imul(this.h1 ^ lo, 0x01000193)
    this.h1 = Math.imul(this.h1 ^ hi, 0x01000193)
    this.h2 = Math.imul(this.h2 ^ lo, 0x5bd1e995)
    this.h2 ^= this.h2 >>> 15
    this.h2 = Math.imul(this.h2 ^ hi, 0x5bd1e995)
    this.h2 ^= this.h2 >>> 13
  }

  /** 64 bits of hash over every event so far, as 16 hex digits. */
  get hash(): string {
    return (this.h1 >>> 0).toString(16).padStart(8, '0') + (this.h2 >>> 0).toString(16).padStart(8, '0')
  }

  /** Events recorded over the whole run, including those the ring has forgotten. */
  get total(): number {
    return this.count
  }

  /** The ring, oldest first, one line per event. */
  lines(ids: readonly string[]): string[] {
    const size = this.ring.length
    const n = Math.min(this.count, size)
    const out: string[] = []
    for (let i = 0; i < n; i++) {
      const r = this.ring[(this.next - n + i + size) % size]!
      const who = r.node >= 0 ? ids[r.node] : 'sim'
      let text = `#${r.step} t=${r.time} ${r.kind} ${who}`
      if (r.peer >= 0) text += r.kind === 'deliver' ? ` <- ${ids[r.peer]}` : ` -> ${ids[r.peer]}`
      if (r.detail !== undefined) text += ` ${describe(r.detail, 160)}`
      out.push(text)
    }
    return out
  }
}

/** Compact, total JSON-ish text for any value a protocol may put in a message or state. */
export function describe(value: unknown, max: number): string {
  let s: string
  if (typeof value === 'string') s = value
  else {
    try {
      s =
        JSON.stringify(value, (_k, v: unknown) => {
          if (typeof v === 'bigint') return `${v}n`
          if (v instanceof Uint8Array) return `bytes(${v.length})`
          if (v instanceof Map) return Object.fromEntries(v)
          if (v instanceof Set) return [...v]
          return v
        }) ?? String(value)
    } catch {
      s = String(value)
    }
  }
  return s.length > max ? `${s.slice(0, max - 1)}…` : s
}
