// The local API: HTTP/1.1 over a Unix socket (default /run/blackroad/blackroad.sock), a table of small
// handlers under /v1/. It is the only door the CLI and local agents use, so it must survive anything a
// client sends: bad JSON, unknown fields, wrong types, oversize bodies and browsers (Origin/Referer) get a
// 4xx JSON error, are counted, and the next request is served as usual.

import { promises as fs } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import type { Counter } from 'prom-client'
import type { z } from '../config/zod.js'
import { ApiError } from './errors.js'

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE'

export interface RequestContext<B> {
  body: B
  params: Record<string, string>
  query: URLSearchParams
  req: http.IncomingMessage
  res: http.ServerResponse
}

export interface Route<B = unknown> {
  method: Method
  /** Path under the socket root, e.g. '/v1/status' or '/v1/clusters/:name'. */
  path: string
  /** Schema of the JSON body; when absent the route takes no body. Objects should be strict. */
  body?: z.ZodType<B>
  /** Returns the JSON response (status 200), or handles `res` itself and returns undefined (streaming). */
  handler: (ctx: RequestContext<B>) => Promise<unknown> | unknown
}

export interface ApiServerOptions {
  socketPath: string
  /** File mode of the socket, e.g. 0o660. */
  mode: number
  /** Group that may use the socket; when it does not exist the socket keeps the daemon's group. */
  group?: string
  maxBodyBytes: number
  requestTimeoutMs: number
  logger: Logger
  invalidRequests?: Counter<string>
  requests?: Counter<string>
}

interface CompiledRoute {
  route: Route<unknown>
  segments: string[]
}

/** Takes over a connection upgraded with `Connection: Upgrade` (e.g. the bus stream); owns the socket after. */
export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void

export class ApiServer {
  private readonly routes: CompiledRoute[] = []
  private readonly upgrades = new Map<string, UpgradeHandler>()
  private server: http.Server | null = null
  private readonly sockets = new Set<net.Socket>()

  constructor(private readonly opts: ApiServerOptions) {}

  add<B>(route: Route<B>): this {
    this.routes.push({ route: route as Route<unknown>, segments: route.path.split('/').filter(Boolean) })
    return this
  }

  /** Serves `GET path` with an Upgrade header through `handler` instead of the route table. */
  upgrade(path: string, handler: UpgradeHandler): this {
    this.upgrades.set(path, handler)
    return this
  }

  get socketPath(): string {
    return this.opts.socketPath
  }

