// Where an idle mesh's underlay traffic goes, per kind (bench/net/traffic.ts): starts N daemons on one bridge
// exactly as the failover suite's kill scenario does (the first runs the DHT bootstrap), waits until every
// node routes to every other over a direct link (a full mesh), lets it settle, then captures what each host
// sends (tcpdump -Q out) for a window and prints packets/s and bytes/s per node by kind, with the interfaces'
// own tx counters beside them as a cross-check, and what the daemons logged meanwhile. Root; about a minute.
//
//   node dist/bench/tools/idle-breakdown.js [--nodes 5] [--secs 10] [--settle 5] [--any-route]

import path from 'node:path'
import { Lab } from '../../netns-tests/lib/lab.js'
import type { Host } from '../../netns-tests/lib/topology.js'
import { waitFor } from '../../netns-tests/lib/wait.js'
import { median } from '../lib/report.js'
import { ensurePackages } from '../net/deps.js'
import { dhtAddress, OurMesh } from '../net/ours.js'
import { sleep, txCounters } from '../net/sys.js'
import { emptyTally, TRAFFIC_KINDS, type TrafficTally, tallyPcapFile } from '../net/traffic.js'

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback
  return Number.isFinite(v) && v > 0 ? v : fallback
}

async function main(): Promise<void> {
  const count = arg('nodes', 5)
  const secs = arg('secs', 10)
  const settle = arg('settle', 5)
  ensurePackages(['tcpdump'], (m) => console.log(m))
  await Lab.run(
    async (lab) => {
      const lan = await lab.bridge('lan')
      const hosts: Host[] = []
      for (let i = 1; i <= count; i++) {
        const h = await lab.host(`s${i}`)
        await lab.attach(h, lan)
        hosts.push(h)
      }
      const mesh = new OurMesh(lab)
      try {
        const nodes = await mesh.enrol(
          hosts.map((host) => ({ host })),
          [dhtAddress(hosts[0]!)],
        )
        await Promise.all(nodes.map((n) => mesh.start(n, true)))
        // A full mesh: every node routes to every other over its own direct link (--any-route: some routes
        // may still be relayed, as the failover suite's kill scenario waits).
        const anyRoute = process.argv.includes('--any-route')
        await waitFor(
          async () => {
            const rs = await Promise.all(nodes.map((n) => mesh.routes(n)))
            return rs.every(
              (r) => r.length === nodes.length - 1 && (anyRoute || r.every((x) => x.kind === 'direct')),
            )
          },
          { timeoutMs: 60_000, intervalMs: 100, what: 'every node routes to every other' },
        )
        await sleep(settle * 1000)
        const files = hosts.map((h) => path.join(lab.scratchDir, `${h.name}.out.pcap`))
        const dumps = hosts.map((h, i) =>
          h.spawn(['tcpdump', '-i', h.iface().name, '-Q', 'out', '-n', '-s', '128', '-U', '-w', files[i]!], {
            logName: 'tcpdump',
          }),
        )
        await Promise.all(dumps.map((d) => d.waitForLog('listening on', 10_000)))
        const before = await Promise.all(hosts.map(txCounters))
        const t0 = Date.now()
        await sleep(secs * 1000)
        const after = await Promise.all(hosts.map(txCounters))
        const elapsed = (Date.now() - t0) / 1000
        await Promise.all(dumps.map((d) => d.stop(5_000)))
        const tallies = files.map((f) => tallyPcapFile(f))
        report(tallies, hosts, before, after, elapsed, secs)
        // What the daemons logged in the window: link events re-originate (and flood) a link-state record.
        const counts = new Map<string, number>()
        for (const n of nodes) {
          for (const e of mesh.events(n)) {
            if (e.t < t0 || e.t > t0 + elapsed * 1000) continue
            const key = e.msg === 'link state' ? `link ${String(e.event)}` : String(e.msg)
            counts.set(key, (counts.get(key) ?? 0) + 1)
          }
        }
        const lines = [...counts].sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k}: ${v}`)
        const rtts = nodes.flatMap((n) =>
          mesh
            .events(n)
            .filter((e) => e.t >= t0 && e.msg === 'link state' && e.event === 'metric-changed')
            .map((e) => `${Math.round(Number(e.base_rtt_us) / 100) / 10}/${e.loss_permille}`),
        )
        if (rtts.length > 0)
          lines.push(`base rtt (ms) / loss (permille) reported by those metric changes: ${rtts.join(', ')}`)
        process.stdout.write(`# daemon log lines in the window, all nodes: ${lines.join('; ') || 'none'}\n`)
      } finally {
        await mesh.stopAll((m) => process.stderr.write(`${m}\n`))
      }
    },
    { name: 'idle-breakdown' },
  )
}

function report(
  tallies: TrafficTally[],
  hosts: Host[],
  before: [number, number][],
  after: [number, number][],
  elapsed: number,
  window: number,
): void {
  const out: string[] = []
  out.push(
    `# idle ${hosts.length}-node mesh on one bridge, ${window} s capture per host (tcpdump -Q out); per node per second, median over nodes (mean in brackets)`,
  )
  out.push(`${'kind'.padEnd(15)}${'pkt/s'.padStart(10)}${'B/s'.padStart(12)}`)
  const total = emptyTally()
  for (const k of TRAFFIC_KINDS) {
    const pps = tallies.map((t) => t[k].packets / window)
    const bps = tallies.map((t) => t[k].bytes / window)
    for (const t of tallies) {
      total[k].packets += t[k].packets
      total[k].bytes += t[k].bytes
    }
    if (pps.every((x) => x === 0)) continue
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
    out.push(
      `${k.padEnd(15)}${median(pps).toFixed(1).padStart(10)}${median(bps).toFixed(0).padStart(12)}   [${mean(pps).toFixed(1)} pkt/s, ${mean(bps).toFixed(0)} B/s]`,
    )
  }
  const sumP = tallies.map((t) => TRAFFIC_KINDS.reduce((a, k) => a + t[k].packets, 0) / window)
  const sumB = tallies.map((t) => TRAFFIC_KINDS.reduce((a, k) => a + t[k].bytes, 0) / window)
  out.push(
    `${'total (pcap)'.padEnd(15)}${median(sumP).toFixed(1).padStart(10)}${median(sumB).toFixed(0).padStart(12)}`,
  )
  const txP = after.map((a, i) => (a[0] - before[i]![0]) / elapsed)
  const txB = after.map((a, i) => (a[1] - before[i]![1]) / elapsed)
  out.push(
    `${'total (tx_*)'.padEnd(15)}${median(txP).toFixed(1).padStart(10)}${median(txB).toFixed(0).padStart(12)}`,
  )
  out.push(
    `# per host (pcap pkt/s, B/s): ${hosts.map((h, i) => `${h.name} ${sumP[i]!.toFixed(1)}/${sumB[i]!.toFixed(0)}`).join(', ')}`,
  )
  process.stdout.write(`${out.join('\n')}\n`)
}

main().catch((err) => {
  process.stderr.write(`idle-breakdown: ${(err as Error).stack ?? err}\n`)
  process.exit(1)
})
