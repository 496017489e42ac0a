// Agents and the bus stream on this node: the agent directory, the upgraded stream connections of the local
// socket (one StreamSession each), and the API routes around them — `GET /v1/agents`, `POST /v1/bus/send`
// (a direct message to an agent from plain HTTP) and `GET /v1/bus/sessions` (connections and their counters).
// The daemon creates one, gives its routes and upgrade handler to the API server, and closes it on stop.

import type http from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Registry } from 'prom-client'
import { ApiError } from '../api/errors.js'
import type { Route } from '../api/server.js'
import { BusError, type BusRouter } from '../bus/index.js'
import { z } from '../config/zod.js'
import { AgentDirectory, type AgentView } from './directory.js'
import { PROTOCOL } from './frames.js'
import { StreamMetrics } from './metrics.js'
import { DEFAULT_SESSION_LIMITS, type SessionLimits, StreamSession } from './session.js'

export interface AgentsNodeOptions {
  bus: BusRouter
  /** The mesh DNS domain, for `<agent>.agents.<domain>`. */
  domain: string
  registry?: Registry
  limits?: Partial<SessionLimits>
  maxSessions?: number
  /** The cluster a node is in, from its certificate (for `?cluster=`); undefined when unknown. */
  clusterOf?: (node: string) => string | undefined
}

/**
 * GET /v1/agents filters: `type`, and `cluster` — agents on nodes whose certificate names that cluster (an
 * agent of a node whose certificate this router does not hold is left out).
 */
export function filterAgents(
  list: AgentView[],
  f: { type: string | null; cluster: string | null },
  clusterOf: (node: string) => string | undefined = () => undefined,
): AgentView[] {
  return list.filter(
    (a) => (f.type === null || a.type === f.type) && (f.cluster === null || clusterOf(a.node) === f.cluster),
  )
}

const BUS_STATUS: Record<string, number> = {
  INVALID_SUBJECT: 400,
  INVALID_ADDRESS: 400,
  INVALID_OPTIONS: 400,
  TOO_LARGE: 413,
  POLICY_DENIED: 403,
  NO_RESPONDERS: 404,
  NO_ROUTE: 404,
  TIMEOUT: 504,
  BACKPRESSURE: 503,
  QUEUE_FULL: 503,
  LIMIT: 503,
  CLOSED: 503,
}

export class AgentsNode {
  readonly directory: AgentDirectory
  readonly metrics: StreamMetrics
  private readonly sessions = new Map<number, StreamSession>()
  private readonly limits: SessionLimits
  private readonly maxSessions: number
  private nextId = 1
  private closed = false
  private changeListeners: Array<() => void> = []
  private signature = ''
  private readonly timer: NodeJS.Timeout

  constructor(private readonly opts: AgentsNodeOptions) {
    // Local changes are seen at once; other nodes' announcements arrive with the interest flood, polled.
    this.directory = new AgentDirectory(opts.bus, Date.now, () => queueMicrotask(() => this.check()))
    this.timer = setInterval(() => this.check(), 2000)
    this.timer.unref()
    this.metrics = new StreamMetrics(opts.registry, () => this.directory.size)
    this.limits = { ...DEFAULT_SESSION_LIMITS, ...opts.limits }
    // Sends waiting on a full link beyond the bus's bound fail with QUEUE_FULL; stop reading well before that.
    this.limits.maxInFlight = Math.max(
      1,
      Math.min(this.limits.maxInFlight, opts.bus.limits.maxBlockedSends >> 2),
    )
    this.maxSessions = opts.maxSessions ?? 1024
  }

  dnsName(agent: string): string {
    return `${agent}.agents.${this.opts.domain}`
  }

  /** Called when local agents come or go (the DNS zone follows). */
  onChange(cb: () => void): void {
    this.changeListeners.push(cb)
  }

  /** The API server's upgrade handler for STREAM_PATH. */
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const proto = String(req.headers.upgrade ?? '').toLowerCase()
    if (proto !== PROTOCOL) {
      refuse(socket, 400, 'BAD_UPGRADE', `upgrade to ${PROTOCOL}, not "${req.headers.upgrade ?? ''}"`)
      return
    }
    if (this.closed || this.sessions.size >= this.maxSessions) {
      refuse(socket, 503, 'LIMIT', `at most ${this.maxSessions} stream connections`)
      return
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: ${PROTOCOL}\r\nconnection: Upgrade\r\n\r\n`)
    const s = socket as Socket
    s.setNoDelay?.(true)
    const id = this.nextId++
    const session = new StreamSession(id, s, {
      bus: this.opts.bus,
      directory: this.directory,
      metrics: this.metrics,
      limits: this.limits,
      dnsName: (a) => this.dnsName(a),
      now: Date.now,
    })
    this.sessions.set(id, session)
    s.on('close', () => this.sessions.delete(id))
    if (head.length > 0) session.data(head)
  }

  /** Tells listeners when the set of agents (local, or announced by other nodes) differs from last time. */
  private check(): void {
    const sig = this.directory
      .list()
      .map((a) => `${a.address}:${a.type}`)
      .join(',')
    if (sig === this.signature) return
    this.signature = sig
    for (const cb of this.changeListeners) cb()
  }

  routes(): Route<unknown>[] {
    const sendBody = z.strictObject({
      to: z.string().min(1).max(200),
      subject: z.string().max(256).optional(),
      data: z
        .string()
        .max(16 * 1024 * 1024)
        .optional(),
      encoding: z.enum(['utf8', 'base64']).optional(),
    })
    return [
      {
        method: 'GET',
        path: '/v1/agents',
        handler: ({ query }) =>
          filterAgents(
            this.directory.list(),
            { type: query.get('type'), cluster: query.get('cluster') },
            this.opts.clusterOf,
          ),
      },
      {
        method: 'GET',
        path: '/v1/bus/sessions',
        handler: () => ({
          counters: { ...this.metrics.totals },
          sessions: [...this.sessions.values()].map((s) => s.view()),
        }),
      },
      {
        method: 'POST',
        path: '/v1/bus/send',
        body: sendBody,
        handler: async ({ body }) => {
          const b = body as z.infer<typeof sendBody>
          try {
            const to = this.directory.resolve(b.to)
            await this.opts.bus.send(to, Buffer.from(b.data ?? '', b.encoding ?? 'utf8'), {
              subject: b.subject || undefined,
              reliable: true,
            })
            return { ok: true, node: to.node, agent: to.agent }
          } catch (err) {
            throw toApiError(err)
          }
        },
      } as Route<unknown>,
    ]
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.timer)
    for (const s of this.sessions.values()) s.close()
    this.sessions.clear()
    this.directory.close()
  }
}

export function toApiError(err: unknown): unknown {
  if (!(err instanceof BusError)) return err
  const code = err.code === 'NO_RESPONDERS' ? 'UNKNOWN_AGENT' : err.code
  return new ApiError(BUS_STATUS[err.code] ?? 500, code, err.message)
}

function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = `${JSON.stringify({ error: { code, message } })}\n`
  socket.end(
    `HTTP/1.1 ${status} ${status === 400 ? 'Bad Request' : 'Service Unavailable'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  )
}