  async listen(): Promise<void> {
    const { socketPath } = this.opts
    await fs.mkdir(path.dirname(socketPath), { recursive: true, mode: 0o755 })
    await removeStaleSocket(socketPath)
    const server = http.createServer({ requestTimeout: this.opts.requestTimeoutMs }, (req, res) => {
      this.dispatch(req, res).catch((err) => this.opts.logger.error({ err }, 'api handler crashed'))
    })
    server.headersTimeout = Math.min(this.opts.requestTimeoutMs, 60_000)
    server.keepAliveTimeout = 5_000
    server.on('connection', (s) => {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
    })
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const pathname = new URL(req.url ?? '/', 'http://blackroad.local').pathname
      const handler = this.upgrades.get(pathname)
      let refusal: [number, string, string] | null = null
      if (req.headers.origin !== undefined || req.headers.referer !== undefined)
        refusal = [403, 'FORBIDDEN', 'requests from browsers (Origin/Referer headers) are not accepted']
      else if (handler === undefined || req.method !== 'GET')
        refusal = [404, 'NOT_FOUND', `no upgradable API route: ${req.method} ${pathname}`]
      if (refusal !== null || handler === undefined) {
        const [status, code, message] = refusal ?? [404, 'NOT_FOUND', pathname]
        this.opts.invalidRequests?.inc({ code })
        socket.end(errorResponseBytes(status, code, message))
        return
      }
      this.opts.requests?.inc({ route: pathname, status: '101' })
      try {
        handler(req, socket, head)
      } catch (err) {
        this.opts.logger.error({ err, path: pathname }, 'api upgrade handler crashed')
        socket.destroy()
      }
    })
    server.on('clientError', (err, socket) => {
      this.opts.invalidRequests?.inc({ code: 'BAD_HTTP' })
      if (socket.writable)
        socket.end(errorResponseBytes(400, 'BAD_HTTP', `malformed HTTP request: ${err.message}`))
      else socket.destroy()
    })
    // Create the socket with the final mode from the start: no window where it is world-accessible.
    const oldUmask = process.umask(0o777 & ~this.opts.mode)
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(socketPath, () => {
          server.off('error', reject)
          resolve()
        })
      })
    } finally {
      process.umask(oldUmask)
    }
    await fs.chmod(socketPath, this.opts.mode)
    if (this.opts.group) {
      const gid = await lookupGroup(this.opts.group)
      if (gid === null) {
        this.opts.logger.warn(
          { group: this.opts.group },
          'API socket group does not exist; socket keeps the daemon group',
        )
      } else {
        await fs.chown(socketPath, process.getuid?.() ?? 0, gid)
      }
    }
    this.server = server
  }

  /** Stops accepting, ends idle keep-alive connections, waits for in-flight requests, removes the socket. */
  async close(): Promise<void> {
    const server = this.server
    if (!server) return
    this.server = null
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeIdleConnections()
    const force = setTimeout(() => {
      for (const s of this.sockets) s.destroy()
    }, 2_000)
    await closed
    clearTimeout(force)
    await fs.rm(this.opts.socketPath, { force: true })
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://blackroad.local')
    let routeLabel = 'unmatched'
    try {
      // A browser on the same machine can reach a Unix socket only through a local proxy; requests that carry
      // Origin or Referer are from a browser and never from our client, so they are refused (CSRF defence).
      if (req.headers.origin !== undefined || req.headers.referer !== undefined) {
        throw ApiError.forbidden('requests from browsers (Origin/Referer headers) are not accepted')
      }
      const { route, params } = this.match(req.method ?? 'GET', url.pathname)
      routeLabel = route.path
      const body = await this.readBody(req, route)
      const result = await route.handler({ body, params, query: url.searchParams, req, res })
      this.opts.requests?.inc({ route: routeLabel, status: '200' })
      if (result !== undefined && !res.headersSent) sendJson(res, 200, result)
    } catch (err) {
      const apiErr = toApiError(err)
      if (apiErr.status >= 500) this.opts.logger.error({ err, path: url.pathname }, 'api request failed')
      else this.opts.invalidRequests?.inc({ code: apiErr.code })
      this.opts.requests?.inc({ route: routeLabel, status: String(apiErr.status) })
      if (res.headersSent) {
        res.destroy()
        return
      }
      const headers: Record<string, string> = {}
      const allowed = (apiErr.details as { allowed?: string[] } | undefined)?.allowed
      if (apiErr.status === 405 && allowed) headers.allow = allowed.join(', ')
      // After a body error the rest of the body is unread; close so the connection cannot desynchronise.
      if (apiErr.status === 413 || apiErr.status === 408) headers.connection = 'close'
      sendJson(res, apiErr.status, { error: { code: apiErr.code, message: apiErr.message } }, headers)
    }
  }

  private match(method: string, pathname: string): { route: Route<unknown>; params: Record<string, string> } {
    const parts = pathname.split('/').filter(Boolean)
    const allowed: string[] = []
    for (const { route, segments } of this.routes) {
      const params = matchSegments(segments, parts)
      if (!params) continue
      if (route.method === method) return { route, params }
      allowed.push(route.method)
    }
    if (allowed.length > 0) throw ApiError.methodNotAllowed(method, pathname, allowed)
    throw ApiError.notFound(pathname)
  }

  private async readBody(req: http.IncomingMessage, route: Route<unknown>): Promise<unknown> {
    const limit = this.opts.maxBodyBytes
    const declared = Number(req.headers['content-length'] ?? '0')
    if (declared > limit) throw ApiError.tooLarge(limit)
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > limit) throw ApiError.tooLarge(limit)
      chunks.push(chunk)
    }
    if (!route.body) {
      if (size > 0) throw ApiError.invalid(`${route.method} ${route.path} takes no request body`)
      return undefined
    }
    const type = String(req.headers['content-type'] ?? 'application/json')
    if (size > 0 && !/^application\/json\b/i.test(type)) throw ApiError.unsupportedMediaType(type)
    let parsed: unknown = {}
    if (size > 0) {
      try {
        parsed = JSON.parse(Buffer.concat(chunks, size).toString('utf8'))
      } catch (err) {
        throw ApiError.badJson((err as Error).message)
      }
    }
    const result = route.body.safeParse(parsed)
    if (!result.success) throw zodToApiError(result.error)
    return result.data
  }
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null
  const params: Record<string, string> = {}
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!
    const v = parts[i]!
    if (p.startsWith(':')) {
      try {
        params[p.slice(1)] = decodeURIComponent(v)
      } catch {
        return null
      }
    } else if (p !== v) return null
  }
  return params
}

interface ZodIssueLike {
  code: string
  path: PropertyKey[]
  message: string
  keys?: string[]
  expected?: string
}

export function zodToApiError(error: { issues: ZodIssueLike[] }): ApiError {
  const issue = error.issues[0]
  if (!issue) return ApiError.invalid('invalid request body')
  const where = issue.path.length > 0 ? issue.path.map(String).join('.') : 'body'
  if (issue.code === 'unrecognized_keys' && issue.keys?.[0]) {
    const prefix = issue.path.length > 0 ? `${where}.` : ''
    return ApiError.unknownField(prefix + issue.keys[0])
  }
  return ApiError.invalid(`${where}: ${issue.message}`, {
    issues: error.issues.map((i) => ({ ...i, path: i.path.map(String) })),
  })
}

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err
  const code = (err as { code?: unknown }).code
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ECONNRESET') return ApiError.timeout()
  return new ApiError(500, 'INTERNAL', 'internal error; see the daemon log')
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const data = Buffer.from(`${JSON.stringify(body)}\n`)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(data.length),
    ...headers,
  })
  res.end(data)
}

function errorResponseBytes(status: number, code: string, message: string): string {
  const body = `${JSON.stringify({ error: { code, message } })}\n`
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
}

/** A socket file left by a crashed daemon blocks listen(); remove it only if nobody answers on it. */
async function removeStaleSocket(socketPath: string): Promise<void> {
  try {
    await fs.lstat(socketPath)
  } catch {
    return
  }
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.connect(socketPath)
    c.once('connect', () => {
      c.destroy()
      resolve(true)
    })
    c.once('error', () => resolve(false))
  })
  if (alive) {
    throw Object.assign(new Error(`another daemon is already listening on ${socketPath}`), {
      code: 'API_SOCKET_IN_USE',
    })
  }
  await fs.rm(socketPath, { force: true })
}

async function lookupGroup(name: string): Promise<number | null> {
  if (/^\d+$/.test(name)) return Number(name)
  let text: string
  try {
    text = await fs.readFile('/etc/group', 'utf8')
  } catch {
    return null
  }
  for (const line of text.split('\n')) {
    const [gname, , gid] = line.split(':')
    if (gname === name && gid !== undefined) return Number(gid)
  }
  return null
}
