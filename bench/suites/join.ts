// Suite `join`: time from starting 3 nodes on one LAN bridge to every pair answering a ping over the
// overlay, ours vs Nebula 1.6. Both have their rendezvous node already up before the clock starts: Nebula its
// lighthouse, ours a 4th daemon that runs the federation's DHT bootstrap node (what a control-plane node is).
// Comments: ours' first reply of any pair, and the daemon's own start-up (spawn → "ready", of which Node start
// and module loading) so the part of the join time that is process start-up is visible.

import { existsSync, statSync } from 'node:fs'
import path from 'node:path'
import { Lab } from '../../netns-tests/lib/lab.js'
import { repoPaths } from '../../netns-tests/lib/repo.js'
import type { Host } from '../../netns-tests/lib/topology.js'
import { waitFor } from '../../netns-tests/lib/wait.js'
import { CODE_CACHE_DELAY_MS } from '../../src/daemon/code-cache.js'
import type { Figure } from '../lib/report.js'
import { median } from '../lib/report.js'
import type { Suite, SuiteOptions, SuiteResult } from '../lib/suite.js'
import { ensureHarness, ensurePackages, versionOf } from '../net/deps.js'
import { NEBULA_SETTINGS, NebulaNet } from '../net/nebula.js'
import { dhtAddress, OurMesh, ourSettings } from '../net/ours.js'
import { ReplyWatch } from '../net/ping.js'
import { hostNote, round1 } from '../net/sys.js'

const DEADLINE_MS = 60_000

interface JoinSample {
  /** ms from t0 until every pair got a reply. */
  all: number
  /** ms from t0 until the first reply of any pair. */
  first: number
}

/**
 * Every pair of nodes pinging, one direction each (an echo reply crosses the tunnel both ways): one ReplyWatch
 * per node but the last, started before the clock. Not both directions at once: two Nebula nodes whose first
 * packets to each other leave at the same instant race their handshakes and settle it only after ~300 ms.
 */
async function watchPairs(
  nodes: Array<{ host: Host; ip: string }>,
  routeNetwork: string,
): Promise<ReplyWatch[]> {
  const watches: ReplyWatch[] = []
  for (const [i, a] of nodes.entries()) {
    const dsts = nodes.slice(i + 1).map((b) => b.ip)
    if (dsts.length > 0) watches.push(await ReplyWatch.start(a.host, dsts, routeNetwork, DEADLINE_MS))
  }
  return watches
}

/** Waits for every pair's first reply from t0 on; throws if a pair never answers. */
async function pairsFrom(t0: number, watches: readonly ReplyWatch[]): Promise<JoinSample> {
  const at: number[] = []
  const missing: string[] = []
  for (const [i, w] of watches.entries()) {
    for (const [dst, t] of await w.firstReplies()) {
      if (t === null) missing.push(`#${i + 1}->${dst}`)
      else at.push(Math.round(t - t0))
    }
  }
  if (missing.length > 0) throw new Error(`no reply within ${DEADLINE_MS} ms for ${missing.join(', ')}`)
  return { all: Math.max(...at), first: Math.min(...at) }
}

/** Whether the daemons' own code cache for the bundle the bench runs exists (named as scripts/bin-loader.cjs does). */
function daemonCacheExists(): boolean {
  const bundle = path.join(path.dirname(repoPaths.cliMain()), 'blackroad.cjs')
  const st = statSync(bundle)
  return existsSync(`${bundle}.daemon-cache-${st.size}-${Math.trunc(st.mtimeMs)}-${st.ino}`)
}

/**
 * The daemon's own code cache is written by the first daemon of a build that stays up CODE_CACHE_DELAY_MS (see
 * scripts/bin-loader.cjs); an installed router has it from its second start on. Right after a build there is
 * none, and no daemon of a timed join lives that long: so first one untimed join whose daemons stay up until it
 * is written. The timed joins then start as installed daemons do.
 */
async function warmDaemonCache(lab: Lab, boot: Host, hosts: Host[], log: (m: string) => void): Promise<void> {
  if (daemonCacheExists()) return
  log('join: no daemon code cache for this build yet: one untimed join first, which writes it')
  const ours = new OurMesh(lab)
  try {
    const nodes = await ours.enrol(
      [boot, ...hosts].map((host) => ({ host })),
      [dhtAddress(boot)],
    )
    for (const n of nodes) await ours.start(n, true)
    await waitFor(async () => daemonCacheExists(), {
      timeoutMs: CODE_CACHE_DELAY_MS + 30_000,
      what: 'the daemons write their code cache',
    })
  } finally {
    await ours.stopAll(log)
  }
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
    const pairs = await watchPairs(
      members.map((n) => ({ host: n.host, ip: n.node.ipv4 })),
      '100.64.0.0',
    )
    for (const n of members) await ours.prepare(n)
    const t0 = Date.now()
    for (const n of members) ours.launch(n)
    const sample = await pairsFrom(t0, pairs)
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
    const pairs = await watchPairs(
      neb.members.map((n) => ({ host: n.host, ip: n.ip })),
      '10.232.0.0',
    )
    const release = neb.members.map((n) => neb.prepare(n))
    const t0 = Date.now()
    for (const r of release) r()
    const sample = await pairsFrom(t0, pairs)
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
      await warmDaemonCache(lab, boot, members, log)
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
          `topology: 4 namespaces on one bridge; rendezvous node up before t0 (nebula lighthouse / our DHT bootstrap daemon), t0 = just before starting the 3 nodes (each spawned beforehand as a shell in its namespace that execs the node when told: no fork of the bench process in the timed window); each of the 3 pairs pings one way (n1->n2, n1->n3, n2->n3; an echo reply crosses the tunnel both ways) every 10 ms (ping -D) from the moment its overlay route exists (watched through ip monitor)`,
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
