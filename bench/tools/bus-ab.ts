// Two builds of the router side by side on the bus: a pair of daemons of this build and a pair of another
// (a copied bundle: its blackroad-cli.cjs, blackroad.cjs beside it), each pair on its own bridge, measured in
// alternating batches (this, other, other, this, ...) so both meet the same stretch of a shared machine, whose
// speed moves 20-30 % between back-to-back runs (one run per build says little about a 5 % change). Prints each
// build's per-batch figures, their medians and the median of the paired ratios. Root; a few minutes.
//
//   node dist/bench/tools/bus-ab.js --other /path/to/copy/blackroad-cli.cjs [--mode rr|tp] [--rounds 12]
//     [--batch 2000] [--config-this JSON] [--config-other JSON]
// --config-*: config sections for one side's daemons, e.g. --config-other '{"network":{"busy_poll_us":0}}' with
// --other a copy of this build compares a setting rather than two builds.
// rr: sequential request/reply, p50 (µs) per batch; tp: one-way throughput (msgs/s) per batch of messages.
// Both with the daemons' CPU (µs) per round trip or message.

import { readFileSync } from 'node:fs'
import { Lab } from '../../netns-tests/lib/lab.js'
import { ourClient, startRouterPair } from '../bus/ours.js'
import { alternate, type BusSide, requestReply, throughput } from '../bus/workload.js'
import { median } from '../lib/report.js'
import { OurMesh } from '../net/ours.js'
import { CLK_TCK, cpuTicks, round1 } from '../net/sys.js'

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}
/** --config-this / --config-other: JSON of config sections for that side's daemons (e.g. {"network":{...}}). */
function extraConfig(name: string): Record<string, Record<string, unknown>> {
  const text = arg(name)
  if (text === undefined) return {}
  const v = JSON.parse(text) as unknown
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new Error(`--${name}: expected a JSON object`)
  return v as Record<string, Record<string, unknown>>
}

const other = arg('other')
if (other === undefined || !readFileSync(other, 'utf8').startsWith('#!')) {
  console.error('usage: bus-ab.js --other /path/to/blackroad-cli.cjs [--mode rr|tp] [--rounds N] [--batch N]')
  process.exit(64)
}
const mode = arg('mode') ?? 'rr'
const rounds = Number(arg('rounds') ?? 12)
const batch = Number(arg('batch') ?? (mode === 'tp' ? 100_000 : 2000))
const SIZE = 256

interface Pair {
  name: string
  a: BusSide
  b: BusSide
  pids: number[]
  figure: number[]
  cpu: number[]
}

await Lab.run(
  async (lab) => {
    const pairs: Pair[] = []
    const meshes: OurMesh[] = []
    const cliBefore = process.env.BRT_CLI
    try {
      for (const [k, cli] of [
        ['t', undefined],
        ['o', other],
      ] as const) {
        // The harness starts daemons with the bundle BRT_CLI names (netns-tests/lib/repo.ts).
        if (cli === undefined) delete process.env.BRT_CLI
        else process.env.BRT_CLI = cli
        const mesh = new OurMesh(lab, { logLevel: 'warn' })
        meshes.push(mesh)
        const config = {
          api: { stream_max_pending_bytes: 512 * 1024 * 1024 },
          ...extraConfig(k === 't' ? 'config-this' : 'config-other'),
        }
        const [na, nb] = await startRouterPair(lab, mesh, { bridge: `ab${k}`, prefix: k, config })
        pairs.push({
          name: cli === undefined ? 'this' : 'other',
          a: await ourClient(na),
          b: await ourClient(nb),
          pids: [na.daemon!.pid, nb.daemon!.pid],
          figure: [],
          cpu: [],
        })
      }
      if (cliBefore === undefined) delete process.env.BRT_CLI
      else process.env.BRT_CLI = cliBefore
      // Warm-up, unmeasured: JIT and heaps of both builds.
      for (const p of pairs) {
        await throughput(p.a, p.b, 50_000, SIZE)
        await requestReply(p.a, p.b, 5000, 500, SIZE)
      }
      // "this" plays the part of ours in alternate(): this, other, other, this, ...
      await alternate(rounds, async (first) => {
        const p = first ? pairs[0]! : pairs[1]!
        const c0 = p.pids.map(cpuTicks)
        let items: number
        if (mode === 'tp') {
          const t = await throughput(p.a, p.b, batch, SIZE)
          p.figure.push(Math.round(t.rate))
          items = batch
        } else {
          const r = await requestReply(p.a, p.b, batch, 100, SIZE)
          p.figure.push(Math.round(r.p50))
          items = batch + 100
        }
        const ticks = p.pids.reduce((s, pid, k) => s + cpuTicks(pid) - c0[k]!, 0)
        p.cpu.push(Math.round(((ticks * 1e6) / CLK_TCK / items) * 10) / 10)
      })
      const unit = mode === 'tp' ? 'msgs/s' : 'p50 µs'
      for (const p of pairs)
        console.log(
          `${p.name}: ${unit} median ${round1(median(p.figure))} [${p.figure.join(' ')}]; daemons' cpu µs per ${mode === 'tp' ? 'message' : 'round trip'} median ${round1(median(p.cpu))} [${p.cpu.join(' ')}]`,
        )
      const [t, o] = pairs as [Pair, Pair]
      const ratio = (xs: number[], ys: number[]) =>
        Math.round(median(xs.map((x, i) => x / ys[i]!)) * 1000) / 1000
      console.log(
        `this/other, median of the paired batches: ${unit} ${ratio(t.figure, o.figure)}, cpu ${ratio(t.cpu, o.cpu)}`,
      )
      for (const p of pairs) {
        p.a.close()
        p.b.close()
      }
    } finally {
      for (const m of meshes) await m.stopAll(() => {})
    }
  },
  { name: 'bus-ab' },
)
