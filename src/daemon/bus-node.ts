// The message bus of this node: one BusRouter, fed by the peer links' 'bus' channel and routed along the
// routing plan's next hops, and the local API's messaging routes (publish, request, streaming subscribe) on
// top of it. Without a mesh (standalone node) the bus still carries local publish/subscribe.

import type http from 'node:http'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { ApiError } from '../api/errors.js'
import { openNdjson, writeNdjson } from '../api/ndjson.js'
import type { Route } from '../api/server.js'
import { BusError, BusRouter, type Envelope, type PolicyHook } from '../bus/index.js'
import { z } from '../config/zod.js'
import { upPeers } from '../routing/index.js'
import type { PeerLink } from '../transport/index.js'
import type { NetworkCore } from './network.js'

export interface BusMessageView {
  subject: string
  from_node: string
  from_agent: string
  data: string
  encoding: 'utf8' | 'base64'
  timestamp: number
}

export function messageView(m: Envelope): BusMessageView {
  const buf = Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength)
  const text = buf.toString('utf8')
  const clean = Buffer.from(text, 'utf8').equals(buf)
  return {
    subject: m.subject,
    from_node: m.srcNode,
    from_agent: m.srcAgent,
    data: clean ? text : buf.toString('base64'),
    encoding: clean ? 'utf8' : 'base64',
    timestamp: m.timestamp,
  }
}

export class BusNode {
  readonly bus: BusRouter
  private nextHops = new Map<string, string>()

  constructor(
    nodeId: string,
    registry: Registry,
    private readonly log: Logger,
    policy?: PolicyHook,
    private readonly onStreamDrop?: () => void,
  ) {
    this.bus = new BusRouter({ nodeId, registry, policy, nextHop: (n) => this.nextHops.get(n) ?? null })
  }

  /** Connects the bus to the mesh: every peer link's 'bus' channel, next hops from each new routing plan. */
  attach(net: NetworkCore): void {
    const links = net.links
    if (!links) return
    const add = (peer: string, link: PeerLink) => {
      this.bus.addLink({
        peerId: peer,
        send: (frame) => link.send('bus', frame),
        sendWith: (n, room, fill) => link.sendWith('bus', n, room, fill),
        onDrain: (cb) => link.on('drain', cb),
      })
      link.on('message', (channel, payload) => {
        if (channel === 'bus') this.bus.receive(peer, payload)
      })
    }
    for (const peer of links.peers()) {
      const l = links.get(peer)
      if (l) add(peer, l)
    }
    links.on('link-up', add)
    links.on('link-down', (peer) => this.bus.removeLink(peer))
    // Asked only when an interest record arrives from its own node (each refresh), straight from the records.
    this.bus.setDirectLinks((node) => {
      const held = net.routing.lsdb.get(node)
      return held ? upPeers(held.record) : undefined
    })
    // The plan in force now, then every new one: links (and so routes) can come up before the bus attaches (the
    // network starts discovery while its WireGuard interface comes up), and a stable mesh sends no new plan.
    const take = (plan: NetworkCore['routing']['plan']) => {
      this.nextHops = new Map(plan.routes.map((r) => [r.destination, r.nextHop]))
      this.bus.setKnownNodes(plan.routes.map((r) => r.destination))
    }
    take(net.routing.plan)
    net.routing.on('plan', take)
  }

  close(): void {
    this.bus.close()
  }

  routes(): Route<unknown>[] {
    const data = z.string().max(16 * 1024 * 1024)
    const encoding = z.enum(['utf8', 'base64']).optional()
    const publishBody = z.strictObject({
      subject: z.string().min(1),
      data: data.optional(),
      encoding,
      priority: z.number().int().min(1).max(10).optional(),
      reliable: z.boolean().optional(),
    })
    const requestBody = z.strictObject({
      subject: z.string().min(1),
      data: data.optional(),
      encoding,
      timeout_ms: z.number().int().min(1).max(300_000).optional(),
    })
    const payloadOf = (b: { data?: string; encoding?: 'utf8' | 'base64' }) =>
      Buffer.from(b.data ?? '', b.encoding ?? 'utf8')
    return [
      {
        method: 'POST',
        path: '/v1/bus/publish',
        body: publishBody,
        handler: async ({ body }) => {
          const b = body as z.infer<typeof publishBody>
          await busCall(() =>
            this.bus.publish(b.subject, payloadOf(b), { priority: b.priority, reliable: b.reliable }),
          )
          return { ok: true }
        },
      } as Route<unknown>,
      {
        method: 'POST',
        path: '/v1/bus/request',
        body: requestBody,
        handler: async ({ body }) => {
          const b = body as z.infer<typeof requestBody>
          const reply = await busCall(() =>
            this.bus.request(b.subject, payloadOf(b), { timeoutMs: b.timeout_ms ?? 5000 }),
          )
          return messageView(reply)
        },
      } as Route<unknown>,
      {
        method: 'GET',
        path: '/v1/bus/subscribe',
        handler: ({ query, req, res }) => this.stream(query.get('subject'), req, res),
      },
    ]
  }

  /** NDJSON stream of the messages on a subject until the client disconnects. */
  private stream(subject: string | null, req: http.IncomingMessage, res: http.ServerResponse): undefined {
    if (!subject) throw ApiError.invalid('query parameter "subject" is required')
    let sub: { unsubscribe(): void }
    try {
      sub = this.bus.subscribe(subject, (m) => {
        if (!writeNdjson(res, messageView(m))) this.onStreamDrop?.()
      })
    } catch (err) {
      throw toApiError(err)
    }
    openNdjson(req, res, () => sub.unsubscribe())
    this.log.debug({ subject }, 'bus subscription opened over the API')
    return undefined
  }
}

async function busCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw toApiError(err)
  }
}

export function toApiError(err: unknown): ApiError {
  if (!(err instanceof BusError)) return err as ApiError
  const status: Record<string, number> = {
    INVALID_SUBJECT: 400,
    INVALID_ADDRESS: 400,
    INVALID_OPTIONS: 400,
    TOO_LARGE: 413,
    POLICY_DENIED: 403,
    RATE_LIMITED: 429,
    NO_RESPONDERS: 404,
    NO_ROUTE: 404,
    TIMEOUT: 504,
    BACKPRESSURE: 503,
    QUEUE_FULL: 503,
    CLOSED: 503,
  }
  return new ApiError(status[err.code] ?? 500, err.code, err.message)
}
