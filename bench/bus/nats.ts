// The NATS anchor of the `bus` suite: a two-server nats-server cluster (server A and B routed together, like router
// A -> router B) and a small client for the NATS text protocol (CONNECT, PUB, SUB, MSG, PING/PONG), written here so
// the bench needs no npm package beyond the project's. Writes are coalesced into one socket write once the
// caller's synchronous code is done (a microtask), as our client's are.
//
// Where the servers run: in the namespaces of the suite's two hosts (the ones our routers run in), routed over the
// same bridge our routers' lane crosses, each server's clients connecting to it over its namespace's loopback
// (connectIn). Both systems then cross the same network between their two servers. The servers used to run side
// by side on the root namespace's loopback, which spared NATS the veth and bridge hops every message of ours
// crosses (--nats-loopback runs that set-up for comparison).

import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import type { Host } from '../../netns-tests/lib/topology.js'
import { onReads } from '../../src/os/direct-reads.js'

export const NATS_SETTINGS =
  'nats: 2 nats-server (cluster "bench", no_advertise), max_pending 512MB, write_deadline 10s; client: this bench\'s NATS protocol client, echo off'

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
  /** Opens a client connection to server A or B (in its namespace, when the servers run in hosts'). */
  connect(server: 'a' | 'b'): Promise<NatsConn>
  pids: number[]
  /** Where the servers run, for the suite's settings line. */
  where: string
  stop(): Promise<void>
}

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL')
})

/** The ports of the servers in hosts' namespaces (fresh namespaces: nothing else listens there). */
const NS_CLIENT_PORT = 14222
const NS_CLUSTER_PORT = 16222

/**
 * Starts two routed nats-servers, their configuration in `dir`: in the namespaces of `hosts` (server A in the
 * first, B in the second, routed over the hosts' addresses), or on this namespace's loopback when hosts is
 * null. Resolves once both accept clients.
 */
