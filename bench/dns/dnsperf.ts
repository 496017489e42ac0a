// Runs dnsperf against one server and reads its result: the summary (queries per second, lost, response codes)
// and, from `-v`, every query's latency, streamed into a histogram for the p50 (dnsperf 2.10 prints no
// percentiles itself). Bounded: dnsperf stops after `seconds`, and is killed if it overruns by 30 s.

import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

export interface PerfResult {
  qps: number
  sent: number
  lost: number
  nxdomain: number
  /** Wall time of the run, seconds (dnsperf's "Run time"). */
  runTime: number
  p50Us: number
  p99Us: number
}

export interface PerfOptions {
  server: string
  port: number
  queries: string
  seconds: number
  outstanding: number
}

/** 10 µs buckets up to 1 s: enough resolution for loopback p50s, bounded memory whatever the query count. */
const BUCKET_US = 10
const BUCKETS = 100_000

export async function dnsperf(o: PerfOptions): Promise<PerfResult> {
  const args = [
    '-s',
    o.server,
    '-p',
    String(o.port),
    '-d',
    o.queries,
    '-l',
    String(o.seconds),
    '-q',
    String(o.outstanding),
    '-t',
    '2',
    '-v',
  ]
  const child = spawn('dnsperf', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const killer = setTimeout(() => child.kill('SIGKILL'), (o.seconds + 30) * 1000)
  const hist = new Uint32Array(BUCKETS)
  let count = 0
  const summary: string[] = []
  const lines = createInterface({ input: child.stdout })
  lines.on('line', (line) => {
    if (line.startsWith('> ')) {
      const sec = Number(line.slice(line.lastIndexOf(' ') + 1))
      if (Number.isFinite(sec)) {
        hist[Math.min(BUCKETS - 1, Math.floor((sec * 1e6) / BUCKET_US))]!++
        count++
      }
    } else {
      summary.push(line)
    }
  })
  child.stderr.on('data', (d: Buffer) => summary.push(d.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
  clearTimeout(killer)
  const text = summary.join('\n')
  if (code !== 0) throw new Error(`dnsperf exited with ${code}: ${text.slice(-500)}`)
  const num = (re: RegExp): number => Number(re.exec(text)?.[1] ?? Number.NaN)
  const pct = (p: number): number => {
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += hist[i]!
      if (seen >= count * p) return (i + 0.5) * BUCKET_US
    }
    return Number.NaN
  }
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    nxdomain: num(/NXDOMAIN (\d+)/) || 0,
    runTime: num(/Run time \(s\):\s+([\d.]+)/),
    p50Us: pct(0.5),
    p99Us: pct(0.99),
  }
}
