// The join listener on control-plane nodes: TLS 1.3 on `federation.join_listen` (default :7443). Each
// connection carries one request: the server sends HELLO (root key + its node certificate, whose key is the
// one TLS just proved), reads one JOIN or RENEW, answers JOINED / RENEWED / REFUSED and closes. Bad bytes,
// slow clients and non-Ed25519 client certificates are refused and counted, never fatal to the daemon.

import type { AddressInfo } from 'node:net'
import tls from 'node:tls'
import type { Logger } from 'pino'
import { Counter, type Registry } from 'prom-client'
import type { KeyPair } from '../identity/index.js'
import { frameJoinMessage, JoinFrameReader, type JoinMessage } from './join-messages.js'
import type { JoinService } from './join-service.js'
import { ed25519KeyOf, tlsIdentity } from './tls-identity.js'

export interface JoinServerOptions {
  service: JoinService
  nodeKey: KeyPair
  host: string
  port: number
  registry?: Registry
  logger?: Logger
  /** A connection that has not sent its request by then is closed (default 10 s). */
  requestTimeoutMs?: number
  maxConnections?: number
}

export function joinRequestsCounter(registry?: Registry): Counter<'kind' | 'result'> {
  const existing = registry?.getSingleMetric('blackroad_join_requests_total')
  if (existing) return existing as Counter<'kind' | 'result'>
  return new Counter({
    name: 'blackroad_join_requests_total',
    help: 'Join and renewal requests the control plane answered, by kind (join, renew, invalid) and result (ok or refusal code)',
    labelNames: ['kind', 'result'],
    registers: registry ? [registry] : [],
  })
}

export class JoinServer {
  private server: tls.Server | null = null
  private readonly sockets = new Set<tls.TLSSocket>()
  readonly requests: Counter<'kind' | 'result'>

  constructor(private readonly opts: JoinServerOptions) {
    this.requests = joinRequestsCounter(opts.registry)
  }

  async listen(): Promise<AddressInfo> {
    const id = tlsIdentity(this.opts.nodeKey, 'blackroad-control-plane')
    const server = tls.createServer({
      ...id,
      minVersion: 'TLSv1.3',
      requestCert: true,
      // Client certificates are self-signed node keys; handle() decides what the key may do.
      rejectUnauthorized: false,
      handshakeTimeout: this.opts.requestTimeoutMs ?? 10_000,
    })
    server.maxConnections = this.opts.maxConnections ?? 64
    server.on('secureConnection', (sock) => this.onConnection(sock))
    server.on('tlsClientError', (err) => {
      this.requests.inc({ kind: 'invalid', result: 'PROTOCOL' })
      this.opts.logger?.debug({ err: err.message }, 'join listener: TLS handshake failed')
    })
    server.on('error', (err) => this.opts.logger?.error({ err }, 'join listener error'))
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    return server.address() as AddressInfo
  }

  async close(): Promise<void> {
    const server = this.server
    this.server = null
    if (!server) return
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  private onConnection(sock: tls.TLSSocket): void {
    this.sockets.add(sock)
    sock.on('close', () => this.sockets.delete(sock))
    sock.on('error', () => {})
    const send = (m: JoinMessage) => sock.write(frameJoinMessage(m))
    const timer = setTimeout(() => {
      this.requests.inc({ kind: 'invalid', result: 'TIMEOUT' })
      sock.destroy()
    }, this.opts.requestTimeoutMs ?? 10_000)
    timer.unref()
    sock.on('close', () => clearTimeout(timer))
    const clientKey = ed25519KeyOf(sock.getPeerX509Certificate())
    if (!clientKey) {
      this.requests.inc({ kind: 'invalid', result: 'PROTOCOL' })
      send({
        type: 'refused',
        code: 'PROTOCOL',
        message: 'present a TLS certificate for your Ed25519 node key',
      })
      sock.end()
      return
    }
    send(this.opts.service.hello())
    const frames = new JoinFrameReader()
    let answered = false
    sock.on('data', (chunk: Buffer) => {
      if (answered) return
      let msgs: JoinMessage[]
      try {
        msgs = frames.push(chunk)
      } catch (err) {
        answered = true
        this.requests.inc({ kind: 'invalid', result: 'PROTOCOL' })
        send({ type: 'refused', code: 'PROTOCOL', message: `undecodable request: ${(err as Error).message}` })
        sock.end()
        return
      }
      const msg = msgs[0]
      if (!msg) return
      answered = true
      this.opts.service.handle(clientKey, msg).then(({ reply, outcome }) => {
        this.requests.inc({ kind: outcome.kind, result: outcome.result })
        const log = this.opts.logger
        if (outcome.result === 'ok')
          log?.info({ node: outcome.nodeId, kind: outcome.kind }, 'join service: request granted')
        else
          log?.warn(
            { node: outcome.nodeId, kind: outcome.kind, code: outcome.result },
            'join service: request refused',
          )
        send(reply)
        sock.end()
      })
    })
  }
}
