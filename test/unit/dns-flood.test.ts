// A running server under a bounded flood of malformed packets (100,000 at 5,000/s, about 20 s): every one is
// counted under the right reason, the ones with a readable header are answered, the server keeps answering
// valid queries correctly afterwards, and its memory does not grow. The server runs in its own process (this
// file, started again with BLACKROAD_DNS_FLOOD_SERVER set), so its RSS is its own and not the sender's.

import assert from 'node:assert/strict'
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { randomInt } from 'node:crypto'
import dgram from 'node:dgram'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as dnsPacket from 'dns-packet'
import { Registry } from 'prom-client'
import { MALFORMED_REASONS, type MalformedReason } from '../../src/dns/errors.js'
import { DnsServer } from '../../src/dns/server.js'
import { MeshZone } from '../../src/dns/zone.js'
import { run } from '../../src/os/index.js'

const D = 'mesh.blackroad.local'
const TOTAL = 100_000
const RATE_PER_S = 5_000
const DEADLINE_MS = 26_000

/** Seeded xorshift32, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s
  }
}

function validQuery(id: number, name: string, edns: boolean): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: 'A' }],
    additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as never] : [],
  })
}

/** One malformed packet of a known kind: [bytes, reason, answered?]. Malformed by construction. */
function malformed(next: () => number, i: number): [Buffer, MalformedReason, boolean] {
  const base = validQuery(i & 0xffff, `n${next() % 50}.${D}`, next() % 2 === 0)
  switch (i % 11) {
    case 0:
      return [Buffer.from(Array.from({ length: next() % 12 }, () => next() & 0xff)), 'short-header', false]
    case 1:
      base[2]! |= 0x80
      return [base, 'qr-set', false]
    case 2:
      base[2] = (base[2]! & 0x87) | ((1 + (next() % 15)) << 3)
      return [base, 'opcode', true]
    case 3:
      base.writeUInt16BE(next() % 2 === 0 ? 0 : 2 + (next() % 65534), 4)
      return [base, 'qdcount', true]
    case 4:
      base[12] = 64 + (next() % 128)
      return [base, 'label-too-long', true]
    case 5: {
      const long = Array.from({ length: 5 }, (_, k) => String.fromCharCode(97 + k).repeat(63)).join('.')
      return [validQuery(i & 0xffff, long, false), 'name-too-long', true]
    }
    case 6:
      base[12] = 0xc0
      base[13] = 12
      return [base.subarray(0, 18), 'compression-loop', true]
    case 7: {
      const q = validQuery(i & 0xffff, `x.${D}`, true)
      q.writeUInt16BE(2, 10)
      return [Buffer.concat([q, q.subarray(q.length - 11)]), 'bad-edns', true]
    }
    case 8:
      return [base.subarray(0, 13 + (next() % 8)), 'truncated', true]
    case 9:
      return [
        Buffer.concat([base, Buffer.from(Array.from({ length: 1 + (next() % 20) }, () => next() & 0xff))]),
        'trailing-bytes',
        true,
      ]
    default: {
      const junk = Buffer.from(Array.from({ length: 12 + (next() % 200) }, () => next() & 0xff))
      junk[2]! &= 0x07 // QUERY opcode, QR clear
      junk.writeUInt16BE(0, 4)
      return [junk, 'qdcount', true]
    }
  }
}

const SERVER_ENV = 'BLACKROAD_DNS_FLOOD_SERVER'

/** Child mode: serve a 50-node zone on the given address; answer "stats" lines on stdin with counters. */
async function serveForFlood(addr: string): Promise<void> {
  const zone = new MeshZone(
    { domain: D, ttl: { node: 60, agent: 30, negative: 30 } },
    {
      clusters: [{ name: 'c', region: 'r' }],
      nodes: Array.from({ length: 50 }, (_, i) => ({
        name: `n${i}`,
        cluster: 'c',
        ipv4: `100.64.1.${i + 1}`,
      })),
      control: [],
      agents: [],
    },
  )
  const server = new DnsServer({ zone, listen: [`${addr}:0`], registry: new Registry() })
  const [bound] = await server.start()
  process.stdout.write(`${JSON.stringify({ port: bound!.port })}\n`)
  const lines = createInterface({ input: process.stdin })
  lines.on('line', () => {
    const byReason = Object.fromEntries(MALFORMED_REASONS.map((r) => [r, server.metrics.malformedCount(r)]))
    process.stdout.write(`${JSON.stringify({ total: server.metrics.malformedCount(), byReason })}\n`)
  })
  // The parent closing stdin (or dying) ends the server.
  lines.on('close', () => void server.close().then(() => process.exit(0)))
}

