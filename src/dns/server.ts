// The mesh DNS server: UDP and TCP listeners on dns.listen answering from the zone's pre-encoded answers. The
// fast path is parse (by hand) -> map lookup -> copy and patch -> send. Names outside the zone are refused or
// forwarded to dns.upstream; malformed packets are counted by reason and answered FORMERR/NOTIMP when their
// header can be read. Nothing a client sends can make a listener throw. UDP goes through udp.ts: recvmmsg /
// sendmmsg batches when the native addon is there, node:dgram otherwise; TCP is node:net.

import net from 'node:net'
import type { Registry } from 'prom-client'
import { splitHostPort } from '../config/hostport.js'
import { headerOnlyError, refused } from './answers.js'
import { AnswerCache } from './cache.js'
import { MAX_MESSAGE, Rcode, UDP_MAX_PAYLOAD, UDP_MIN_PAYLOAD } from './constants.js'
import { DnsDecodeError, DnsError } from './errors.js'
import { Forwarder, type Upstream } from './forward.js'
import { DnsMetrics } from './metrics.js'
import { type ParsedQuery, parseQuery } from './query.js'
import { bindUdp, type UdpAnswerer, type UdpListener } from './udp.js'
import type { MeshZone } from './zone.js'

/** The slice of a pino logger the server uses. */
export interface DnsLogger {
  warn(obj: object, msg: string): void
}

export interface DnsServerOptions {
  zone: MeshZone
  /** "address:port" strings (config dns.listen); port 0 picks one free port shared by UDP and TCP. */
  listen: readonly string[]
  /** "address:port" resolvers for names outside the zone (config dns.upstream); unset = REFUSED. */
  upstream?: readonly string[]
  registry: Registry
  log?: DnsLogger
  /** Largest UDP answer we send, whatever the client advertises; default 1232. */
  udpMaxPayload?: number
  /** A TCP connection idle this long is closed (RFC 7766 6.2.3 suggests seconds); default 10 s. */
  tcpIdleMs?: number
  /** Concurrent TCP connections; more are closed at once. Default 256. */
  tcpMaxConnections?: number
  forwardTimeoutMs?: number
  /** SO_RCVBUF of the UDP sockets (the kernel caps it at net.core.rmem_max); default 4 MiB, to ride out bursts. */
  udpReceiveBuffer?: number
  /** Slots of the UDP answer cache (see cache.ts); 0 turns it off. Default 16,384. */
  answerCacheEntries?: number
  /** Batched UDP (recvmmsg/sendmmsg) through the native addon when it is loaded; default true. */
  udpBatch?: boolean
}

export interface BoundAddress {
  address: string
  port: number
  family: 'IPv4' | 'IPv6'
}

/** Outgoing data a TCP client has not read yet, beyond which we stop reading its queries. */
const TCP_MAX_BUFFERED = 1 << 20
/** Tries at finding one port free for both UDP and TCP when listening on port 0. */
const PORT_ZERO_TRIES = 20

export class DnsServer implements UdpAnswerer {
  readonly metrics: DnsMetrics
  /** Answers of the UDP fast path by query bytes; null when turned off. */
  readonly cache: AnswerCache | null
  private readonly zone: MeshZone
  private readonly udpMax: number
  private readonly forwarder: Forwarder | null
  private readonly udp: UdpListener[] = []
  private readonly tcp: net.Server[] = []
  private readonly connections = new Set<net.Socket>()
  private bound: BoundAddress[] = []

  constructor(private readonly options: DnsServerOptions) {
    this.zone = options.zone
    this.metrics = new DnsMetrics(options.registry)
    const entries = options.answerCacheEntries ?? 16_384
    this.cache = entries > 0 ? new AnswerCache({ entries }) : null
    this.udpMax = Math.max(UDP_MIN_PAYLOAD, Math.min(options.udpMaxPayload ?? UDP_MAX_PAYLOAD, MAX_MESSAGE))
    const upstreams = (options.upstream ?? []).map(parseAddress)
    this.forwarder =
      upstreams.length > 0
        ? new Forwarder({ upstreams, timeoutMs: options.forwardTimeoutMs ?? 1500 }, this.metrics)
        : null
    for (const l of options.listen) parseAddress(l)
  }

  /** Addresses actually bound (UDP and TCP share each). */
  get addresses(): readonly BoundAddress[] {
    return this.bound
  }

  /** How each bound address receives UDP: 'batched' (native addon) or 'dgram'; index-aligned with addresses. */
  get udpPaths(): readonly UdpListener['kind'][] {
    return this.udp.map((u) => u.kind)
  }

