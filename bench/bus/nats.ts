// The NATS anchor of the `bus` suite: a two-server nats-server cluster on loopback (server A and B routed
// together, like router A -> router B) and a small client for the NATS text protocol (CONNECT, PUB, SUB, MSG,
// PING/PONG), written here so the bench needs no npm package beyond the project's. Writes are coalesced into one
// socket write per event-loop turn, as a production client does.

import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'

export const NATS_SETTINGS =
  'nats: 2 nats-server routed on 127.0.0.1 (cluster "bench", no_advertise), max_pending 512MB, write_deadline 10s; client: this bench\'s NATS protocol client, echo off'

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

export interface NatsCluster {
  portA: number
  portB: number
  pids: number[]
  stop(): Promise<void>
}

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL')
})

/** Starts two routed nats-servers in `dir`; resolves once both accept clients. */
export async function startNatsCluster(dir: string): Promise<NatsCluster> {
  mkdirSync(dir, { recursive: true })
  const [pa, pb, ca, cb] = [await freePort(), await freePort(), await freePort(), await freePort()]
  const conf = (client: number, cluster: number, route: number) =>
    [
      `listen: 127.0.0.1:${client}`,
      'max_pending: 512MB',
      'write_deadline: "10s"',
      'cluster {',
      '  name: bench',
      `  listen: 127.0.0.1:${cluster}`,
      `  routes: ["nats-route://127.0.0.1:${route}"]`,
      '  no_advertise: true',
      '}',
    ].join('\n')
  const procs: ChildProcess[] = []
  for (const [name, c] of [
    ['a', conf(pa, ca, cb)],
    ['b', conf(pb, cb, ca)],
  ] as const) {
    const file = path.join(dir, `${name}.conf`)
    writeFileSync(file, c)
    const p = spawn('nats-server', ['-c', file], { stdio: 'ignore' })
    running.add(p)
    p.once('exit', () => running.delete(p))
    procs.push(p)
  }
  const stop = async () => {
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve()
            const t = setTimeout(() => p.kill('SIGKILL'), 2000)
            p.once('exit', () => {
              clearTimeout(t)
              resolve()
            })
            p.kill('SIGTERM')
          }),
      ),
    )
  }
  try {
    for (const port of [pa, pb]) {
      const deadline = Date.now() + 10_000
      for (;;) {
        try {
          ;(await NatsConn.connect(port)).close()
          break
        } catch (err) {
          if (Date.now() > deadline) throw err
          await new Promise((r) => setTimeout(r, 50))
        }
      }
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { portA: pa, portB: pb, pids: procs.map((p) => p.pid ?? -1), stop }
}

type MsgHandler = (subject: string, reply: string, payload: Buffer) => void

export class NatsConn {
  private out: Buffer[] = []
  private outBytes = 0
  private scheduled = false
  private buf: Buffer = Buffer.alloc(0)
  private readonly subs = new Map<number, MsgHandler>()
  private readonly pongs: Array<() => void> = []
  private nextSid = 1

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => this.data(c))
  }

  static connect(port: number): Promise<NatsConn> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1')
      socket.setNoDelay(true)
      socket.once('error', reject)
      let head = ''
      const onInfo = (c: Buffer) => {
        head += c.toString('latin1')
        if (!head.includes('\r\n')) return
        socket.off('data', onInfo)
        if (!head.startsWith('INFO ')) return reject(new Error(`not a NATS server: ${head.slice(0, 80)}`))
        const conn = new NatsConn(socket)
        socket.off('error', reject)
        socket.on('error', () => {})
        conn.raw('CONNECT {"verbose":false,"pedantic":false,"echo":false,"lang":"bench","version":"0"}\r\n')
        conn.ping().then(() => resolve(conn), reject)
      }
      socket.on('data', onInfo)
    })
  }

  get buffered(): number {
    return this.outBytes + this.socket.writableLength
  }

  publish(subject: string, payload: Uint8Array, reply = ''): void {
    this.raw(`PUB ${subject}${reply ? ` ${reply}` : ''} ${payload.length}\r\n`)
    this.push(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength))
    this.push(CRLF)
  }

  subscribe(subject: string, handler: MsgHandler): number {
    const sid = this.nextSid++
    this.subs.set(sid, handler)
    this.raw(`SUB ${subject} ${sid}\r\n`)
    return sid
  }

  /** Round trip to the server: everything sent before has been processed. */
  ping(): Promise<void> {
    const p = new Promise<void>((resolve) => this.pongs.push(resolve))
    this.raw('PING\r\n')
    return p
  }

  drained(): Promise<void> {
    this.flush()
    if (this.socket.writableLength < 4 * 1024 * 1024) return Promise.resolve()
    return new Promise((r) => this.socket.once('drain', () => r()))
  }

  close(): void {
    this.flush()
    this.socket.destroy()
  }

  private raw(s: string): void {
    this.push(Buffer.from(s, 'latin1'))
  }

  private push(b: Buffer): void {
    this.out.push(b)
    this.outBytes += b.length
    if (this.outBytes > 256 * 1024) this.flush()
    else if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
  }

  private flush(): void {
    this.scheduled = false
    if (this.out.length === 0) return
    this.socket.write(Buffer.concat(this.out, this.outBytes))
    this.out = []
    this.outBytes = 0
  }

  private data(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    let pos = 0
    const b = this.buf
    for (;;) {
      const eol = b.indexOf(CRLF, pos)
      if (eol < 0) break
      const op = b.toString('latin1', pos, Math.min(eol, pos + 4))
      if (op === 'MSG ') {
        // MSG <subject> <sid> [reply-to] <#bytes>
        const parts = b.toString('latin1', pos + 4, eol).split(' ')
        const size = Number(parts[parts.length - 1])
        if (b.length < eol + 2 + size + 2) break
        const payload = b.subarray(eol + 2, eol + 2 + size)
        const reply = parts.length === 4 ? parts[2]! : ''
        this.subs.get(Number(parts[1]))?.(parts[0]!, reply, payload)
        pos = eol + 2 + size + 2
        continue
      }
      if (op === 'PING') this.raw('PONG\r\n')
      else if (op === 'PONG') this.pongs.shift()?.()
      else if (op === '-ERR') throw new Error(`NATS error: ${b.toString('latin1', pos, eol)}`)
      pos = eol + 2
    }
    this.buf = pos >= b.length ? Buffer.alloc(0) : b.subarray(pos)
  }
}

const CRLF = Buffer.from('\r\n')
