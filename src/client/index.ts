// The typed client for the daemon's local API (HTTP/1.1 over a Unix socket). The CLI uses nothing else to
// talk to the daemon, and agents import it. Failures are ClientErrors with stable codes: the daemon's own
// codes for API errors, and DAEMON_NOT_RUNNING / PERMISSION_DENIED / TIMEOUT / BAD_RESPONSE for transport.

import http from 'node:http'
import type {
  AddClusterRequest,
  ApplyPolicyRequest,
  ClusterView,
  ControlStatusResponse,
  FederationJoinRequest,
  FederationJoinResponse,
  FederationStatusResponse,
  ListClustersResponse,
  NonceView,
  PolicyListResponse,
  PolicyView,
  ReconfigureResponse,
  RegistryView,
  RevokeNodeRequest,
  RevokeNodeResponse,
} from './control-types.js'
import { BusStream, type StreamOptions } from './stream.js'
import type {
  AgentInfo,
  AgentSendRequest,
  BusMessage,
  BusRequest,
  CreateClusterRequest,
  CreateClusterResponse,
  EventView,
  FederationInfo,
  FederationInitRequest,
  KeysResponse,
  NetworkStatus,
  PeerInfo,
  PublishEventRequest,
  PublishRequest,
  RotateKeysResponse,
  RouteInfo,
  StatusResponse,
} from './types.js'

export * from './control-types.js'
export {
  AgentHandle,
  type AgentRegistration,
  BusStream,
  Inbox,
  StreamError,
  type StreamMessage,
  type StreamOptions,
} from './stream.js'
export * from './types.js'

export const DEFAULT_SOCKET_PATH = '/run/blackroad/blackroad.sock'

export class ClientError extends Error {
  readonly code: string
  readonly status: number | null

  constructor(code: string, message: string, status: number | null = null) {
    super(message)
    this.name = 'ClientError'
    this.code = code
    this.status = status
  }
}

export interface ClientOptions {
  socketPath?: string
  timeoutMs?: number
}

export class BlackroadClient {
  readonly socketPath: string
  private readonly timeoutMs: number
  private readonly agent: http.Agent