  async start(): Promise<readonly BoundAddress[]> {
    try {
      for (const l of this.options.listen) {
        const { host, port } = parseAddress(l)
        await this.listenOn(host, port)
      }
    } catch (err) {
      await this.close()
      throw err
    }
    return this.bound
  }

  /**
   * Binds one more "address:port" (UDP and TCP) while running, e.g. a mesh address once the interface holds it.
   * Already bound: returns it unchanged.
   */
  async listenAlso(address: string): Promise<BoundAddress> {
    const { host, port } = parseAddress(address)
    const held = this.bound.find((b) => b.address === host && (port === 0 || b.port === port))
    if (held) return held
    return this.listenOn(host, port)
  }

  /** Closes the UDP and TCP sockets of one bound address (and the TCP connections it accepted stay until idle). */
  async unlisten(host: string, port: number): Promise<boolean> {
    const i = this.bound.findIndex((b) => b.address === host && b.port === port)
    if (i < 0) return false
    const [udp] = this.udp.splice(i, 1)
    const [tcp] = this.tcp.splice(i, 1)
    this.bound.splice(i, 1)
    await Promise.all([udp!.close(), new Promise<void>((resolve) => tcp!.close(() => resolve()))])
    return true
  }

  async close(): Promise<void> {
    const udp = this.udp.splice(0)
    const tcp = this.tcp.splice(0)
    for (const c of this.connections) c.destroy()
    this.connections.clear()
    await Promise.all([
      ...udp.map((s) => s.close()),
      ...tcp.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
      this.forwarder?.close(),
    ])
    this.bound = []
  }

  /**
   * The UDP fast path, for both listeners: the answer from the cache or the pre-encoded table, null when the
   * query needs the general path (handle), undefined when it is dropped. No closure, no parse on a cache hit.
   */
  answerFast(msg: Uint8Array): Uint8Array | null | undefined {
    // One read of the table: the cache, the lookup and the insert all see the same zone snapshot.
    const table = this.zone.answers
    const cache = this.cache
    if (cache !== null) {
      const hit = cache.get(msg, table)
      if (hit !== null) {
        this.metrics.query(cache.lastQtype, cache.lastRcode)
        return hit
      }
    }
    const q = parseQuery(msg)
    if (q instanceof DnsDecodeError) return this.malformed(q) ?? undefined
    if (q.ednsVersion === 0 && q.qclass === 1) {
      const size = q.ednsSize > 0 ? Math.min(q.ednsSize, this.udpMax) : UDP_MIN_PAYLOAD
      const out = table.respond(msg, q, size)
      if (out !== null) {
        const rcode = out[3]! & 0x0f
        this.metrics.query(q.qtype, rcode)
        cache?.set(msg, out, q.qtype, rcode, table)
        return out
      }
    }
    // Everything else (EDNS versions, other classes, outside the zone) takes the general path.
    return null
  }

  answerSlow(msg: Uint8Array, reply: (out: Uint8Array) => void): void {
    this.handle(msg, this.udpMax, reply)
  }

  oversize(): void {
    // Only the first udpSlot bytes were read: to the parser that is a packet cut short.
    this.metrics.malformed('truncated')
  }

  warn(obj: object, msg: string): void {
    this.options.log?.warn(obj, msg)
  }

  /**
   * Answers one message from any transport: `reply` gets the response (possibly later, when forwarded), or is
   * never called when the packet is dropped. `limit` is the most the transport can carry.
   */
  handle(msg: Uint8Array, limit: number, reply: (out: Uint8Array) => void): void {
    try {
      const q = parseQuery(msg)
      if (q instanceof DnsDecodeError) {
        const out = this.malformed(q)
        if (out !== null) reply(out)
        return
      }
      const size =
        limit === MAX_MESSAGE ? MAX_MESSAGE : q.ednsSize > 0 ? Math.min(q.ednsSize, limit) : UDP_MIN_PAYLOAD
      const out = this.zone.answers.respond(msg, q, size)
      if (out !== null) {
        this.metrics.query(q.qtype, q.ednsVersion !== 0 ? Rcode.BADVERS : out[3]! & 0x0f)
        reply(out)
        return
      }
      this.outside(msg, q, reply)
    } catch (err) {
      // Unreachable by design (the parser and the table are total); kept so a bug costs one answer, not the daemon.
      this.options.log?.warn({ err }, 'dns: internal error answering a query')
    }
  }

