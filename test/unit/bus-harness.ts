// Test harness for the bus: a virtual clock and scheduler, fake links with latency, loss, duplication and
// a bandwidth/buffer model (so a fast publisher really outruns its link), and a mesh builder that wires
// routers with shortest-path next hops. Everything is driven by one seed, so a failing run replays.

import { Registry } from 'prom-client'
import { BusRouter } from '../../src/bus/router.js'
import type { Scheduler, TimerHandle } from '../../src/bus/scheduler.js'
import type { BusLimits, BusLink, PolicyHook } from '../../src/bus/types.js'
import { SeededRng } from '../../src/protocols/core/index.js'

interface Event {
  at: number
  seq: number
  fn: () => void
  cancelled: boolean
}

/** Virtual time. Events at the same instant run in the order they were scheduled. */
export class ManualScheduler implements Scheduler {
  now = 0
  private seq = 0
  private events: Event[] = []
  readonly clock = { now: () => this.now }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const e: Event = { at: this.now + Math.max(0, ms), seq: this.seq++, fn, cancelled: false }
    // Insertion keeps the list sorted by (at, seq); the lists in these tests stay short.
    let i = this.events.length
    while (i > 0 && this.events[i - 1]!.at > e.at) i--
    this.events.splice(i, 0, e)
    return e
  }

  clearTimer(handle: TimerHandle): void {
    ;(handle as Event).cancelled = true
  }

  defer(fn: () => void): void {
    this.setTimer(0, fn)
  }

  get pending(): number {
    return this.events.filter((e) => !e.cancelled).length
  }

  /** Runs every event due within `ms` from now, letting promise continuations run between events. */
  async advance(ms: number): Promise<void> {
    const until = this.now + ms
    for (;;) {
      await flushMicrotasks()
      const e = this.events[0]
      if (e === undefined || e.at > until) break
      this.events.shift()
      if (e.cancelled) continue
      this.now = e.at
      e.fn()
    }
    this.now = until
    await flushMicrotasks()
  }

  /** Runs events until `done()` holds or `maxMs` of virtual time passed; returns whether done. */
  async until(done: () => boolean, maxMs: number, stepMs = 1): Promise<boolean> {
    const limit = this.now + maxMs
    while (!done()) {
      if (this.now >= limit) return false
      await this.advance(stepMs)
    }
    return true
  }
}

export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

export interface LinkModel {
  /** One-way delay in ms. */
  latencyMs?: number
  /** Probability a frame is lost. */
  loss?: number
  /** Probability a frame is delivered twice. */
  duplicate?: number
  /** Bytes the link transmits per ms (default: unlimited). */
  bytesPerMs?: number
  /** Bytes the link buffers before send() returns false (default: unlimited). */
  bufferBytes?: number
  /** Frame limit advertised to the bus. */
  maxFrameBytes?: number
}

/** One direction's endpoint of a fake link: what router `from` sends on reaches router `to`. */
export class FakeLink implements BusLink {
  readonly peerId: string
  readonly maxFrameBytes: number | undefined
  buffered = 0
  framesSent = 0
  bytesSent = 0
  framesDelivered = 0
  down = false
  private busyUntil = 0
  private drainCb: (() => void) | null = null
  private wantDrain = false
  /** Every frame sent, in order (for tests that look inside). */
  readonly log: Uint8Array[] = []
  keepLog = false

  constructor(
    readonly from: string,
    readonly to: string,
    private readonly sched: ManualScheduler,
    private readonly rng: SeededRng,
    private readonly model: LinkModel,
    private readonly deliver: (frame: Uint8Array) => void,
  ) {
    this.peerId = to
    this.maxFrameBytes = model.maxFrameBytes
  }

  send(frame: Uint8Array): boolean {
    this.framesSent++
    this.bytesSent += frame.length
    if (this.keepLog) this.log.push(frame)
    const copy = frame.slice()
    this.buffered += copy.length
    const rate = this.model.bytesPerMs
    const start = Math.max(this.sched.now, this.busyUntil)
    const done = rate === undefined ? start : start + copy.length / rate
    this.busyUntil = done
    this.sched.setTimer(done - this.sched.now, () => {
      this.buffered -= copy.length
      this.transmitted(copy)
      if (this.wantDrain && this.buffered <= (this.model.bufferBytes ?? Number.POSITIVE_INFINITY) / 2) {
        this.wantDrain = false
        this.drainCb?.()
      }
    })
    const full = this.buffered > (this.model.bufferBytes ?? Number.POSITIVE_INFINITY)
    if (full) this.wantDrain = true
    return !full
  }

