// Federated events (the guide's FederatedEventBus): an event has an id, a type, a scope and the cluster
// and region it comes from, and reaches the subscribers of every node in its scope exactly once:
//   local    -> nodes of the source's cluster
//   regional -> nodes of clusters in the source's region
//   global   -> every node of the federation
// It rides the message bus: an event is one bus publish on the subject `_events.<type>`, so subscribers'
// patterns are the bus's subject patterns (`deploy.*`, `deploy.>`) and the bus's interest flooding sends
// each event only towards nodes with a matching subscriber. The scope is applied twice: by the origin, which
// fans out only to subscribing nodes inside the scope (their cluster and region from their certificates),
// and by every receiver, which drops an event whose verified source is outside its scope (a node cannot widen
// a scope by lying). Events are deduplicated by id at each router (a client retrying a publish with the same
// id, the same event arriving twice), in a bounded window.
//
// This file is the pure part: the codec, scope rules, id checks and dedup, with time and randomness passed
// in. The daemon's EventsNode (src/daemon/events-node.ts) is the I/O edge. No timers and nothing durable,
// so it does not need the full Machine contract of protocols/core.

import {
  type Codec,
  DecodeError,
  decodeWith,
  encodeWith,
  type Reader,
  type Writer,
} from '../../wire/index.js'
import type { Rng } from '../core/index.js'

export type EventScope = 'local' | 'regional' | 'global'
export const EVENT_SCOPES: readonly EventScope[] = ['local', 'regional', 'global']

/** Bus subjects of events start with this token; the rest is the event type. */
export const EVENT_SUBJECT_PREFIX = '_events'
export const MAX_EVENT_TYPE_BYTES = 200
export const MAX_EVENT_ID_BYTES = 64
export const MAX_EVENT_DATA_BYTES = 512 * 1024
const MAX_NAME = 253

export interface FederatedEvent {
  id: string
  type: string
  scope: EventScope
  sourceNode: string
  sourceCluster: string
  sourceRegion: string
  /** ms since the Unix epoch on the source's clock. */
  timestamp: number
  /** The event's data as JSON text. */
  data: string
}

export interface NodePlace {
  cluster: string
  region: string
}

export class EventError extends Error {
  override readonly name = 'EventError'
  constructor(
    readonly code: 'INVALID_EVENT' | 'INVALID_PATTERN',
    message: string,
  ) {
    super(message)
  }
}

const TOKEN = /^[A-Za-z0-9_-]+$/
const ID = /^[A-Za-z0-9._:-]+$/

/** Null when `type` is a valid event type (dot-separated tokens of letters, digits, '_' and '-'). */
export function eventTypeProblem(type: string): string | null {
  if (typeof type !== 'string' || type.length === 0) return 'the event type is empty'
  if (type.length > MAX_EVENT_TYPE_BYTES)
    return `the event type is longer than ${MAX_EVENT_TYPE_BYTES} characters`
  const tokens = type.split('.')
  if (tokens.length > 16) return 'the event type has more than 16 dot-separated parts'
  for (const t of tokens)
    if (!TOKEN.test(t))
      return `"${type}": each dot-separated part must be letters, digits, '_' or '-' (and not empty)`
  return null
}

/**
 * The bus pattern for a subscription to event types matching `pattern`: the event type grammar, where a
 * part may be `*` (exactly one part) and the last part may be `>` (one or more parts).
 */
export function subscriptionSubject(pattern: string): string {
  if (typeof pattern !== 'string' || pattern.length === 0)
    throw new EventError('INVALID_PATTERN', 'the event pattern is empty')
  if (pattern.length > MAX_EVENT_TYPE_BYTES)
    throw new EventError(
      'INVALID_PATTERN',
      `the event pattern is longer than ${MAX_EVENT_TYPE_BYTES} characters`,
    )
  const tokens = pattern.split('.')
  tokens.forEach((t, i) => {
    if (t === '*' || (t === '>' && i === tokens.length - 1)) return
    if (!TOKEN.test(t))
      throw new EventError(
        'INVALID_PATTERN',
        `"${pattern}": each part must be letters, digits, '_' or '-', or '*', or '>' as the last part`,
      )
  })
  return `${EVENT_SUBJECT_PREFIX}.${pattern}`
}

export function eventSubject(type: string): string {
  return `${EVENT_SUBJECT_PREFIX}.${type}`
}