interface Stats {
  total: number
  byReason: Record<MalformedReason, number>
}

/** The server child: its pid, its port, and a way to ask for its counters. */
class FloodServer {
  private readonly answers: Array<(line: string) => void> = []
  private constructor(
    readonly child: ChildProcessWithoutNullStreams,
    readonly port: number,
    lines: ReturnType<typeof createInterface>,
  ) {
    lines.on('line', (l) => this.answers.shift()?.(l))
  }

  static async start(addr: string): Promise<FloodServer> {
    const child = spawn(
      process.execPath,
      [...process.execArgv.filter((a) => !a.startsWith('--test')), fileURLToPath(import.meta.url)],
      {
        env: { ...process.env, [SERVER_ENV]: addr },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    )
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const lines = createInterface({ input: child.stdout })
    const first = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`flood server did not start: ${stderr}`)), 20_000)
      lines.once('line', (l) => {
        clearTimeout(timer)
        resolve(l)
      })
      child.once('exit', (code) => reject(new Error(`flood server exited ${code}: ${stderr}`)))
    })
    return new FloodServer(child, (JSON.parse(first) as { port: number }).port, lines)
  }

  stats(): Promise<Stats> {
    return new Promise((resolve) => {
      this.answers.push((l) => resolve(JSON.parse(l) as Stats))
      this.child.stdin.write('stats\n')
    })
  }

  /** Resident set size in bytes, from /proc. */
  rss(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.child.pid}/status`, 'utf8'))
    return Number(m?.[1] ?? Number.NaN) * 1024
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.stdin.end()
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
}

if (process.env[SERVER_ENV] !== undefined) {
  await serveForFlood(process.env[SERVER_ENV])
} else {
  describe('malformed flood', () => {
    test('100,000 malformed packets at 5,000/s: all counted, server healthy after', {
      timeout: 90_000,
    }, async (t) => {
      const addr = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`
      const server = await FloodServer.start(addr)
      t.after(() => server.stop())
      const port = server.port
      const next = rng(0xf100d)
      const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 22 })
      let replies = 0
      sock.on('message', () => replies++)
      await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()))
      t.after(() => sock.close())

      const WARMUP = 5_000
      const expected = new Map<MalformedReason, number>()
      let answerable = 0
      const packets: Buffer[] = []
      for (let i = 0; i < WARMUP + TOTAL; i++) {
        const [bytes, reason, answered] = malformed(next, i)
        packets.push(bytes)
        expected.set(reason, (expected.get(reason) ?? 0) + 1)
        if (answered) answerable++
      }
      // Warm up (JIT, buffer pools, V8's young generation sized for this load) before the memory baseline.
      await queryAll(sock, addr, port, 2_000)
      const drops0 = kernelDrops(addr, port)
      const senderPort = sock.address().port
      const replyDrops0 = kernelDrops('127.0.0.1', senderPort)
      await flood(sock, addr, port, packets.slice(0, WARMUP), DEADLINE_MS)
      await settleAsync(async () => (await server.stats()).total >= WARMUP)
      const rss0 = server.rss()
      const t0 = Date.now()
      const sent = await flood(sock, addr, port, packets.slice(WARMUP), DEADLINE_MS)
      const elapsed = Date.now() - t0
      assert.equal(sent, TOTAL, `sent only ${sent} in ${elapsed} ms`)
      await settleAsync(
        async () => (await server.stats()).total + kernelDrops(addr, port) - drops0 >= WARMUP + TOTAL,
      )

      // Exact accounting: every packet is either counted by the server or dropped by the kernel (receive buffer
      // full while the event loop was busy, which happens only when the machine is starved of CPU).
      const stats = await server.stats()
      const dropped = kernelDrops(addr, port) - drops0
      assert.ok(
        dropped <= TOTAL / 10,
        `kernel dropped ${dropped} packets: the server fell far behind 5,000/s`,
      )
      assert.equal(stats.total + dropped, WARMUP + TOTAL)
      if (dropped === 0) {
        for (const [reason, n] of expected) assert.equal(stats.byReason[reason], n, reason)
        // The answers travel back too: every one arrives or is counted as dropped at our socket.
        const lost = (): number => kernelDrops('127.0.0.1', senderPort) - replyDrops0
        await settleAsync(async () => replies - 2_000 + lost() >= answerable)
        assert.equal(
          replies - 2_000 + lost(),
          answerable,
          'every packet with a readable query header got FORMERR/NOTIMP',
        )
      }

      // 100 valid queries afterwards, every one answered correctly.
      assert.equal(await queryAll(sock, addr, port, 100), 100)
      const { stdout } = await run('dig', [
        `@${addr}`,
        '-p',
        String(port),
        '+short',
        '+time=2',
        '+tries=1',
        `n7.c.${D}`,
      ])
      assert.equal(stdout.trim(), '100.64.1.8')

      const growthMb = (server.rss() - rss0) / 2 ** 20
      assert.ok(growthMb < 20, `RSS grew ${growthMb.toFixed(1)} MB`)
      process.stderr.write(
        `# flood: ${sent} packets in ${elapsed} ms, ${dropped} dropped by the kernel, server RSS ${growthMb >= 0 ? '+' : ''}${growthMb.toFixed(1)} MB\n`,
      )
    })
  })
}

