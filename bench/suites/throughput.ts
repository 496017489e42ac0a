// Suite `throughput`: iperf3 TCP for 3 s over the tunnel between two nodes on one LAN bridge: ours (two
// daemons, WireGuard via wireguard-go) vs Nebula (lighthouse + 2 nodes) and vs a hand-configured wireguard-go
// pair, interleaved per run. Each system is up only during its own test. CPU of the tunnel processes during
// the test is printed as a comment: on 2 cores the test is CPU-bound, so CPU is what the numbers compare.
// Every system gets SETTLE_MS after its first ping before iperf3 starts: the figure is a tunnel's throughput,
// not the contest between a transfer and the end of a start-up. Measured without it, our daemons spent 6-7 %
// of a core each during a transfer begun at the first ping (the rest of their start-up: the first idle heap
// collection, lanes, DHT announces), against 2-3 % in one begun after 12 s; on 2 saturated cores that
// difference alone is about 4 % of the throughput.

import { Lab } from '../../netns-tests/lib/lab.js'
import type { Host } from '../../netns-tests/lib/topology.js'
import type { Figure } from '../lib/report.js'
import { median } from '../lib/report.js'
import type { Suite, SuiteOptions, SuiteResult } from '../lib/suite.js'
import { ensureHarness, ensurePackages, versionOf } from '../net/deps.js'
import { iperfTcp } from '../net/iperf.js'
import { NEBULA_SETTINGS, NebulaNet } from '../net/nebula.js'
import { dhtAddress, OurMesh, ourSettings } from '../net/ours.js'
import { firstReplyAt } from '../net/ping.js'
import { hostNote, round1 } from '../net/sys.js'
import { WGGO_SETTINGS, WgGoPair } from '../net/wggo.js'

const SECONDS = 3
const SETTLE_MS = 5_000

const settle = () => new Promise((r) => setTimeout(r, SETTLE_MS))

interface Sample {
  mbits: number
  /** % of one core: sender side, receiver side (daemon + its wireguard-go for ours). */
  cpu: [number, number]
}

async function ours(lab: Lab, a: Host, b: Host, log: (m: string) => void): Promise<Sample> {
  const mesh = new OurMesh(lab)
  try {
    const [na, nb] = await mesh.enrol([{ host: a }, { host: b }], [dhtAddress(a)])
    await Promise.all([mesh.start(na!, true), mesh.start(nb!, true)])
    if ((await firstReplyAt(a, nb!.node.ipv4, '100.64.0.0', 60_000)) === null)
      throw new Error('ours: no ping a->b')
    await settle()
    const wa = mesh.wireguardGoPid(na!)
    const wb = mesh.wireguardGoPid(nb!)
    const pids = [na!.daemon!.pid, wa ?? -1, nb!.daemon!.pid, wb ?? -1]
    const r = await iperfTcp(b, nb!.node.ipv4, a, SECONDS, pids)
    const [da, ga, db, gb] = r.cpuPct.map((x) => (Number.isFinite(x) ? x : 0)) as [
      number,
      number,
      number,
      number,
    ]
    log(
      `  ours: ${Math.round(r.mbits)} Mbit/s; cpu % daemon/wireguard-go sender ${Math.round(da)}/${Math.round(ga)} receiver ${Math.round(db)}/${Math.round(gb)}`,
    )
    return { mbits: r.mbits, cpu: [da + ga, db + gb] }
  } finally {
    await mesh.stopAll(log)
  }
}

async function nebula(lab: Lab, lh: Host, a: Host, b: Host, log: (m: string) => void): Promise<Sample> {
  const net = new NebulaNet(lab, lh, [a, b])
  try {
    await net.startLighthouse()
    const [na, nb] = net.members as [(typeof net.members)[0], (typeof net.members)[0]]
    net.start(na)
    net.start(nb)
    if ((await firstReplyAt(a, nb.ip, '10.232.0.0', 60_000)) === null) throw new Error('nebula: no ping a->b')
    await settle()
    const r = await iperfTcp(b, nb.ip, a, SECONDS, [na.proc!.pid, nb.proc!.pid])
    log(
      `  nebula: ${Math.round(r.mbits)} Mbit/s; cpu % sender ${Math.round(r.cpuPct[0]!)} receiver ${Math.round(r.cpuPct[1]!)}`,
    )
    return { mbits: r.mbits, cpu: [r.cpuPct[0]!, r.cpuPct[1]!] }
  } finally {
    await net.stopAll()
  }
}