export async function startNatsCluster(
  dir: string,
  hosts: readonly [Host, Host] | null,
): Promise<NatsCluster> {
  mkdirSync(dir, { recursive: true })
  const conf = (client: string, cluster: string, route: string) =>
    [
      `listen: ${client}`,
      'max_pending: 512MB',
      'write_deadline: "10s"',
      'cluster {',
      '  name: bench',
      `  listen: ${cluster}`,
      `  routes: ["nats-route://${route}"]`,
      '  no_advertise: true',
      '}',
    ].join('\n')
  let confs: [string, string]
  let ports: [number, number]
  if (hosts === null) {
    const [pa, pb, ca, cb] = [await freePort(), await freePort(), await freePort(), await freePort()]
    const at = (port: number) => `127.0.0.1:${port}`
    confs = [conf(at(pa), at(ca), at(cb)), conf(at(pb), at(cb), at(ca))]
    ports = [pa, pb]
  } else {
    const [a, b] = hosts
    const client = `127.0.0.1:${NS_CLIENT_PORT}`
    confs = [
      conf(client, `${a.addr()}:${NS_CLUSTER_PORT}`, `${b.addr()}:${NS_CLUSTER_PORT}`),
      conf(client, `${b.addr()}:${NS_CLUSTER_PORT}`, `${a.addr()}:${NS_CLUSTER_PORT}`),
    ]
    ports = [NS_CLIENT_PORT, NS_CLIENT_PORT]
  }
  const servers: { pid: number; stop(): Promise<void> }[] = []
  const stop = async () => {
    await Promise.all(servers.map((p) => p.stop()))
  }
  const connect = async (server: 'a' | 'b') => {
    const i = server === 'a' ? 0 : 1
    const socket =
      hosts === null ? net.connect(ports[i], '127.0.0.1') : await connectIn(hosts[i].ns, ports[i])
    return NatsConn.over(socket)
  }
  try {
    for (const i of [0, 1] as const) {
      const name = i === 0 ? 'a' : 'b'
      const file = path.join(dir, `${name}.conf`)
      writeFileSync(file, confs[i])
      servers.push(hosts === null ? spawnHere(file) : hostServer(hosts[i], file, name))
    }
    for (const name of ['a', 'b'] as const) {
      const deadline = Date.now() + 10_000
      for (;;) {
        try {
          ;(await connect(name)).close()
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
  const where =
    hosts === null
      ? 'both on 127.0.0.1'
      : `A in ${hosts[0].name}'s namespace and B in ${hosts[1].name}'s (where our routers run), routed over their bridge; clients over each namespace's loopback`
  return { connect, pids: servers.map((p) => p.pid), where, stop }
}

function spawnHere(file: string): { pid: number; stop(): Promise<void> } {
  const p = spawn('nats-server', ['-c', file], { stdio: 'ignore' })
  running.add(p)
  p.once('exit', () => running.delete(p))
  return {
    pid: p.pid ?? -1,
    stop: () =>
      new Promise<void>((resolve) => {
        if (p.exitCode !== null || p.signalCode !== null) return resolve()
        const t = setTimeout(() => p.kill('SIGKILL'), 2000)
        p.once('exit', () => {
          clearTimeout(t)
          resolve()
        })
        p.kill('SIGTERM')
      }),
  }
}

/** nats-server in `host`'s namespace (ip netns exec runs it in place: the pid is the server's). */
function hostServer(host: Host, file: string, name: string): { pid: number; stop(): Promise<void> } {
  const p = host.spawn(['nats-server', '-c', file], { logName: `nats-server-${name}` })
  return {
    pid: p.pid,
    stop: async () => {
      await p.stop()
    },
  }
}

/**
 * A TCP connection to `port` on the loopback of network namespace `ns`, made there and handed to this process:
 * a small Node process started in the namespace connects (paused, so it reads nothing) and sends the socket
 * over its IPC channel, as Node passes handles between processes. A socket belongs to the namespace it was
 * made in wherever its descriptor goes.
 */
export function connectIn(ns: string, port: number): Promise<net.Socket> {
  const script = [
    "const net = require('node:net')",
    `const s = net.connect(${port}, '127.0.0.1')`,
    's.pause()',
    "s.once('connect', () => process.send('socket', s, () => process.disconnect()))",
    "s.once('error', (e) => process.send({ error: e.message }, () => process.disconnect()))",
  ].join('\n')
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`no connection to 127.0.0.1:${port} in ${ns} within 10 s`))
    }, 10_000)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('message', (m: unknown, handle: unknown) => {
      clearTimeout(timer)
      if (handle instanceof net.Socket) resolve(handle)
      else
        reject(new Error(`cannot connect to 127.0.0.1:${port} in ${ns}: ${(m as { error?: string }).error}`))
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`the connecting process in ${ns} exited (${code}) without a socket`))
    })
  })
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
    // Reads and writes as our client makes them (src/client/stream.ts): reads handed to the parser directly, not
    // through 'data' (os/direct-reads.ts, what our client's onread does), and output flushed in a microtask
    // after the caller's code, so that request/reply compares the servers and not the clients' plumbing.
    onReads(socket, (c) => this.data(c))
  }

  /** A client over `socket` (connected, or connecting, to a server): resolves after the handshake. */
  static over(socket: net.Socket): Promise<NatsConn> {
    return new Promise((resolve, reject) => {
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
      socket.resume()
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
      queueMicrotask(this.flushFn)
    }
  }

  private readonly flushFn = () => this.flush()

  private flush(): void {
    this.scheduled = false
    if (this.out.length === 0) return
    this.socket.write(Buffer.concat(this.out, this.outBytes))
    this.out = []
    this.outBytes = 0
  }

  /**
   * A read: the message the last read ended in is completed with as little of this one as it needs (its first
   * JOIN_BYTES joined to the held bytes), the rest is parsed in place. Joining the held bytes to the whole read
   * copied every byte this client took, as ours did before (agents/frames.ts FrameSplitter).
   */
  private data(chunk: Buffer): void {
    let start = 0
    const held = this.buf.length
    if (held > 0) {
      const joined = Buffer.concat([this.buf, chunk.subarray(0, Math.min(chunk.length, JOIN_BYTES))])
      const used = this.parse(joined)
      if (used < held) {
        // Nothing completed (used is 0): the whole read is in `joined`, or the held message is longer than the
        // joined bytes (rare here), and the read is joined whole.
        if (joined.length === held + chunk.length) this.buf = joined
        else {
          const all = Buffer.concat([this.buf, chunk])
          this.buf = all.subarray(this.parse(all))
        }
        return
      }
      start = used - held
    }
    const used = start + this.parse(chunk.subarray(start))
    this.buf = used >= chunk.length ? EMPTY_BUF : chunk.subarray(used)
  }

  /** Handles the complete messages at the start of `b`; returns where the first incomplete one starts. */
  private parse(b: Buffer): number {
    let pos = 0
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
    return pos
  }
}

/** Bytes of a read joined to a held partial message: a MSG line and a bench payload fit many times over. */
const JOIN_BYTES = 4096
const EMPTY_BUF = Buffer.alloc(0)
const CRLF = Buffer.from('\r\n')