  constructor(opts: ClientOptions = {}) {
    this.socketPath = opts.socketPath ?? DEFAULT_SOCKET_PATH
    this.timeoutMs = opts.timeoutMs ?? 30_000
    // An agent timeout makes Node's agent take the server's "Keep-Alive: timeout=5" hint (it then drops an idle
    // connection a second before the daemon closes it); without one, Node 20 ignores the hint.
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 4, timeout: 60_000 })
  }

  status(): Promise<StatusResponse> {
    return this.request<StatusResponse>('GET', '/v1/status')
  }

  keys(): Promise<KeysResponse> {
    return this.request<KeysResponse>('GET', '/v1/keys')
  }

  federationInit(req: FederationInitRequest): Promise<FederationInfo> {
    return this.request<FederationInfo>('POST', '/v1/federation/init', req)
  }

  federation(): Promise<FederationInfo> {
    return this.request<FederationInfo>('GET', '/v1/federation')
  }

  createCluster(req: CreateClusterRequest): Promise<CreateClusterResponse> {
    return this.request<CreateClusterResponse>('POST', '/v1/federation/clusters', req)
  }

  /** `federation join`: the daemon proves the token to the control plane and enters the mesh. */
  federationJoin(req: FederationJoinRequest): Promise<FederationJoinResponse> {
    return this.request<FederationJoinResponse>('POST', '/v1/federation/join', req)
  }

  revokeNode(req: RevokeNodeRequest): Promise<RevokeNodeResponse> {
    return this.request<RevokeNodeResponse>('POST', '/v1/nodes/revoke', req)
  }

  /** The network policies this router enforces, and the registry's (the federation's) definitions. */
  policies(): Promise<PolicyListResponse> {
    return this.request<PolicyListResponse>('GET', '/v1/policies')
  }

  /** Creates or replaces a federation-wide policy in the registry; every router enforces it. */
  applyPolicy(req: ApplyPolicyRequest): Promise<PolicyView> {
    return this.request<PolicyView>('POST', '/v1/policies', req)
  }

  removePolicy(name: string): Promise<{ removed: string }> {
    return this.request<{ removed: string }>('DELETE', `/v1/policies/${encodeURIComponent(name)}`)
  }

  /** Removes a voter (or learner) from the control plane's Raft membership; run on the leader. */
  removeVoter(node: string): Promise<ReconfigureResponse> {
    return this.request<ReconfigureResponse>('POST', '/v1/control/voters/remove', { node })
  }

  /** Hands control-plane leadership to another voter; run on the leader. */
  transferLeader(to: string): Promise<ReconfigureResponse> {
    return this.request<ReconfigureResponse>('POST', '/v1/control/transfer', { to })
  }

  controlStatus(): Promise<ControlStatusResponse> {
    return this.request<ControlStatusResponse>('GET', '/v1/control/status')
  }

  /** This router's copy of the registry, summarised (answered locally, possibly stale). */
  controlRegistry(): Promise<RegistryView> {
    return this.request<RegistryView>('GET', '/v1/control/registry')
  }

  /** Whether the join token with this nonce (`jti`) was spent, in this router's copy of the registry. */
  tokenNonce(jti: string): Promise<NonceView> {
    return this.request<NonceView>('GET', `/v1/control/nonces/${encodeURIComponent(jti)}`)
  }

  federationStatus(): Promise<FederationStatusResponse> {
    return this.request<FederationStatusResponse>('GET', '/v1/federation/status')
  }

  listClusters(): Promise<ListClustersResponse> {
    return this.request<ListClustersResponse>('GET', '/v1/federation/clusters')
  }

  addCluster(req: AddClusterRequest): Promise<ClusterView> {
    return this.request<ClusterView>('POST', '/v1/federation/clusters/add', req)
  }

  removeCluster(name: string): Promise<{ removed: string }> {
    return this.request<{ removed: string }>('DELETE', `/v1/federation/clusters/${encodeURIComponent(name)}`)
  }

  network(): Promise<NetworkStatus> {
    return this.request<NetworkStatus>('GET', '/v1/network')
  }

  peers(): Promise<PeerInfo[]> {
    return this.request<PeerInfo[]>('GET', '/v1/peers')
  }

  routes(): Promise<RouteInfo[]> {
    return this.request<RouteInfo[]>('GET', '/v1/routes')
  }

  rotateKeys(): Promise<RotateKeysResponse> {
    return this.request<RotateKeysResponse>('POST', '/v1/keys/rotate', {})
  }

  publish(req: PublishRequest): Promise<{ ok: true }> {
    return this.request<{ ok: true }>('POST', '/v1/bus/publish', req)
  }

  busRequest(req: BusRequest): Promise<BusMessage> {
    return this.request<BusMessage>('POST', '/v1/bus/request', req)
  }

  /**
   * Messages on a subject as they arrive, until the iteration stops or the daemon goes away:
   * `for await (const m of client.subscribe('agent.*.status')) ...`
   */
  subscribe(subject: string): AsyncGenerator<BusMessage> {
    return this.ndjson<BusMessage>(`/v1/bus/subscribe?subject=${encodeURIComponent(subject)}`)
  }

  /** Publishes a federated event; answers with the event as sent (duplicate: an id already published). */
  publishEvent(req: PublishEventRequest): Promise<EventView & { duplicate: boolean }> {
    return this.request<EventView & { duplicate: boolean }>('POST', '/v1/events', req)
  }

  /** Federated events whose type matches `pattern` (e.g. `deploy.>`), as they reach this node. */
  subscribeEvents(pattern: string): AsyncGenerator<EventView> {
    return this.ndjson<EventView>(`/v1/events/subscribe?pattern=${encodeURIComponent(pattern)}`)
  }

  /** A streaming GET answered with one JSON document per line. */
  private async *ndjson<T>(path: string): AsyncGenerator<T> {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request({ socketPath: this.socketPath, path, method: 'GET', agent: false }, resolve)
      req.on('error', (err: NodeJS.ErrnoException) => reject(this.transportError(err)))
      req.end()
    })
    if (res.statusCode !== 200) {
      let text = ''
      for await (const c of res) text += c
      let err: { code?: string; message?: string } | undefined
      try {
        err = (JSON.parse(text || '{}') as { error?: { code?: string; message?: string } }).error
      } catch {
        err = undefined
      }
      throw new ClientError(
        err?.code ?? `HTTP_${res.statusCode}`,
        err?.message ?? `stream failed (HTTP ${res.statusCode})`,
        res.statusCode ?? null,
      )
    }
    let buffered = ''
    try {
      for await (const chunk of res) {
        buffered += chunk
        let nl = buffered.indexOf('\n')
        while (nl >= 0) {
          const line = buffered.slice(0, nl)
          buffered = buffered.slice(nl + 1)
          if (line) yield JSON.parse(line) as T
          nl = buffered.indexOf('\n')
        }
      }
    } finally {
      res.destroy()
    }
  }

  /**
   * Opens a bus stream session: one long-lived connection for publish, subscribe, request, respond and agent
   * registration at high rates (see stream.ts).
   */
  connect(opts?: StreamOptions): Promise<BusStream> {
    return BusStream.connect(this.socketPath, opts)
  }

  /** Agents known to this node: its own (with labels and capabilities) and those other nodes announce. */
  /** Agents this router knows, optionally only of one type and/or on nodes of one cluster. */
  agents(type?: string, cluster?: string): Promise<AgentInfo[]> {
    const q = new URLSearchParams()
    if (type) q.set('type', type)
    if (cluster) q.set('cluster', cluster)
    const qs = q.toString()
    return this.request<AgentInfo[]>('GET', `/v1/agents${qs ? `?${qs}` : ''}`)
  }

  /** A direct message to an agent (name or node/agent) over plain HTTP; resolves once delivered. */
  sendToAgent(req: AgentSendRequest): Promise<{ ok: true; node: string; agent: string }> {
    return this.request('POST', '/v1/bus/send', req)
  }

  /** Low-level call: JSON in, JSON out; non-2xx answers become ClientErrors carrying the daemon's code. */
  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    return this.attempt<T>(method, path, payload, true)
  }

  /**
   * One HTTP exchange. A kept-alive connection the daemon closes while idle can cross the next request written
   * on it (EPIPE, ECONNRESET) before the daemon read any of it: that request is sent once more on a new
   * connection (a reset one only when it is a GET). Any other failure, or one on a fresh connection, is the
   * caller's.
   */
  private attempt<T>(method: string, path: string, payload: Buffer | undefined, retry: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          path,
          method,
          agent: this.agent,
          headers: {
            host: 'blackroad',
            accept: 'application/json',
            ...(payload
              ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('error', (err) => reject(new ClientError('BAD_RESPONSE', err.message)))
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            let parsed: unknown
            try {
              parsed = text.length > 0 ? JSON.parse(text) : undefined
            } catch {
              reject(
                new ClientError(
                  'BAD_RESPONSE',
                  `daemon sent a non-JSON answer (HTTP ${res.statusCode})`,
                  res.statusCode ?? null,
                ),
              )
              return
            }
            const status = res.statusCode ?? 0
            if (status >= 200 && status < 300) {
              resolve(parsed as T)
              return
            }
            const err = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error
            reject(
              new ClientError(
                err?.code ?? `HTTP_${status}`,
                err?.message ?? `daemon answered HTTP ${status}`,
                status,
              ),
            )
          })
        },
      )
      req.setTimeout(this.timeoutMs, () => {
        req.destroy(new ClientError('TIMEOUT', `no answer from the daemon within ${this.timeoutMs} ms`))
      })
      req.on('error', (err: NodeJS.ErrnoException) => {
        // A write that failed (EPIPE) never reached the daemon; a reset (ECONNRESET) may come after it read the
        // request, so only a GET, which changes nothing, is sent again then.
        const again = err.code === 'EPIPE' || (err.code === 'ECONNRESET' && method === 'GET')
        if (retry && req.reusedSocket && again)
          this.attempt<T>(method, path, payload, false).then(resolve, reject)
        else reject(this.transportError(err))
      })
      req.end(payload)
    })
  }

  close(): void {
    this.agent.destroy()
  }

  private transportError(err: NodeJS.ErrnoException): ClientError {
    if (err instanceof ClientError) return err
    switch (err.code) {
      case 'ENOENT':
      case 'ECONNREFUSED':
        return new ClientError(
          'DAEMON_NOT_RUNNING',
          `cannot reach the blackroad daemon at ${this.socketPath} (${err.code}); is it running? (systemctl status blackroad)`,
        )
      case 'EACCES':
      case 'EPERM':
        return new ClientError(
          'PERMISSION_DENIED',
          `permission denied on ${this.socketPath}; run as root or as a member of the socket's group (blackroad)`,
        )
      default:
        return new ClientError('TRANSPORT', `${err.code ?? 'error'}: ${err.message}`)
    }
  }
}
