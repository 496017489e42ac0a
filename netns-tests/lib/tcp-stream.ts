// A long-running TCP stream between two hosts, for "the connection survives while X happens" checks: a receiver
// in one namespace counts bytes, a sender in another writes at a steady rate (with backpressure), and both log a
// sample every 100 ms and every error. Node one-liners, so they need nothing beyond the node binary. Afterwards
// the test reads: did either side see an error or an early end (a reset), and what was the longest stall, the
// longest stretch in which the receiver got no new byte.

import type { Proc } from './proc.js'
import type { Host } from './topology.js'

const RECEIVER = `
const net = require('node:net')
const [addr, port] = process.argv.slice(1)
let total = 0, conns = 0
const srv = net.createServer((s) => {
  conns++
  console.log('accepted', s.remoteAddress, conns)
  s.on('data', (d) => { total += d.length })
  s.on('error', (e) => console.log('error', e.code || e.message))
  s.on('end', () => console.log('end'))
})
srv.listen(Number(port), addr, () => console.log('listening'))
setInterval(() => console.log('sample', Date.now(), total), 100)
process.on('SIGTERM', () => process.exit(0))
`

const SENDER = `
const net = require('node:net')
const [addr, port, rate] = process.argv.slice(1)
const chunk = Buffer.alloc(8192, 7)
const perTick = Math.max(1, Math.round(Number(rate) / 10 / chunk.length))
let sent = 0, blocked = false
const s = net.connect({ host: addr, port: Number(port) })
s.setNoDelay(true)
s.on('connect', () => console.log('connected', s.localAddress))
s.on('error', (e) => { console.log('error', e.code || e.message); process.exit(2) })
s.on('close', () => { console.log('closed'); process.exit(3) })
s.on('drain', () => { blocked = false })
setInterval(() => {
  if (!s.readyState || s.readyState !== 'open') return
  for (let i = 0; i < perTick && !blocked; i++) {
    sent += chunk.length
    if (!s.write(chunk)) blocked = true
  }
}, 100)
setInterval(() => console.log('sample', Date.now(), sent), 100)
process.on('SIGTERM', () => { s.destroy(); process.exit(0) })
`

export interface StreamReport {
  /** Bytes the receiver counted. */
  received: number
  /** Errors or early ends either side logged (ECONNRESET, EPIPE, 'end', 'closed'...). */
  problems: string[]
  /** Longest interval without a new byte at the receiver, ms. */
  maxStallMs: number
  /** Receiver connections accepted (more than one means the sender had to reconnect: it never does). */
  connections: number
}

export class TcpStream {
  private constructor(
    readonly receiver: Proc,
    readonly sender: Proc,
  ) {}

  /** Starts a receiver on dst:port in `to` and a sender in `from` writing bytesPerSecond (default 1 MB/s). */
  static async start(
    from: Host,
    to: Host,
    dst: string,
    port: number,
    bytesPerSecond = 1_000_000,
  ): Promise<TcpStream> {
    const receiver = to.spawn([process.execPath, '-e', RECEIVER, dst, String(port)], {
      logName: `tcp-recv-${port}`,
    })
    await receiver.waitForLog('listening', 10_000)
    const sender = from.spawn([process.execPath, '-e', SENDER, dst, String(port), String(bytesPerSecond)], {
      logName: `tcp-send-${port}`,
    })
    await receiver.waitForLog('accepted', 10_000)
    return new TcpStream(receiver, sender)
  }

  /** Bytes the receiver has counted so far (from its last sample line). */
  received(): number {
    const samples = parseSamples(this.receiver.logText())
    return samples.at(-1)?.bytes ?? 0
  }

  /** The report over the samples taken in [from, to] (epoch ms; default everything). */
  report(from = 0, to = Number.MAX_SAFE_INTEGER): StreamReport {
    const recvLog = this.receiver.logText()
    const sendLog = this.sender.logText()
    const samples = parseSamples(recvLog).filter((s) => s.at >= from && s.at <= to)
    let maxStallMs = 0
    let lastChange = samples[0]?.at ?? from
    let lastBytes = samples[0]?.bytes ?? 0
    for (const s of samples) {
      if (s.bytes !== lastBytes) {
        lastBytes = s.bytes
        lastChange = s.at
      }
      maxStallMs = Math.max(maxStallMs, s.at - lastChange)
    }
    const problems = [
      ...[...recvLog.matchAll(/^(error .*|end)$/gm)].map((m) => `receiver: ${m[1]}`),
      ...[...sendLog.matchAll(/^(error .*|closed)$/gm)].map((m) => `sender: ${m[1]}`),
    ]
    if (!this.sender.alive) problems.push(`sender exited (${JSON.stringify(this.sender.exitStatus)})`)
    const connections = [...recvLog.matchAll(/^accepted /gm)].length
    return { received: samples.at(-1)?.bytes ?? 0, problems, maxStallMs, connections }
  }

  async stop(): Promise<void> {
    await this.sender.stop()
    await this.receiver.stop()
  }
}

function parseSamples(text: string): Array<{ at: number; bytes: number }> {
  return [...text.matchAll(/^sample (\d+) (\d+)$/gm)].map((m) => ({ at: Number(m[1]), bytes: Number(m[2]) }))
}
