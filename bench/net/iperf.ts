// One iperf3 TCP test between two lab hosts: a one-shot server bound to the target address, a client for N
// seconds, and the receiver's throughput from the client's JSON report. Also samples the CPU time of given
// processes (the tunnel daemons) over the test.

import type { Host } from '../../netns-tests/lib/topology.js'
import { waitFor } from '../../netns-tests/lib/wait.js'
import { CLK_TCK, cpuTicks } from './sys.js'

export interface IperfResult {
  mbits: number
  /** CPU use of each watched pid during the test, % of one core. */
  cpuPct: number[]
}

let portSeq = 0

/** iperf3 -c serverAddr from client for seconds; throws when the test produced no result. */
export async function iperfTcp(
  server: Host,
  serverAddr: string,
  client: Host,
  seconds: number,
  watchPids: readonly number[] = [],
): Promise<IperfResult> {
  const port = 5201 + (portSeq++ % 50)
  const srv = server.spawn(['iperf3', '-s', '-1', '-B', serverAddr, '-p', String(port)], {
    logName: `iperf3-s-${port}`,
  })
  try {
    await waitFor(
      async () =>
        (await server.exec(['ss', '-Htln', `sport = :${port}`], { timeoutMs: 5_000 })).stdout.trim() !== '',
      { timeoutMs: 10_000, intervalMs: 50, what: `iperf3 server on ${serverAddr}:${port}` },
    )
    const before = watchPids.map(cpuTicks)
    const t0 = performance.now()
    const r = await client.exec(
      ['iperf3', '-c', serverAddr, '-p', String(port), '-t', String(seconds), '-J'],
      {
        timeoutMs: (seconds + 20) * 1000,
      },
    )
    const elapsedS = (performance.now() - t0) / 1000
    const cpuPct = watchPids.map((p, i) => ((cpuTicks(p) - before[i]!) / CLK_TCK / elapsedS) * 100)
    let bps: number | undefined
    try {
      bps = (JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second?: number } } }).end
        ?.sum_received?.bits_per_second
    } catch {}
    if (!bps)
      throw new Error(`iperf3 to ${serverAddr} gave no result: ${(r.stdout + r.stderr).slice(0, 600)}`)
    return { mbits: bps / 1e6, cpuPct }
  } finally {
    await srv.stop(3_000)
  }
}
