// Forwarding of names outside the mesh zone to dns.upstream, over UDP: the client's query goes out under a fresh
// random ID, and the reply is accepted only from the upstream it was sent to, with that ID and the same question,
// then relayed with the client's ID. A silent upstream is skipped for the next one; when all stay silent, or too
// many queries are in flight, the client gets SERVFAIL rather than nothing.

import { randomInt } from 'node:crypto'
import dgram from 'node:dgram'
import { isIPv6 } from 'node:net'
import { servfail } from './answers.js'
import { HEADER_LEN } from './constants.js'
import type { DnsMetrics } from './metrics.js'
import type { ParsedQuery } from './query.js'

export interface Upstream {
  host: string
  port: number
}

export interface ForwarderOptions {
  upstreams: readonly Upstream[]
  /** Per upstream attempt; default 1500 ms. */
  timeoutMs?: number
  /** Queries in flight at most; more get SERVFAIL at once. Default 1024. */
  maxPending?: number
}

interface Pending {
  clientId: number
  query: Uint8Array
  parsed: ParsedQuery
  reply: (bytes: Uint8Array) => void
  attempt: number
  upstream: Upstream
  timer: NodeJS.Timeout
}

export class Forwarder {
  private readonly pending = new Map<number, Pending>()
  private readonly sockets = new Map<'udp4' | 'udp6', dgram.Socket>()
  private readonly timeoutMs: number
  private readonly maxPending: number
  private closed = false

  constructor(
    private readonly options: ForwarderOptions,
    private readonly metrics?: DnsMetrics,
  ) {
    this.timeoutMs = options.timeoutMs ?? 1500
    this.maxPending = options.maxPending ?? 1024
  }

  get inFlight(): number {
    return this.pending.size
  }

  /** Sends `query` upstream; `reply` is called exactly once, with the upstream's answer or a SERVFAIL. */
  forward(query: Uint8Array, parsed: ParsedQuery, reply: (bytes: Uint8Array) => void): void {
    if (this.closed || this.options.upstreams.length === 0 || this.pending.size >= this.maxPending) {
      this.metrics?.forward('overloaded')
      reply(servfail(query, parsed))
      return
    }
    this.send({ clientId: parsed.id, query, parsed, reply, attempt: 0 })
  }

  async close(): Promise<void> {
    this.closed = true
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.reply(servfail(p.query, p.parsed))
    }
    this.pending.clear()
    const closing = [...this.sockets.values()].map(
      (s) => new Promise<void>((resolve) => s.close(() => resolve())),
    )
    this.sockets.clear()
    await Promise.all(closing)
  }

  private send(p: Omit<Pending, 'timer' | 'upstream'>): void {
    const upstream = this.options.upstreams[p.attempt % this.options.upstreams.length]!
    let id = randomInt(0, 0x10000)
    for (let i = 0; this.pending.has(id) && i < 16; i++) id = randomInt(0, 0x10000)
    if (this.pending.has(id)) {
      this.metrics?.forward('overloaded')
      p.reply(servfail(p.query, p.parsed))
      return
    }
    const out = Buffer.from(p.query)
    out[0] = id >> 8
    out[1] = id & 0xff
    const timer = setTimeout(() => this.expire(id), this.timeoutMs)
    timer.unref()
    this.pending.set(id, { ...p, upstream, timer })
    this.socket(isIPv6(upstream.host) ? 'udp6' : 'udp4').send(out, upstream.port, upstream.host, (err) => {
      if (err && this.pending.get(id)?.timer === timer) this.fail(id, 'error')
    })
  }

  private expire(id: number): void {
    const p = this.pending.get(id)
    if (!p) return
    this.pending.delete(id)
    if (p.attempt + 1 < this.options.upstreams.length && !this.closed) {
      this.send({
        clientId: p.clientId,
        query: p.query,
        parsed: p.parsed,
        reply: p.reply,
        attempt: p.attempt + 1,
      })
      return
    }
    this.metrics?.forward('timeout')
    p.reply(servfail(p.query, p.parsed))
  }

  private fail(id: number, result: 'error'): void {
    const p = this.pending.get(id)
    if (!p) return
    clearTimeout(p.timer)
    this.pending.delete(id)
    this.metrics?.forward(result)
    p.reply(servfail(p.query, p.parsed))
  }

  private onReply(msg: Buffer, from: dgram.RemoteInfo): void {
    if (msg.length < HEADER_LEN || (msg[2]! & 0x80) === 0) return
    const id = (msg[0]! << 8) | msg[1]!
    const p = this.pending.get(id)
    if (!p || from.port !== p.upstream.port || !sameAddress(from.address, p.upstream.host)) return
    if (!sameQuestion(msg, p.query, p.parsed)) return
    clearTimeout(p.timer)
    this.pending.delete(id)
    msg[0] = p.clientId >> 8
    msg[1] = p.clientId & 0xff
    this.metrics?.forward('answered')
    p.reply(msg)
  }

  private socket(type: 'udp4' | 'udp6'): dgram.Socket {
    let s = this.sockets.get(type)
    if (!s) {
      s = dgram.createSocket({ type })
      s.on('message', (msg, from) => this.onReply(msg, from))
      // A send error surfaces in the send callback; a socket-level error must not crash the daemon.
      s.on('error', () => {})
      s.bind(0)
      s.unref()
      this.sockets.set(type, s)
    }
    return s
  }
}

function sameAddress(a: string, b: string): boolean {
  return a === b || a.toLowerCase() === b.toLowerCase() || a === `::ffff:${b}`
}

/** The reply's question must be ours (RFC 5452 9.1), compared case-blind; a mismatch is dropped as a spoof. */
function sameQuestion(reply: Uint8Array, query: Uint8Array, q: ParsedQuery): boolean {
  if (reply[4] !== 0 || reply[5] !== 1) return false
  const len = q.nameLength + 4
  if (reply.length < HEADER_LEN + len) return false
  const sent = q.question ?? query.subarray(HEADER_LEN, q.questionEnd)
  for (let i = 0; i < len; i++) {
    let a = reply[HEADER_LEN + i]!
    let b = sent[i]!
    if (a >= 0x41 && a <= 0x5a) a |= 0x20
    if (b >= 0x41 && b <= 0x5a) b |= 0x20
    if (a !== b) return false
  }
  return true
}
