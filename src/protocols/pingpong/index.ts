// pingpong: the smallest protocol that exercises the whole machine contract, used to prove the simulator
// and as a template for real protocols. Every node pings all peers each interval with a fresh sequence
// number and answers pings with pongs. The durable-state rule it demonstrates: a sequence number is
// persisted before any ping carrying it leaves (same batch, driver order), so after any crash and restart
// the node never reuses one — exactly the discipline Raft needs for its term and vote.

import type { Codec } from '../../wire/index.js'
import { DecodeError } from '../../wire/index.js'
import {
  type Input,
  type Machine,
  type MachineContext,
  type NodeId,
  type Output,
  type Protocol,
  ProtocolError,
  type ProtocolTypes,
} from '../core/index.js'

export type PingPongMsg =
  | { readonly type: 'ping'; readonly seq: number }
  | { readonly type: 'pong'; readonly seq: number }
export interface PingPongDurable {
  readonly highestSent: number
}
export type PingPongReq = { readonly type: 'stats' }
export interface PingPongStats {
  readonly highestSent: number
  readonly pongs: number
  readonly pongsFrom: Readonly<Record<NodeId, number>>
}
/** Announced the first time a peer answers in this incarnation: the stand-in for "program a route". */
export type PingPongEffect = { readonly type: 'peer-reachable'; readonly peer: NodeId }
export interface PingPongView {
  readonly id: NodeId
  /** Highest sequence number used so far (volatile copy; the durable one may only be equal or behind). */
  readonly highestSent: number
  readonly pongs: number
  readonly pongsFrom: ReadonlyMap<NodeId, number>
}

export interface PingPongTypes extends ProtocolTypes {
  readonly Msg: PingPongMsg
  readonly Req: PingPongReq
  readonly Res: PingPongStats
  readonly Durable: PingPongDurable
  readonly Effect: PingPongEffect
  readonly View: PingPongView
}

/**
 * Planted bugs for the simulator's "tests that must fail" (reliability plan §9.5). Never set outside tests.
 * - 'no-persist': never persists, so a restart starts counting from zero again.
 * - 'lazy-persist': persists on a slower flush timer (write-behind), so a crash loses recent numbers.
 */
export type PingPongMutation = 'no-persist' | 'lazy-persist'

export interface PingPongConfig {
  /** Mean ms between ping rounds. */
  readonly interval: number
  /** Each round is scheduled interval × (1 ± jitter), so nodes do not ping in lockstep. Default 0.2. */
  readonly jitter?: number
  readonly mutation?: PingPongMutation
}

const PING = 1
const PONG = 2
const DURABLE_VERSION = 1

export const pingPongMessageCodec: Codec<PingPongMsg> = {
  encode(w, m) {
    w.u8(m.type === 'ping' ? PING : PONG).varint(m.seq)
  },
  decode(r) {
    const tag = r.u8()
    if (tag !== PING && tag !== PONG) throw new DecodeError('unknown-tag', `pingpong message tag ${tag}`)
    return { type: tag === PING ? 'ping' : 'pong', seq: r.varint() }
  },
}

export const pingPongDurableCodec: Codec<PingPongDurable> = {
  encode(w, d) {
    w.u8(DURABLE_VERSION).varint(d.highestSent)
  },
  decode(r) {
    const version = r.u8()
    if (version !== DURABLE_VERSION) {
      throw new DecodeError('unsupported-version', `pingpong durable state version ${version}`)
    }
    return { highestSent: r.varint() }
  },
}

export function pingpong(config: PingPongConfig): Protocol<PingPongTypes> {
  if (!(config.interval > 0))
    throw new ProtocolError('BAD_CONFIG', `pingpong interval must be > 0 ms, got ${config.interval}`)
  return {
    name: config.mutation ? `pingpong(${config.mutation})` : 'pingpong',
    create: (ctx, durable) => new PingPongNode(ctx, durable, config),
    messageCodec: pingPongMessageCodec,
    durableCodec: pingPongDurableCodec,
  }
}

type Out = Output<PingPongTypes>

class PingPongNode implements Machine<PingPongTypes> {
  private readonly peers: readonly NodeId[]
  private highestSent: number
  private persisted: number
  private pongs = 0
  private readonly pongsFrom = new Map<NodeId, number>()
  private readonly jitter: number

  constructor(
    private readonly ctx: MachineContext,
    durable: PingPongDurable | undefined,
    private readonly config: PingPongConfig,
  ) {
    this.peers = ctx.members.filter((m) => m !== ctx.id)
    this.highestSent = durable?.highestSent ?? 0
    this.persisted = this.highestSent
    this.jitter = config.jitter ?? 0.2
  }

  start(): Out[] {
    // The first round at a random point of one interval, so a federation that boots together spreads out.
    const out: Out[] = [
      {
        type: 'setTimer',
        name: 'ping',
        at: this.ctx.clock.now() + this.config.interval * this.ctx.rng.next(),
      },
    ]
    if (this.config.mutation === 'lazy-persist') out.push(this.flushTimer())
    return out
  }

  step(input: Input<PingPongTypes>): Out[] {
    switch (input.type) {
      case 'timer':
        if (input.name === 'ping') return this.round()
        if (input.name === 'flush' && this.config.mutation === 'lazy-persist') return this.flush()
        throw new ProtocolError('UNEXPECTED_INPUT', `pingpong has no timer ${JSON.stringify(input.name)}`)
      case 'message':
        return input.msg.type === 'ping'
          ? [{ type: 'send', to: input.from, msg: { type: 'pong', seq: input.msg.seq } }]
          : this.pong(input.from)
      case 'request':
        return [{ type: 'reply', id: input.id, res: this.stats() }]
      case 'persisted':
        throw new ProtocolError('UNEXPECTED_INPUT', 'pingpong does not ask for persisted inputs')
    }
  }

  view(): PingPongView {
    return { id: this.ctx.id, highestSent: this.highestSent, pongs: this.pongs, pongsFrom: this.pongsFrom }
  }

  private round(): Out[] {
    const seq = ++this.highestSent
    const out: Out[] = []
    if (this.config.mutation === undefined) {
      out.push({ type: 'persist', state: { highestSent: seq } })
      this.persisted = seq
    }
    const spread = 1 + this.jitter * (2 * this.ctx.rng.next() - 1)
    out.push({ type: 'setTimer', name: 'ping', at: this.ctx.clock.now() + this.config.interval * spread })
    // Listed in driver order so the driver need not reorder; correctness does not depend on it.
    for (const peer of this.peers) out.push({ type: 'send', to: peer, msg: { type: 'ping', seq } })
    return out
  }

  private pong(from: NodeId): Out[] {
    this.pongs++
    const n = (this.pongsFrom.get(from) ?? 0) + 1
    this.pongsFrom.set(from, n)
    return n === 1 ? [{ type: 'effect', effect: { type: 'peer-reachable', peer: from } }] : []
  }

  private flush(): Out[] {
    const out: Out[] = [this.flushTimer()]
    if (this.highestSent > this.persisted) {
      this.persisted = this.highestSent
      out.unshift({ type: 'persist', state: { highestSent: this.highestSent } })
    }
    return out
  }

  private flushTimer(): Out {
    return { type: 'setTimer', name: 'flush', at: this.ctx.clock.now() + 4 * this.config.interval }
  }

  private stats(): PingPongStats {
    return { highestSent: this.highestSent, pongs: this.pongs, pongsFrom: Object.fromEntries(this.pongsFrom) }
  }
}
