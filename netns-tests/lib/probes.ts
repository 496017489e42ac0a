// Measuring the network a test built: ping statistics (RTT and loss) and a tiny TCP listener/connector, so tests
// assert on numbers and on who-saw-whom instead of on "the command worked". The TCP pieces are Node one-liners
// run inside the namespace, so they need nothing beyond the node binary already running the tests.

import type { Proc } from './proc.js'
import type { Host } from './topology.js'

export interface PingStats {
  transmitted: number
  received: number
  /** 0..100, computed from the two counts (not ping's rounded figure). */
  lossPct: number
  /** ping's summary in ms; undefined when nothing came back. */
  rtt: { min: number; avg: number; max: number; mdev: number } | undefined
  /** Median round trip in ms: what delay assertions should use, since a loaded machine inflates single samples
   * (and so the average and maximum) but can never make a packet faster than its delay. */
  medianMs: number | undefined
  /** Round-trip time of each reply in arrival order, ms (for percentiles and gaps). */
  times: number[]
  /** ping's summary lines, for messages. */
  output: string
}

export interface PingOptions {
  count?: number
  /** Seconds between pings (root may go below 0.2). Default 0.2. */
  intervalS?: number
  /** Seconds to wait for each reply. Default 1. */
  timeoutS?: number
}

/**
 * Pings dst from host and parses every reply and the summary. Uses -U (user-to-user time) because a delay the
 * harness applies on a host's ingress happens after the kernel timestamps the packet, and plain ping would not
 * count it.
 */
export async function ping(host: Host, dst: string, opts: PingOptions = {}): Promise<PingStats> {
  const count = opts.count ?? 5
  const interval = opts.intervalS ?? 0.2
  const timeout = opts.timeoutS ?? 1
  const argv = ['ping', '-n', '-U', '-c', `${count}`, '-i', `${interval}`, '-W', `${timeout}`, dst]
  const r = await host.exec(argv, { timeoutMs: Math.ceil((count * interval + timeout) * 1000) + 10_000 })
  const out = r.stdout + r.stderr
  const counts = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(out)
  const transmitted = Number(counts?.[1] ?? 0)
  const received = Number(counts?.[2] ?? 0)
  const m = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(out)
  const rtt = m ? { min: Number(m[1]), avg: Number(m[2]), max: Number(m[3]), mdev: Number(m[4]) } : undefined
  const lossPct = transmitted > 0 ? (100 * (transmitted - received)) / transmitted : 100
  const times = [...r.stdout.matchAll(/ time=([\d.]+) ms/g)].map((x) => Number(x[1]))
  const summary = out.slice(Math.max(0, out.indexOf('---'))).trim()
  return { transmitted, received, lossPct, rtt, medianMs: percentile(times, 0.5), times, output: summary }
}

/** The q-quantile (0..1) of samples by nearest rank, or undefined for no samples. */
export function percentile(samples: readonly number[], q: number): number | undefined {
  if (samples.length === 0) return undefined
  const sorted = [...samples].sort((x, y) => x - y)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))]
}

/** One ping with a short timeout: true when a reply came back. */
export async function canPing(host: Host, dst: string, timeoutS = 1): Promise<boolean> {
  const r = await host.exec(['ping', '-n', '-q', '-c', '1', '-W', String(timeoutS), dst], {
    timeoutMs: timeoutS * 1000 + 10_000,
  })
  return r.ok
}

const LISTENER = `
const net = require('node:net')
const [addr, port] = process.argv.slice(1)
const srv = net.createServer((s) => {
  console.log('accepted', s.remoteAddress, s.remotePort)
  s.end('hello\\n')
})
srv.listen(Number(port), addr, () => console.log('listening', addr, port))
process.on('SIGTERM', () => srv.close(() => process.exit(0)))
`

const CONNECTOR = `
const net = require('node:net')
const [addr, port, ms, localPort] = process.argv.slice(1)
const s = net.connect({ host: addr, port: Number(port), timeout: Number(ms), localPort: localPort ? Number(localPort) : undefined })
s.on('connect', () => console.log('connected', s.localAddress, s.localPort))
s.on('data', (d) => { process.stdout.write('data ' + d); s.destroy(); process.exit(0) })
s.on('timeout', () => { console.log('error ETIMEDOUT'); process.exit(3) })
s.on('error', (e) => { console.log('error', e.code || e.message); process.exit(2) })
`

export interface TcpListener {
  proc: Proc
  /** Remote "address port" pairs seen so far (read from the listener's log). */
  accepted(): Array<{ address: string; port: number }>
  stop(): Promise<void>
}

/** A TCP server in host on addr:port that greets and closes each connection, logging who connected. */
export async function tcpListen(host: Host, addr: string, port: number): Promise<TcpListener> {
  const proc = host.spawn([process.execPath, '-e', LISTENER, addr, String(port)], {
    logName: `tcp-listen-${port}`,
  })
  await proc.waitForLog('listening', 10_000)
  return {
    proc,
    accepted: () =>
      [...proc.logText().matchAll(/^accepted (\S+) (\d+)$/gm)].map((m) => ({
        address: m[1]!,
        port: Number(m[2]),
      })),
    stop: async () => {
      await proc.stop()
    },
  }
}

export interface TcpConnectResult {
  ok: boolean
  /** The local address the connection used (before any NAT). */
  localAddress: string | undefined
  /** ECONNREFUSED, ETIMEDOUT, ENETUNREACH... when it failed. */
  error: string | undefined
}

export interface TcpConnectOptions {
  /** Give up after this long (default 2 s); a silently dropped SYN ends as ETIMEDOUT. */
  timeoutMs?: number
  /** Bind this source port (to observe a NAT's port mapping). */
  localPort?: number
}

/** Tries one TCP connection from host and reads the greeting; bounded by timeoutMs. */
export async function tcpConnect(
  host: Host,
  addr: string,
  port: number,
  opts: TcpConnectOptions = {},
): Promise<TcpConnectResult> {
  const timeoutMs = opts.timeoutMs ?? 2_000
  const args = [addr, String(port), String(timeoutMs), ...(opts.localPort ? [String(opts.localPort)] : [])]
  const r = await host.exec([process.execPath, '-e', CONNECTOR, ...args], {
    timeoutMs: timeoutMs + 10_000,
  })
  const local = /^connected (\S+) \d+$/m.exec(r.stdout)?.[1]
  const ok = r.ok && /^data hello$/m.test(r.stdout)
  const error = ok
    ? undefined
    : (/^error (\S+)/m.exec(r.stdout)?.[1] ?? (r.stderr.trim() || `exit ${r.code}`))
  return { ok, localAddress: local, error }
}
