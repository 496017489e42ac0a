// Suite `join`: time from starting 3 nodes on one LAN bridge to every ordered pair answering a ping over the
// overlay, ours vs Nebula 1.6. Both have their rendezvous node already up before the clock starts: Nebula its
// lighthouse, ours a 4th daemon that runs the federation's DHT bootstrap node (what a control-plane node is).
// Comments: ours' first reply of any pair, and the daemon's own start-up (spawn → "ready", of which Node start
// and module loading) so the part of the join time that is process start-up is visible.

import { Lab } from '../../netns-tests/lib/lab.js'
import type { Host } from '../../netns-tests/lib/topology.js'
import { waitFor } from '../../netns-tests/lib/wait.js'
import type { Figure } from '../lib/report.js'
import { median } from '../lib/report.js'
import type { Suite, SuiteOptions, SuiteResult } from '../lib/suite.js'
import { ensureHarness, ensurePackages, versionOf } from '../net/deps.js'
import { NEBULA_SETTINGS, NebulaNet } from '../net/nebula.js'
import { dhtAddress, OurMesh, ourSettings } from '../net/ours.js'
import { firstReplyAt, type RouteWatch, watchRoutes } from '../net/ping.js'
import { hostNote, round1 } from '../net/sys.js'

const DEADLINE_MS = 60_000

interface JoinSample {
  /** ms from t0 until every ordered pair got a reply. */
  all: number
  /** ms from t0 until the first reply of any pair. */
  first: number
}

/** One ordered pair: pings go from host to ip, its route awaited through watch. */
interface Pair {
  host: Host
  ip: string
  watch: RouteWatch
}

/** Every ordered pair of nodes (src host, dst overlay address), each with its RouteWatch started: before the clock. */
async function watchPairs(nodes: Array<{ host: Host; ip: string }>): Promise<Pair[]> {
  const pairs: Pair[] = []
  for (const a of nodes)
    for (const b of nodes) {
      if (a === b) continue
      const watch = await watchRoutes(a.host, DEADLINE_MS)
      if (watch === null) throw new Error(`route watch in ${a.host.name} did not start`)
      pairs.push({ host: a.host, ip: b.ip, watch })
    }
  return pairs
}

/** Pings every pair from t0 on; throws if a pair never answers. */
async function pairsFrom(t0: number, pairs: readonly Pair[], routeNetwork: string): Promise<JoinSample> {
  const at = await Promise.all(
    pairs.map((p) => firstReplyAt(p.host, p.ip, routeNetwork, DEADLINE_MS, p.watch)),
  )
  const missing = pairs.filter((_, i) => at[i] === null).map((p) => `${p.host.name}->${p.ip}`)
  if (missing.length > 0) throw new Error(`no reply within ${DEADLINE_MS} ms for ${missing.join(', ')}`)
  const ms = (at as number[]).map((x) => Math.round(x - t0))
  return { all: Math.max(...ms), first: Math.min(...ms) }
}

async function oursOnce(
  lab: Lab,
  boot: Host,
  hosts: Host[],
  log: (m: string) => void,
): Promise<JoinSample & { readyMs: number[]; loadMs: number[]; cpuMs: number[]; afterReady: number }> {
  const ours = new OurMesh(lab)
  try {
    const [bootNode, ...members] = await ours.enrol(
      [boot, ...hosts].map((host) => ({ host })),
      [dhtAddress(boot)],
    )
    // The rendezvous node is up before the clock starts: ready, and its DHT online.
    await ours.start(bootNode!, true)
    await waitFor(
      async () =>
        ((await ours.client(bootNode!).network()).discovery as { state?: string } | null)?.state === 'online',
      { timeoutMs: 30_000, what: 'bootstrap daemon discovery online' },
    )
    const pairs = await watchPairs(members.map((n) => ({ host: n.host, ip: n.node.ipv4 })))
    const t0 = Date.now()
    for (const n of members) await ours.start(n)
    const sample = await pairsFrom(t0, pairs, '100.64.0.0')
    const times = await Promise.all(members.map((n) => ours.waitReady(n)))
    const readyMs = times.map((t) => t.readyAt - t.spawnedAt)
    const loadMs = times.map((t) => t.startingAt - t.spawnedAt)
    const cpuMs = times.map((t) => t.startupCpuMs)
    log(
      `  ours: all pairs ${sample.all} ms, first reply ${sample.first} ms, spawn->ready ${readyMs.join('/')} ms (Node+modules ${loadMs.join('/')} ms), CPU to ready ${cpuMs.join('/')} ms`,
    )
    // The part of the join that is not process start-up: last daemon ready -> every pair pinging.
    const afterReady = Math.round(t0 + sample.all - Math.max(...times.map((t) => t.readyAt)))
    return { ...sample, readyMs, loadMs, cpuMs, afterReady }
  } finally {
    await ours.stopAll(log)
  }
}

