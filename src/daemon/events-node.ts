// Federated events on this node: the I/O edge of protocols/events. Publishes go out as bus publishes fanned
// out only to nodes inside the event's scope (their cluster and region from the certificate book); events
// arriving from the bus are checked (source, scope, duplicate id) once per message and streamed to the local
// API's subscribers as NDJSON. Routes: POST /v1/events, GET /v1/events/subscribe?pattern=<type pattern>.

import type http from 'node:http'
import type { Logger } from 'pino'
import { Counter, type Registry } from 'prom-client'
import { ApiError } from '../api/errors.js'
import { openNdjson, writeNdjson } from '../api/ndjson.js'
import type { Route } from '../api/server.js'
import { type BusRouter, type Envelope, systemRng } from '../bus/index.js'
import type { EventView } from '../client/types.js'
import type { Config } from '../config/index.js'
import { z } from '../config/zod.js'
import {
  EVENT_SCOPES,
  EventError,
  type FederatedEvent,
  FederatedEvents,
  type NodePlace,
  type ReceiveResult,
  subscriptionSubject,
} from '../protocols/events/index.js'
import { toApiError } from './bus-node.js'
import type { NetworkCore } from './network.js'

/** Messages a local API stream (bus or events subscription) dropped because its reader fell behind. */
export function streamDropCounter(registry: Registry): Counter<'stream'> {
  return new Counter({
    name: 'blackroad_api_stream_dropped_total',
    help: 'Messages not written to a local API stream (bus or events subscription) because its reader fell 8 MiB behind',
    labelNames: ['stream'],
    registers: [registry],
  })
}

export function eventView(e: FederatedEvent): EventView {
  let data: unknown
  try {
    data = JSON.parse(e.data)
  } catch {
    data = e.data
  }
  return {
    id: e.id,
    type: e.type,
    scope: e.scope,
    source_node: e.sourceNode,
    source_cluster: e.sourceCluster,
    source_region: e.sourceRegion,
    timestamp: new Date(e.timestamp).toISOString(),
    data,
  }
}

export class EventsNode {
  private readonly machine: FederatedEvents
  private directory: (node: string) => NodePlace | undefined
  private lastEnv: Envelope | null = null
  private lastResult: ReceiveResult | null = null
  private readonly counters: {
    published: Counter<'scope'>
    delivered: Counter<'scope'>
    dropped: Counter<'reason'>
  }

  constructor(
    private readonly bus: BusRouter,
    config: Config,
    private readonly nodeId: string,
    registry: Registry,
    private readonly log: Logger,
    private readonly streamDrops?: Counter<'stream'>,
  ) {
    const self = { node: nodeId, cluster: config.cluster.name ?? '', region: config.cluster.region ?? '' }
    this.machine = new FederatedEvents(self)
    this.directory = (id) => (id === nodeId ? this.machine.self : undefined)
    this.counters = {
      published: new Counter({
        name: 'blackroad_events_published_total',
        help: 'Federated events published through this node, by scope',
        labelNames: ['scope'],
        registers: [registry],
      }),
      delivered: new Counter({
        name: 'blackroad_events_delivered_total',
        help: 'Federated events accepted for this node’s subscribers (once per event, whatever the subscriber count), by scope',
        labelNames: ['scope'],
        registers: [registry],
      }),
      dropped: new Counter({
        name: 'blackroad_events_dropped_total',
        help: 'Federated events dropped here, by reason (malformed, duplicate, out_of_scope, forged, slow_subscriber)',
        labelNames: ['reason'],
        registers: [registry],
      }),
    }
  }

  /** In a mesh, this node's place and every other node's come from verified certificates. */
  attach(net: NetworkCore): void {
    const own = net.certificate
    this.machine.self = { node: this.nodeId, cluster: own.cluster, region: own.region }
    this.directory = (id) => {
      if (id === this.nodeId) return this.machine.self
      const c = net.certs.get(id)
      return c === undefined ? undefined : { cluster: c.cluster, region: c.region }
    }
  }

  async publish(req: {
    type: string
    scope: string
    data?: unknown
    id?: string
  }): Promise<EventView & { duplicate: boolean }> {
    let r: ReturnType<FederatedEvents['publish']>
    try {
      r = this.machine.publish(
        {
          type: req.type,
          scope: req.scope as FederatedEvent['scope'],
          data: JSON.stringify(req.data ?? null),
          id: req.id,
        },
        Date.now(),
        systemRng,
      )
    } catch (err) {
      if (err instanceof EventError) throw new ApiError(400, err.code, err.message)
      throw err
    }
    if (!r.duplicate) {
      const reaches = r.reaches
      try {
        await this.bus.publish(r.subject, r.payload, { only: (node) => reaches(this.directory(node)) })
      } catch (err) {
        throw toApiError(err)
      }
      this.counters.published.inc({ scope: r.event.scope })
    }
    return { ...eventView(r.event), duplicate: r.duplicate }
  }

  routes(): Route<unknown>[] {
    const body = z.strictObject({
      type: z.string().min(1).max(200),
      scope: z.enum(EVENT_SCOPES as [string, ...string[]]).optional(),
      data: z.unknown().optional(),
      id: z.string().min(1).max(64).optional(),
    })
    return [
      {
        method: 'POST',
        path: '/v1/events',
        body,
        handler: ({ body: b }) => {
          const e = b as z.infer<typeof body>
          return this.publish({ type: e.type, scope: e.scope ?? 'local', data: e.data, id: e.id })
        },
      } as Route<unknown>,
      {
        method: 'GET',
        path: '/v1/events/subscribe',
        handler: ({ query, req, res }) => this.stream(query.get('pattern'), req, res),
      },
    ]
  }

  /** Judges a bus message once, however many local subscriptions it matches (the bus hands them the same object). */
  private judge(env: Envelope): ReceiveResult {
    if (env === this.lastEnv && this.lastResult !== null) return this.lastResult
    const r = this.machine.receive(env.payload, env.srcNode, this.directory(env.srcNode), Date.now())
    if ('deliver' in r) this.counters.delivered.inc({ scope: r.deliver.scope })
    else {
      this.counters.dropped.inc({ reason: r.drop })
      if (r.drop !== 'duplicate') this.log.debug({ reason: r.drop, detail: r.detail }, 'event dropped')
    }
    this.lastEnv = env
    this.lastResult = r
    return r
  }

  private stream(pattern: string | null, req: http.IncomingMessage, res: http.ServerResponse): undefined {
    if (!pattern)
      throw ApiError.invalid('query parameter "pattern" is required (an event type pattern, e.g. deploy.>)')
    let subject: string
    try {
      subject = subscriptionSubject(pattern)
    } catch (err) {
      if (err instanceof EventError) throw new ApiError(400, err.code, err.message)
      throw err
    }
    let sub: { unsubscribe(): void }
    try {
      sub = this.bus.subscribe(subject, (env) => {
        const r = this.judge(env)
        if (!('deliver' in r)) return
        if (!writeNdjson(res, eventView(r.deliver))) {
          this.counters.dropped.inc({ reason: 'slow_subscriber' })
          this.streamDrops?.inc({ stream: 'events' })
        }
      })
    } catch (err) {
      throw toApiError(err)
    }
    openNdjson(req, res, () => sub.unsubscribe())
    return undefined
  }
}