/** Whether a node at `target` is inside the scope of an event from `source`. */
export function inScope(scope: EventScope, source: NodePlace, target: NodePlace): boolean {
  if (scope === 'global') return true
  if (scope === 'regional') return source.region !== '' && source.region === target.region
  return source.cluster !== '' && source.cluster === target.cluster
}

// ---- wire format ---------------------------------------------------------------------------------------
//   u8 version (1) | string id | string type | u8 scope (0 local, 1 regional, 2 global)
//   | string source node | string source cluster | string source region | varint timestamp | string data
const VERSION = 1

export const eventCodec: Codec<FederatedEvent> = {
  encode(w: Writer, e: FederatedEvent) {
    w.u8(VERSION)
      .string(e.id)
      .string(e.type)
      .u8(EVENT_SCOPES.indexOf(e.scope))
      .string(e.sourceNode)
      .string(e.sourceCluster)
      .string(e.sourceRegion)
      .varint(e.timestamp)
      .string(e.data)
  },
  decode(r: Reader): FederatedEvent {
    const version = r.u8()
    if (version !== VERSION) throw new DecodeError('unsupported-version', `event: unknown version ${version}`)
    const id = r.string(MAX_EVENT_ID_BYTES)
    const type = r.string(MAX_EVENT_TYPE_BYTES)
    const scopeIndex = r.u8()
    const scope = EVENT_SCOPES[scopeIndex]
    if (scope === undefined) throw new DecodeError('unknown-tag', `event: unknown scope ${scopeIndex}`)
    const sourceNode = r.string(MAX_NAME)
    const sourceCluster = r.string(MAX_NAME)
    const sourceRegion = r.string(MAX_NAME)
    const timestamp = r.varint()
    const data = r.string(MAX_EVENT_DATA_BYTES)
    if (!ID.test(id)) throw new DecodeError('invalid-value', 'event: bad id')
    const problem = eventTypeProblem(type)
    if (problem !== null) throw new DecodeError('invalid-value', `event: ${problem}`)
    return { id, type, scope, sourceNode, sourceCluster, sourceRegion, timestamp, data }
  },
}

export function encodeEvent(e: FederatedEvent): Uint8Array {
  return encodeWith(eventCodec, e, 64 + e.data.length)
}

export function decodeEvent(bytes: Uint8Array): FederatedEvent {
  return decodeWith(eventCodec, bytes)
}

// ---- dedup -----------------------------------------------------------------------------------------------

/** Ids seen within `windowMs`, at most `capacity` of them (the oldest go first). */
export class IdWindow {
  private readonly seen = new Map<string, number>()

  constructor(
    readonly capacity: number,
    readonly windowMs: number,
  ) {}

  get size(): number {
    return this.seen.size
  }

  /** True when `id` was seen within the window; otherwise records it and returns false. */
  check(id: string, now: number): boolean {
    this.expire(now)
    if (this.seen.has(id)) return true
    if (this.seen.size >= this.capacity) {
      const oldest = this.seen.keys().next().value
      if (oldest !== undefined) this.seen.delete(oldest)
    }
    this.seen.set(id, now)
    return false
  }

  private expire(now: number): void {
    for (const [id, at] of this.seen) {
      if (now - at <= this.windowMs) break
      this.seen.delete(id)
    }
  }
}

// ---- the protocol's two steps --------------------------------------------------------------------------

export interface PublishInput {
  type: string
  scope: EventScope
  /** JSON text. */
  data: string
  /** A caller-chosen id makes a retried publish idempotent; default: 128 random bits. */
  id?: string
}

export type PublishResult =
  | {
      duplicate: false
      event: FederatedEvent
      subject: string
      payload: Uint8Array
      /** Which nodes (by their place; undefined = unknown node) the origin may send the event to. */
      reaches: (place: NodePlace | undefined) => boolean
    }
  | { duplicate: true; event: FederatedEvent }

export type DropReason = 'malformed' | 'duplicate' | 'out_of_scope' | 'forged'
export type ReceiveResult = { deliver: FederatedEvent } | { drop: DropReason; detail: string }

export interface FederatedEventsOptions {
  dedupCapacity?: number
  dedupWindowMs?: number
}

export class FederatedEvents {
  private readonly seen: IdWindow
  private readonly published: IdWindow
  private readonly recent = new Map<string, FederatedEvent>()