async function nebulaOnce(
  lab: Lab,
  boot: Host,
  hosts: Host[],
  log: (m: string) => void,
): Promise<JoinSample> {
  const neb = new NebulaNet(lab, boot, hosts)
  try {
    await neb.startLighthouse()
    const pairs = await watchPairs(neb.members.map((n) => ({ host: n.host, ip: n.ip })))
    const t0 = Date.now()
    for (const n of neb.members) neb.start(n)
    const sample = await pairsFrom(t0, pairs, '10.232.0.0')
    log(`  nebula: all pairs ${sample.all} ms, first reply ${sample.first} ms`)
    return sample
  } finally {
    await neb.stopAll()
  }
}

async function run(opts: SuiteOptions): Promise<SuiteResult> {
  const { log } = opts
  ensureHarness(log)
  ensurePackages(['nebula', 'wireguard-go', 'wireguard-tools', 'iputils-ping'], log)
  return Lab.run(
    async (lab) => {
      const lan = await lab.bridge('lan')
      const hosts: Host[] = []
      for (const name of ['boot', 'n1', 'n2', 'n3']) {
        const h = await lab.host(name)
        await lab.attach(h, lan)
        hosts.push(h)
      }
      const [boot, ...members] = hosts as [Host, ...Host[]]
      const oursAll: number[] = []
      const oursFirst: number[] = []
      const oursReady: number[] = []
      const oursLoad: number[] = []
      const oursCpu: number[] = []
      const oursAfter: number[] = []
      const nebAll: number[] = []
      const nebFirst: number[] = []
      for (let i = 0; i < opts.runs; i++) {
        log(`join: run ${i + 1}/${opts.runs}`)
        const o = await oursOnce(lab, boot, members, log)
        oursAll.push(o.all)
        oursFirst.push(o.first)
        oursReady.push(...o.readyMs)
        oursLoad.push(...o.loadMs)
        oursCpu.push(...o.cpuMs)
        oursAfter.push(o.afterReady)
        const n = await nebulaOnce(lab, boot, members, log)
        nebAll.push(n.all)
        nebFirst.push(n.first)
      }
      const figures: Figure[] = [
        {
          metric: 'all_pairs_ping',
          unit: 'ms',
          better: 'lower',
          ours: oursAll,
          anchor: nebAll,
          anchorName: 'nebula',
          target: 1,
          notes: [
            `ours first reply (any pair): median ${round1(median(oursFirst))} ms runs=[${oursFirst.join(', ')}]; nebula first reply: median ${round1(median(nebFirst))} ms runs=[${nebFirst.join(', ')}]`,
            `ours daemon spawn -> "ready" (API up, WireGuard up, DHT starting): median ${round1(median(oursReady))} ms of ${oursReady.length} starts [${oursReady.join(', ')}]`,
            `  of which spawn -> first log line (Node start-up + module loading): median ${round1(median(oursLoad))} ms [${oursLoad.join(', ')}]`,
            `  CPU a daemon used from its start to "ready" (its own figure; 3 daemons share 2 cores): median ${round1(median(oursCpu))} ms [${oursCpu.join(', ')}]`,
            `ours last daemon "ready" -> all pairs pinging: median ${round1(median(oursAfter))} ms runs=[${oursAfter.join(', ')}]`,
          ],
        },
      ]
      return {
        figures,
        comments: [
          hostNote(),
          `topology: 4 namespaces on one bridge; rendezvous node up before t0 (nebula lighthouse / our DHT bootstrap daemon), t0 = just before spawning the 3 nodes; each of the 6 ordered pairs pings every 10 ms (ping -D) once its overlay route exists`,
          `nebula ${versionOf(['nebula', '-version']).replace('Version: ', '')}; ${NEBULA_SETTINGS}`,
          `${ourSettings()}; log level info, metrics off`,
        ],
      }
    },
    { name: 'bench-join' },
  )
}

export const suite: Suite = {
  describe:
    'time from starting 3 nodes on a bridge to every pair pinging over the overlay, vs Nebula (lighthouse up)',
  run,
}
