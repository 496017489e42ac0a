// The contract between a protocol and whatever drives it (the daemon's real driver, or the deterministic
// simulator in test/sim). A protocol is a state machine in the spirit of etcd-raft's RawNode: it is handed
// inputs one at a time and answers each with a batch of outputs; it never touches a socket, a file, a timer
// or the real clock, so the same code runs in production and under a seeded simulated network.
//
// Pure: no Node imports, no Date.now, no Math.random, no setTimeout. Time and randomness come in through
// MachineContext; durable state comes in through Protocol.create and goes out through 'persist' outputs.

import type { Codec } from '../../wire/index.js'

/** A router's identity on the bus (the node id derived from its key). */
export type NodeId = string

/** Names a local request so its reply can find the caller; assigned by the driver, unique per driver. */
export type RequestId = number

/** Milliseconds on this node's clock. Only differences are meaningful: clocks of two nodes disagree. */
export interface Clock {
  now(): number
}

/** Randomness a protocol may use (election jitter, peer choice). Seeded in the simulator. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number
  /** Uniform integer in [lo, hi], both ends inclusive. */
  int(lo: number, hi: number): number
  bytes(n: number): Uint8Array
}

/**
 * The type parameters of one protocol, bundled so signatures stay readable: `Machine<RaftTypes>` instead
 * of six positional generics that every helper would have to repeat in the same order.
 */
export interface ProtocolTypes {
  /** What travels between nodes on the bus. */
  readonly Msg: unknown
  /** What a local client (API, CLI, another subsystem) asks. */
  readonly Req: unknown
  /** What the protocol answers to a Req. */
  readonly Res: unknown
  /** What must survive a crash. After a restart the machine sees the last persisted value and nothing else. */
  readonly Durable: unknown
  /** Side effects on the host the driver carries out (program routes, start an agent...). */
  readonly Effect: unknown
  /** A read-only picture of the machine's state for invariant checks, status pages and tests. */
  readonly View: unknown
}

export type Input<T extends ProtocolTypes> =
  | { readonly type: 'message'; readonly from: NodeId; readonly msg: T['Msg'] }
  | { readonly type: 'timer'; readonly name: string }
  | { readonly type: 'request'; readonly id: RequestId; readonly req: T['Req'] }
  /**
   * `state`, handed out by a 'persist', is now durable (and so is every persist before it). Only for a
   * protocol that asks for it (Protocol.persistedInput); drivers give it in the order the states were written.
   */
  | { readonly type: 'persisted'; readonly state: T['Durable'] }

/**
 * One thing the driver must do. Within one batch the driver applies outputs by phase, not by position:
 * every 'persist' first (durably, e.g. fsync), then timers, then 'send', then 'reply' and 'effect' — see
 * OUTPUT_PHASE. So a protocol may list a send before the persist it depends on and still be safe; what it
 * must not do is send in one step what it only persists in a later one, because a crash can fall between.
 */
export type Output<T extends ProtocolTypes> =
  /** Replaces the whole durable state. Several in one batch: the last wins. */
  | { readonly type: 'persist'; readonly state: T['Durable'] }
  /** Fires {type:'timer', name} once this node's clock reads `at`; setting a name again replaces it. */
  | { readonly type: 'setTimer'; readonly name: string; readonly at: number }
  | { readonly type: 'cancelTimer'; readonly name: string }
  /**
   * Best effort: may be delayed, reordered, duplicated or lost. Protocols retransmit what matters. `early`:
   * the message may leave before this batch's persist is durable — the protocol has made sure nothing it
   * promises depends on that state (a Raft leader's appends: it counts its own log only once 'persisted').
   */
  | { readonly type: 'send'; readonly to: NodeId; readonly msg: T['Msg']; readonly early?: boolean }
  | { readonly type: 'reply'; readonly id: RequestId; readonly res: T['Res'] }
  | { readonly type: 'effect'; readonly effect: T['Effect'] }

export type Outputs<T extends ProtocolTypes> = readonly Output<T>[]

/** Everything a machine may know about its surroundings; nothing here does I/O. */
export interface MachineContext {
  readonly id: NodeId
  /** Every member of the protocol's group, including `id`, in a stable order. */
  readonly members: readonly NodeId[]
  readonly clock: Clock
  readonly rng: Rng
}

/** One node's instance of a protocol. Volatile state lives in the object and dies with it on a crash. */
export interface Machine<T extends ProtocolTypes> {
  /** Called once after creation (first boot and every restart), typically to arm the first timers. */
  start(): Outputs<T>
  step(input: Input<T>): Outputs<T>
  /** Must not be mutated by the caller; may be the live object, so read it before the next step. */
  view(): T['View']
}

/**
 * A protocol as both drivers see it. Configuration is closed over by whoever builds the Protocol value
 * (`raft(config.raft)`), so drivers never need to know a protocol's config type.
 */
export interface Protocol<T extends ProtocolTypes> {
  readonly name: string
  /** `durable` is the last persisted state, or undefined on first boot. */
  create(ctx: MachineContext, durable: T['Durable'] | undefined): Machine<T>
  /**
   * How messages look on the wire. The simulator round-trips every message through it when present, so
   * codec bugs surface as simulation failures and a protocol cannot smuggle shared references.
   */
  readonly messageCodec?: Codec<T['Msg']>
  /** How durable state looks on disk; the simulator stores exactly these bytes across a crash. */
  readonly durableCodec?: Codec<T['Durable']>
  /** The machine wants a {type:'persisted'} input once each persist is durable (see Input). */
  readonly persistedInput?: boolean
}
