// The simulator's public types: what invariants, ghost recorders and workloads see, what a run is
// configured with and what it reports. Kept apart from the engine so a protocol's test file reads as a list
// of properties over these types, not as a tour of the simulator's internals.

import type {
  Clock,
  Input,
  NodeId,
  Output,
  Protocol,
  ProtocolTypes,
  RequestId,
  SeededRng,
} from '../../../src/protocols/core/index.js'
import type { FaultSpec, FaultsOption } from './faults.js'

/** Read access to the whole simulated federation, for invariants and liveness predicates. */
export interface World<T extends ProtocolTypes, G> {
  readonly seed: number
  /** Steps taken so far (one per processed event). */
  readonly step: number
  /** Global virtual time in ms; node clocks are offset from it and drift. */
  readonly now: number
  readonly ids: readonly NodeId[]
  /** The caller's ghost state (history, model), built by `record`. */
  readonly ghost: G
  readonly faults: FaultSpec
  isUp(id: NodeId): boolean
  isPaused(id: NodeId): boolean
  /** The protocol's view, or undefined while the node is crashed. */
  view(id: NodeId): T['View'] | undefined
  /** What the node last persisted — exactly what a restart would see. */
  durable(id: NodeId): T['Durable'] | undefined
  /** Whether the network currently carries messages from `from` to `to`. */
  connected(from: NodeId, to: NodeId): boolean
  /** The node's local clock (offset and drifting). */
  clock(id: NodeId): Clock
}

/** What the ghost recorder is told, in the order it happens. */
export type GhostEvent<T extends ProtocolTypes> =
  /** A machine was created: at t=0, or on restart from its durable state. */
  | { readonly kind: 'start'; readonly node: NodeId; readonly restart: boolean }
  | { readonly kind: 'crash'; readonly node: NodeId; readonly torn: boolean }
  /** Before the machine steps. */
  | { readonly kind: 'input'; readonly node: NodeId; readonly input: Input<T> }
  /** As the driver applies it (driver order; outputs cut off by a torn crash are not reported). */
  | { readonly kind: 'output'; readonly node: NodeId; readonly output: Output<T> }

/** A violation in words, or nothing when the property holds. */
// biome-ignore lint/suspicious/noConfusingVoidType: checks that find nothing should be free to not return.
export type Verdict = string | undefined | void

export type Invariant<T extends ProtocolTypes, G> = (world: World<T, G>) => Verdict

/** Records ghost history; may return a violation, which fails the run like an invariant. */
export type Recorder<T extends ProtocolTypes, G> = (
  ghost: G,
  ev: GhostEvent<T>,
  world: World<T, G>,
) => Verdict

export interface Reply<T extends ProtocolTypes> {
  readonly node: NodeId
  readonly id: RequestId
  readonly res: T['Res']
  readonly time: number
}

/** What a workload and scripted tests may do to a running simulation. */
export interface SimControl<T extends ProtocolTypes, G> extends World<T, G> {
  /** The workload's own random stream (separate, so workload changes do not reshuffle the network). */
  readonly rng: SeededRng
  /** Hands `req` to `node`'s local API now (or at virtual time `at`); returns the request id. */
  request(node: NodeId, req: T['Req'], at?: number): RequestId
  /** Runs `fn` at virtual time `at` (>= now) as its own step. */
  at(time: number, fn: () => void): void
  partition(groups: readonly (readonly NodeId[])[]): void
  isolate(id: NodeId): void
  cut(from: NodeId, to: NodeId, opts?: { oneWay?: boolean }): void
  heal(): void
  crash(id: NodeId): void
  restart(id: NodeId): void
  pause(id: NodeId, forMs: number): void
  resume(id: NodeId): void
}

export interface Workload<T extends ProtocolTypes, G> {
  /** Called once, after every node has started. Schedule requests and scripted faults from here. */
  start?(sim: SimControl<T, G>): void
  onReply?(sim: SimControl<T, G>, reply: Reply<T>): void
  /** The request reached a crashed node: the client saw a connection error. */
  onRequestFailed?(sim: SimControl<T, G>, failed: { node: NodeId; id: RequestId; time: number }): void
}

export interface SimOptions<T extends ProtocolTypes, G = undefined> {
  readonly seed: number
  /** A count (ids n1..nN) or the ids themselves. */
  readonly nodes: number | readonly NodeId[]
  readonly protocol: Protocol<T>
  /** Default 'none'. 'swarm' draws a fault schedule from the seed. */
  readonly faults?: FaultsOption
  readonly invariants?: Invariant<T, G> | readonly Invariant<T, G>[]
  /** Initial ghost state; build a fresh one per run. */
  readonly ghost?: G
  readonly record?: Recorder<T, G>
  readonly workload?: Workload<T, G>
  /**
   * Round-trip every message through the protocol's messageCodec, when it has one (default true). Turn
   * off only for bulk runs of a protocol whose codec is tested elsewhere: encoding is a real share of a
   * step's cost, and it is what keeps a sender's later mutations from reaching the receiver.
   */
  readonly encodeMessages?: boolean
  /** Events a failure message shows (default 40). */
  readonly traceSize?: number
  /** Fold message bodies into the trace hash (default false: hash kinds, times, nodes only). */
  readonly hashMessages?: boolean
  /** The replay command in failure messages; default SIM_SEED=<seed> node --test <current file>. */
  readonly replay?: string
  /** Test name for --test-name-pattern in the replay command. */
  readonly testName?: string
}

export interface SimStats {
  seed: number
  steps: number
  /** Virtual ms at the end of the run. */
  time: number
  sent: number
  delivered: number
  droppedLoss: number
  droppedPartition: number
  /** Messages (and deferred inputs) that reached a crashed node. */
  droppedDown: number
  duplicated: number
  /** Deliveries that overtook an earlier message on the same directed link. */
  reordered: number
  timersFired: number
  persists: number
  requests: number
  replies: number
  requestsFailed: number
  effects: number
  crashes: number
  tornCrashes: number
  restarts: number
  pauses: number
  partitions: number
  partitionsByKind: Record<string, number>
  heals: number
  activePeriods: number
  quietPeriods: number
  /** Hash of the whole event trace: equal for equal seeds, the determinism test's witness. */
  traceHash: string
}