  private outside(msg: Uint8Array, q: ParsedQuery, reply: (out: Uint8Array) => void): void {
    if (this.forwarder === null) {
      this.metrics.query(q.qtype, Rcode.REFUSED)
      reply(refused(msg, q))
      return
    }
    this.forwarder.forward(msg, q, (out) => {
      this.metrics.query(q.qtype, out.length >= 4 ? out[3]! & 0x0f : Rcode.SERVFAIL)
      reply(out)
    })
  }

  /** Counts a malformed query; the FORMERR/NOTIMP answer when one is due, else null (dropped). */
  private malformed(err: DnsDecodeError): Uint8Array | null {
    this.metrics.malformed(err.dnsReason)
    // No header: nothing to answer. A response: never answered, or two servers could bounce errors forever.
    if (err.header === null || err.dnsReason === 'qr-set') return null
    const rcode = err.dnsReason === 'opcode' ? Rcode.NOTIMP : Rcode.FORMERR
    return headerOnlyError(err.header.id, err.header.flags, rcode)
  }

  private async listenOn(host: string, port: number): Promise<BoundAddress> {
    const family = net.isIPv6(host) ? 'IPv6' : 'IPv4'
    for (let attempt = 0; ; attempt++) {
      const udp = await bindUdp(
        host,
        port,
        this.options.udpReceiveBuffer ?? 4 << 20,
        this,
        this.options.udpBatch ?? true,
      )
      const udpPort = udp.port
      try {
        const tcp = await this.bindTcp(host, udpPort)
        // The three lists stay index-aligned: pushed together, with no await in between.
        const bound: BoundAddress = { address: host, port: udpPort, family }
        this.udp.push(udp)
        this.tcp.push(tcp)
        this.bound.push(bound)
        return bound
      } catch (err) {
        await udp.close()
        // With port 0 the kernel chose a UDP port whose TCP twin is taken: choose again.
        if (port !== 0 || attempt + 1 >= PORT_ZERO_TRIES) throw err
      }
    }
  }

  private bindTcp(host: string, port: number): Promise<net.Server> {
    const server = net.createServer({ noDelay: true }, (sock) => this.onConnection(sock))
    server.maxConnections = this.options.tcpMaxConnections ?? 256
    server.on('drop', () => this.metrics.tcpRejected.inc())
    return new Promise((resolve, reject) => {
      server.once('error', (err) => {
        server.close()
        reject(
          new DnsError('DNS_BIND_FAILED', `dns: cannot bind TCP ${host}:${port}: ${err.message}`, {
            cause: err,
          }),
        )
      })
      server.listen({ host, port, exclusive: true }, () => {
        server.removeAllListeners('error')
        server.on('error', (err) => this.options.log?.warn({ err }, 'dns: TCP server error'))
        resolve(server)
      })
    })
  }

  /** RFC 7766: 2-byte length framing, any number of queries per connection, answers as they are ready. */
  private onConnection(sock: net.Socket): void {
    this.connections.add(sock)
    this.metrics.tcpConnections.inc()
    sock.setTimeout(this.options.tcpIdleMs ?? 10_000, () => sock.destroy())
    sock.on('error', () => {})
    sock.on('close', () => {
      this.connections.delete(sock)
      this.metrics.tcpConnections.dec()
    })
    sock.on('drain', () => sock.resume())
    const send = (out: Uint8Array): void => {
      if (sock.destroyed) return
      const frame = Buffer.allocUnsafe(2 + out.length)
      frame.writeUInt16BE(out.length, 0)
      frame.set(out, 2)
      // A client that sends faster than it reads is paused until it catches up, so it cannot grow our buffers.
      if (!sock.write(frame) || sock.writableLength > TCP_MAX_BUFFERED) sock.pause()
    }
    let pending: Buffer | null = null
    sock.on('data', (chunk: Buffer) => {
      let buf = pending === null ? chunk : Buffer.concat([pending, chunk])
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0)
        if (buf.length < 2 + len) break
        this.handle(buf.subarray(2, 2 + len), MAX_MESSAGE, send)
        buf = buf.subarray(2 + len)
      }
      pending = buf.length > 0 ? buf : null
    })
  }
}

function parseAddress(s: string): Upstream {
  const hp = splitHostPort(s)
  if (hp === null || net.isIP(hp.host) === 0 || hp.port > 65535) {
    throw new DnsError('DNS_BAD_ADDRESS', `dns: expected "address:port" with a literal IP, got "${s}"`)
  }
  return hp
}