  constructor(
    /** This node: its id and the cluster and region its certificate names. */
    public self: NodePlace & { node: string },
    opts: FederatedEventsOptions = {},
  ) {
    this.seen = new IdWindow(opts.dedupCapacity ?? 65_536, opts.dedupWindowMs ?? 10 * 60_000)
    this.published = new IdWindow(opts.dedupCapacity ?? 65_536, opts.dedupWindowMs ?? 10 * 60_000)
  }

  /** A local client's publish: checks it and builds the event and its bus message. */
  publish(input: PublishInput, now: number, rng: Rng): PublishResult {
    const problem = eventTypeProblem(input.type)
    if (problem !== null) throw new EventError('INVALID_EVENT', problem)
    if (!EVENT_SCOPES.includes(input.scope))
      throw new EventError(
        'INVALID_EVENT',
        `scope must be local, regional or global, got "${String(input.scope)}"`,
      )
    if (input.data.length > MAX_EVENT_DATA_BYTES)
      throw new EventError('INVALID_EVENT', `data is larger than ${MAX_EVENT_DATA_BYTES} bytes`)
    const id = input.id ?? hex(rng.bytes(16))
    if (id.length === 0 || id.length > MAX_EVENT_ID_BYTES || !ID.test(id))
      throw new EventError(
        'INVALID_EVENT',
        `id must be 1..${MAX_EVENT_ID_BYTES} of letters, digits, '.', '_', ':' or '-'`,
      )
    if (this.self.cluster === '' && input.scope !== 'global')
      throw new EventError(
        'INVALID_EVENT',
        `this node has no cluster, so a ${input.scope} event has no scope to reach`,
      )
    if (this.self.region === '' && input.scope === 'regional')
      throw new EventError(
        'INVALID_EVENT',
        'this node has no region, so a regional event has no scope to reach',
      )
    if (this.published.check(id, now)) {
      const held = this.recent.get(id)
      return { duplicate: true, event: held ?? this.build(id, input, now) }
    }
    const event = this.build(id, input, now)
    this.remember(event)
    const self = this.self
    return {
      duplicate: false,
      event,
      subject: eventSubject(event.type),
      payload: encodeEvent(event),
      reaches: (place) => place !== undefined && inScope(event.scope, self, place),
    }
  }

  /**
   * An event message from the bus (sent by `sender`, whose place is what its certificate says, undefined
   * when unknown). Decides whether local subscribers get it.
   */
  receive(
    payload: Uint8Array,
    sender: string,
    senderPlace: NodePlace | undefined,
    now: number,
  ): ReceiveResult {
    let event: FederatedEvent
    try {
      event = decodeEvent(payload)
    } catch (err) {
      if (err instanceof DecodeError) return { drop: 'malformed', detail: err.message }
      throw err
    }
    if (event.sourceNode !== sender)
      return {
        drop: 'forged',
        detail: `event ${event.id} claims node ${event.sourceNode} but came from ${sender}`,
      }
    if (
      senderPlace === undefined ||
      senderPlace.cluster !== event.sourceCluster ||
      senderPlace.region !== event.sourceRegion
    )
      return {
        drop: 'forged',
        detail: `event ${event.id} claims ${event.sourceCluster}/${event.sourceRegion}, the sender's certificate says otherwise`,
      }
    if (!inScope(event.scope, senderPlace, this.self))
      return { drop: 'out_of_scope', detail: `${event.scope} event ${event.id} from ${event.sourceCluster}` }
    if (this.seen.check(event.id, now)) return { drop: 'duplicate', detail: event.id }
    return { deliver: event }
  }

  private build(id: string, input: PublishInput, now: number): FederatedEvent {
    return {
      id,
      type: input.type,
      scope: input.scope,
      sourceNode: this.self.node,
      sourceCluster: this.self.cluster,
      sourceRegion: this.self.region,
      timestamp: Math.floor(now),
      data: input.data,
    }
  }

  private remember(e: FederatedEvent): void {
    // Only the last few, to answer an idempotent retry with the original event.
    if (this.recent.size >= 1024) {
      const oldest = this.recent.keys().next().value
      if (oldest !== undefined) this.recent.delete(oldest)
    }
    this.recent.set(e.id, e)
  }
}

function hex(b: Uint8Array): string {
  let s = ''
  for (const x of b) s += x.toString(16).padStart(2, '0')
  return s
}
