// The mesh DNS server's UDP listeners, two ways behind one shape. With the native addon (Linux), a batched
// listener: recvmmsg fills one preallocated buffer with up to 64 queries, the answers are written into a second
// one and leave in one sendmmsg, driven by libuv readiness on Node's loop (native-bindings/src/udp.c). Without it,
// node:dgram, one buffer and one syscall per packet each way. The server supplies the answering; both paths give
// it the same calls, so every answer is the same bytes either way.

import dgram from 'node:dgram'
import net from 'node:net'
import { type NativeAddon, nativeAddon, type UdpHandle } from '../os/native.js'
import { DnsError } from './errors.js'

/** What a listener needs from the server. */
export interface UdpAnswerer {
  /** The answer to `msg` from the fast path, null when it needs the general path, undefined to drop it. */
  answerFast(msg: Uint8Array): Uint8Array | null | undefined
  /** The general path: `reply` may be called later (forwarding) or never (dropped). `msg` is the caller's to keep. */
  answerSlow(msg: Uint8Array, reply: (out: Uint8Array) => void): void
  /** A datagram too large for a batch slot (no real query is): counted, dropped. */
  oversize(): void
  warn(obj: object, msg: string): void
}

export interface UdpListener {
  readonly port: number
  /** 'batched' (recvmmsg/sendmmsg through the addon) or 'dgram'. */
  readonly kind: 'batched' | 'dgram'
  close(): Promise<void>
}

// Our listen addresses are literal IPs, so dgram's per-send dns.lookup (a nextTick and a closure per reply)
// buys nothing: hand the address straight back.
const literalLookup = (
  host: string,
  _family: unknown,
  cb: (err: Error | null, address: string, family: number) => void,
): void => cb(null, host, host.includes(':') ? 6 : 4)

/** Binds a UDP listener on host:port (0 = any free port): batched when the addon is there and allowed. */
export function bindUdp(
  host: string,
  port: number,
  recvBuffer: number,
  answerer: UdpAnswerer,
  batched: boolean,
): Promise<UdpListener> {
  const addon = batched && process.platform === 'linux' ? nativeAddon() : null
  if (addon !== null) {
    try {
      return Promise.resolve(new BatchedUdp(addon, host, port, recvBuffer, answerer))
    } catch (err) {
      return Promise.reject(
        new DnsError('DNS_BIND_FAILED', `dns: cannot bind UDP ${host}:${port}: ${(err as Error).message}`, {
          cause: err,
        }),
      )
    }
  }
  return bindDgram(host, port, recvBuffer, answerer)
}

class BatchedUdp implements UdpListener {
  readonly kind = 'batched'
  readonly port: number
  private readonly handle: UdpHandle
  private readonly input: Buffer
  private readonly lens: Int32Array
  private readonly output: Buffer
  private readonly outInfo: Int32Array
  private readonly slot: number
  private closed = false

  constructor(
    private readonly addon: NativeAddon,
    host: string,
    port: number,
    recvBuffer: number,
    private readonly answerer: UdpAnswerer,
  ) {
    const batch = addon.udpBatch
    this.slot = addon.udpSlot
    this.input = Buffer.alloc(batch * this.slot)
    this.lens = new Int32Array(batch)
    this.output = Buffer.alloc(batch * this.slot)
    this.outInfo = new Int32Array(2 * batch)
    const [handle, bound] = addon.udpOpen(
      host,
      port,
      recvBuffer,
      this.input,
      this.lens,
      this.output,
      this.outInfo,
      (n) => this.onBatch(n),
    )
    this.handle = handle
    this.port = bound
  }

  /** n queries are in `input`; writes the answers it has now into `output` and returns how many. */
  private onBatch(n: number): number {
    const { input, output, outInfo, lens, slot, answerer } = this
    let m = 0
    for (let i = 0; i < n; i++) {
      const len = lens[i]!
      if (len < 0) {
        answerer.oversize()
        continue
      }
      const at = i * slot
      const msg = input.subarray(at, at + len)
      let out: Uint8Array | null | undefined
      try {
        out = answerer.answerFast(msg)
      } catch (err) {
        answerer.warn({ err }, 'dns: internal error answering a query')
        continue
      }
      if (out === undefined) continue
      if (out !== null && out.length <= slot) {
        output.set(out, m * slot)
        outInfo[2 * m] = out.length
        outInfo[2 * m + 1] = i
        m++
        continue
      }
      // The general path (forwarding, errors, other classes) may answer later: it gets its own copy of the
      // query and of the source address, since both slots are reused by the next batch.
      const peer = this.addon.udpPeer(this.handle, i)
      const reply = (o: Uint8Array): void => {
        if (!this.closed) this.addon.udpSendTo(this.handle, o, peer)
      }
      if (out !== null) reply(out)
      else answerer.answerSlow(Uint8Array.prototype.slice.call(msg), reply)
    }
    return m
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true
      this.addon.udpClose(this.handle)
    }
    // The descriptor is closed in libuv's close phase of this loop turn; after setImmediate it is gone.
    return new Promise((resolve) => setImmediate(resolve))
  }
}

function bindDgram(
  host: string,
  port: number,
  recvBuffer: number,
  answerer: UdpAnswerer,
): Promise<UdpListener> {
  const sock = dgram.createSocket({
    type: net.isIPv6(host) ? 'udp6' : 'udp4',
    recvBufferSize: recvBuffer,
    lookup: literalLookup as unknown as dgram.SocketOptions['lookup'],
  })
  return new Promise((resolve, reject) => {
    sock.once('error', (err) => {
      sock.close()
      reject(
        new DnsError('DNS_BIND_FAILED', `dns: cannot bind UDP ${host}:${port}: ${err.message}`, {
          cause: err,
        }),
      )
    })
    sock.bind({ address: host, port, exclusive: true }, () => {
      sock.removeAllListeners('error')
      sock.on('error', (err) => answerer.warn({ err }, 'dns: UDP socket error'))
      // The fast path is answered in line, no closure unless the query takes the general path.
      sock.on('message', (msg, from) => {
        let out: Uint8Array | null | undefined
        try {
          out = answerer.answerFast(msg)
        } catch (err) {
          answerer.warn({ err }, 'dns: internal error answering a query')
          return
        }
        if (out === undefined) return
        if (out !== null) sock.send(out, from.port, from.address)
        else answerer.answerSlow(msg, (o) => sock.send(o, from.port, from.address))
      })
      resolve({
        kind: 'dgram',
        port: sock.address().port,
        close: () => new Promise<void>((done) => sock.close(() => done())),
      })
    })
  })
}