/** Sends the packets at RATE_PER_S (small bursts every 2 ms), within a deadline; returns how many went out. */
async function flood(
  sock: dgram.Socket,
  addr: string,
  port: number,
  packets: Buffer[],
  deadlineMs: number,
): Promise<number> {
  const t0 = Date.now()
  let sent = 0
  while (sent < packets.length && Date.now() - t0 < deadlineMs) {
    const allowed = Math.min(packets.length, Math.floor(((Date.now() - t0) * RATE_PER_S) / 1000) + 10)
    while (sent < allowed) sock.send(packets[sent++]!, port, addr)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  return sent
}

/** Waits (up to 3 s) for the last packets in flight to be read. */
async function settleAsync(done: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 150 && !(await done()); i++) await new Promise((r) => setTimeout(r, 20))
}

/** The kernel's drop counter of our UDP socket (last column of /proc/net/udp), found by address and port. */
function kernelDrops(addr: string, port: number): number {
  const hexAddr = addr
    .split('.')
    .reverse()
    .map((o) => Number(o).toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase()
  const local = `${hexAddr}:${port.toString(16).toUpperCase().padStart(4, '0')}`
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f[1] === local) return Number(f[f.length - 1])
  }
  throw new Error(`socket ${addr}:${port} not in /proc/net/udp`)
}

/** Sends `n` valid queries (10 in flight) and returns how many came back with the right address. */
async function queryAll(sock: dgram.Socket, addr: string, port: number, n: number): Promise<number> {
  let good = 0
  let done = 0
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${done}/${n} valid queries answered`)), 10_000)
    const pending = new Map<number, number>()
    const onMessage = (m: Buffer): void => {
      const id = m.readUInt16BE(0)
      const want = pending.get(id)
      if (want === undefined) return
      pending.delete(id)
      const p = dnsPacket.decode(m)
      if ((p.answers?.[0] as { data?: string } | undefined)?.data === `100.64.1.${want + 1}`) good++
      done++
      if (done === n) {
        clearTimeout(timer)
        sock.off('message', onMessage)
        resolve(good)
      } else if (done + pending.size < n) send(done + pending.size)
    }
    const send = (i: number): void => {
      const id = 0x8000 + i
      pending.set(id, i % 50)
      sock.send(validQuery(id, `n${i % 50}.c.${D}`, i % 2 === 0), port, addr)
    }
    sock.on('message', onMessage)
    for (let i = 0; i < Math.min(10, n); i++) send(i)
  })
}