async function wggo(lab: Lab, a: Host, b: Host, log: (m: string) => void): Promise<Sample> {
  const pair = new WgGoPair(lab, a, b)
  try {
    await pair.up()
    const [ea, eb] = pair.ends
    if ((await firstReplyAt(a, eb.ip, '10.233.0.0', 30_000)) === null)
      throw new Error('wireguard-go: no ping a->b')
    await settle()
    const r = await iperfTcp(b, eb.ip, a, SECONDS, [ea.proc!.pid, eb.proc!.pid])
    log(
      `  wireguard-go: ${Math.round(r.mbits)} Mbit/s; cpu % sender ${Math.round(r.cpuPct[0]!)} receiver ${Math.round(r.cpuPct[1]!)}`,
    )
    return { mbits: r.mbits, cpu: [r.cpuPct[0]!, r.cpuPct[1]!] }
  } finally {
    await pair.down()
  }
}

const cpuNote = (name: string, xs: Sample[]) =>
  `${name} cpu during the test (% of one core, median): sender ${Math.round(median(xs.map((x) => x.cpu[0])))} receiver ${Math.round(median(xs.map((x) => x.cpu[1])))}`

async function run(opts: SuiteOptions): Promise<SuiteResult> {
  const { log } = opts
  ensureHarness(log)
  ensurePackages(['nebula', 'iperf3', 'wireguard-go', 'wireguard-tools', 'iputils-ping'], log)
  return Lab.run(
    async (lab) => {
      const lan = await lab.bridge('lan')
      const hosts: Host[] = []
      for (const name of ['lh', 'a', 'b']) {
        const h = await lab.host(name)
        await lab.attach(h, lan)
        hosts.push(h)
      }
      const [lh, a, b] = hosts as [Host, Host, Host]
      const o: Sample[] = []
      const n: Sample[] = []
      const w: Sample[] = []
      const under: number[] = []
      for (let i = 0; i < opts.runs; i++) {
        log(`throughput: run ${i + 1}/${opts.runs}`)
        o.push(await ours(lab, a, b, log))
        n.push(await nebula(lab, lh, a, b, log))
        w.push(await wggo(lab, a, b, log))
        if (i === 0) under.push((await iperfTcp(b, b.addr(lan), a, SECONDS)).mbits)
      }
      const mb = (xs: Sample[]) => xs.map((x) => round1(x.mbits))
      const figures: Figure[] = [
        {
          metric: 'tcp_vs_wireguard_go',
          unit: 'Mbit/s',
          better: 'higher',
          ours: mb(o),
          anchor: mb(w),
          anchorName: 'wireguard-go',
          target: 0.95,
          notes: [cpuNote('ours (daemon + its wireguard-go)', o), cpuNote('wireguard-go', w)],
        },
        {
          metric: 'tcp_vs_nebula',
          unit: 'Mbit/s',
          better: 'higher',
          ours: mb(o),
          anchor: mb(n),
          anchorName: 'nebula',
          target: 1,
          notes: [cpuNote('nebula', n)],
        },
      ]
      return {
        figures,
        comments: [
          hostNote(),
          `topology: 3 namespaces on one bridge (nebula's lighthouse on the third); iperf3 -t ${SECONDS} TCP a -> b over the overlay, receiver's rate, started ${SETTLE_MS / 1000} s after the first ping; runs interleaved ours, nebula, wireguard-go`,
          `same bridge without a tunnel (reference, run 1): ${Math.round(under[0]!)} Mbit/s`,
          `${ourSettings()}; ${versionOf(['wireguard-go', '--version'])}`,
          `nebula ${versionOf(['nebula', '-version']).replace('Version: ', '')}; ${NEBULA_SETTINGS}`,
          WGGO_SETTINGS,
        ],
      }
    },
    { name: 'bench-throughput' },
  )
}

export const suite: Suite = {
  describe: 'iperf3 TCP over the tunnel between two nodes, vs Nebula and vs hand-configured wireguard-go',
  run,
}