  private transmitted(frame: Uint8Array): void {
    if (this.down || this.rng.chance(this.model.loss ?? 0)) return
    const copies = this.rng.chance(this.model.duplicate ?? 0) ? 2 : 1
    for (let i = 0; i < copies; i++) {
      this.sched.setTimer(this.model.latencyMs ?? 0, () => {
        if (this.down) return
        this.framesDelivered++
        this.deliver(frame)
      })
    }
  }

  onDrain(cb: () => void): void {
    this.drainCb = cb
  }
}

export interface MeshOptions {
  seed?: number
  limits?: Partial<BusLimits>
  policy?: (node: string) => PolicyHook | undefined
  link?: LinkModel
  registry?: boolean
}

export interface Mesh {
  sched: ManualScheduler
  rng: SeededRng
  routers: Map<string, BusRouter>
  registries: Map<string, Registry>
  /** links.get('a>b') is a's endpoint towards b. */
  links: Map<string, FakeLink>
  r(name: string): BusRouter
  link(from: string, to: string): FakeLink
  /** Takes the link between a and b down in both directions (routing is not told). */
  cut(a: string, b: string): void
}

/**
 * Routers `names` joined by `edges` ([a, b] or [a, b, model]), with static shortest-path (hop count)
 * next hops, ties broken by name so runs are reproducible.
 */
export function buildMesh(
  names: string[],
  edges: [string, string, LinkModel?][],
  opts: MeshOptions = {},
): Mesh {
  const sched = new ManualScheduler()
  const rng = new SeededRng(opts.seed ?? 1)
  const adj = new Map<string, string[]>(names.map((n) => [n, []]))
  for (const [a, b] of edges) {
    adj.get(a)!.push(b)
    adj.get(b)!.push(a)
  }
  for (const list of adj.values()) list.sort()
  const nextHops = new Map<string, Map<string, string>>()
  for (const src of names) {
    // BFS from src; the first hop of each shortest path.
    const first = new Map<string, string>()
    const queue: string[] = []
    for (const n of adj.get(src)!) {
      first.set(n, n)
      queue.push(n)
    }
    while (queue.length > 0) {
      const cur = queue.shift()!
      for (const n of adj.get(cur)!) {
        if (n === src || first.has(n)) continue
        first.set(n, first.get(cur)!)
        queue.push(n)
      }
    }
    nextHops.set(src, first)
  }
  const routers = new Map<string, BusRouter>()
  const registries = new Map<string, Registry>()
  for (const name of names) {
    const registry = opts.registry ? new Registry() : undefined
    if (registry) registries.set(name, registry)
    routers.set(
      name,
      new BusRouter({
        nodeId: name,
        nextHop: (node) => nextHops.get(name)!.get(node) ?? null,
        clock: sched.clock,
        scheduler: sched,
        rng: rng.fork(),
        limits: opts.limits,
        policy: opts.policy?.(name),
        registry,
      }),
    )
  }
  const links = new Map<string, FakeLink>()
  for (const [a, b, model] of edges) {
    const m = { ...opts.link, ...model }
    const ab = new FakeLink(a, b, sched, rng.fork(), m, (f) => routers.get(b)!.receive(a, f))
    const ba = new FakeLink(b, a, sched, rng.fork(), m, (f) => routers.get(a)!.receive(b, f))
    links.set(`${a}>${b}`, ab)
    links.set(`${b}>${a}`, ba)
  }
  for (const [a, b] of edges) {
    routers.get(a)!.addLink(links.get(`${a}>${b}`)!)
    routers.get(b)!.addLink(links.get(`${b}>${a}`)!)
  }
  for (const r of routers.values()) r.setKnownNodes(names)
  return {
    sched,
    rng,
    routers,
    registries,
    links,
    r: (n) => routers.get(n)!,
    link: (a, b) => links.get(`${a}>${b}`)!,
    cut(a, b) {
      links.get(`${a}>${b}`)!.down = true
      links.get(`${b}>${a}`)!.down = true
    },
  }
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b)
