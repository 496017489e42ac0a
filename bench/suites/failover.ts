// Suite `failover`, two figures.
//  1. reroute_gap: diamond A–B–D / A–C–D, 5 ms one-way on the B links and 20 ms on the C links; A pings D every
//     10 ms; the A–B link is cut silently (iptables DROP both ways, carrier stays up); the figure is the gap:
//     the longest interval between two replies around the cut, i.e. last reply before it until replies resume
//     (babel-converge.sh's max_reply_gap). Ours
//     (4 daemons finding each other through a DHT reachable only over the links, pinging D's mesh IPv4) vs
//     babeld 1.12 with the RTT
//     metric on and 1 s hellos (pinging D's node address). Each run starts the routers fresh and waits until
//     both A→D and D→A go via B.
//  2. kill_detect: 5 nodes on a bridge; one (rotating) is SIGKILLed; the figure is the time until every other
//     node marks it down: ours polled over each daemon's local API (the request behind `blackroad routes --json`,
//     confirmed with `peers --json`: no route and state down), serf polled with `serf members` (status failed).
// Runs are interleaved: ours, anchor, ours, anchor...

import type { Lab } from '../../netns-tests/lib/lab.js'
import { Lab as LabClass } from '../../netns-tests/lib/lab.js'
import type { MeshNode } from '../../netns-tests/lib/mesh.js'
import type { Proc } from '../../netns-tests/lib/proc.js'
import { routedLinks } from '../../netns-tests/lib/routed-links.js'
import type { Host, Link } from '../../netns-tests/lib/topology.js'
import { waitFor } from '../../netns-tests/lib/wait.js'
import type { Figure } from '../lib/report.js'
import { median } from '../lib/report.js'
import type { Suite, SuiteOptions, SuiteResult } from '../lib/suite.js'
import { babelSettings, flushBabelRoutes, routeDev, startBabeld } from '../net/babel.js'
import { ensureHarness, ensurePackages, versionOf } from '../net/deps.js'
import { dhtAddress, OurMesh, ourDefaults, ourSettings } from '../net/ours.js'
import { firstReplyAt, type Outage, outage, Prober } from '../net/ping.js'
import { SERF_SETTINGS, serfMembers, serfStatus, startSerf } from '../net/serf.js'
import { hostNote, round1, sleep, txCounters } from '../net/sys.js'

const FAST_MS = 5
const SLOW_MS = 20
const HELLO_S = 1
const STABLE_MS = 3_000
const PATH_TIMEOUT_MS = 90_000
const OUTAGE_TIMEOUT_MS = 30_000
const DETECT_TIMEOUT_MS = 30_000
const POLL_MS = 50

type Log = (m: string) => void

interface Diamond {
  a: Host
  b: Host
  c: Host
  d: Host
  ab: Link
  bd: Link
  ac: Link
  cd: Link
}

async function buildDiamond(lab: Lab, prefix: string): Promise<Diamond> {
  const [a, b, c, d] = await Promise.all(
    ['a', 'b', 'c', 'd'].map((n) => lab.host(prefix + n, { forwarding: true })),
  )
  // Creation order as netns-tests/mesh-diamond.test.ts: routedLinks' BFS from C then keeps A–B off DHT paths.
  const cd = await lab.link(c!, d!, { delayMs: SLOW_MS })
  const ac = await lab.link(a!, c!, { delayMs: SLOW_MS })
  const bd = await lab.link(b!, d!, { delayMs: FAST_MS })
  const ab = await lab.link(a!, b!, { delayMs: FAST_MS })
  return { a: a!, b: b!, c: c!, d: d!, ab, bd, ac, cd }
}

/** Waits until check() holds continuously for STABLE_MS (bounded by PATH_TIMEOUT_MS); returns ms until it held. */
async function waitStable(check: () => Promise<boolean>, what: string): Promise<number> {
  const t0 = Date.now()
  let since = -1
  for (let i = 0; i < PATH_TIMEOUT_MS / 100 + 10; i++) {
    const ok = await check().catch(() => false)
    const now = Date.now()
    if (ok) {
      if (since < 0) since = now
      if (now - since >= STABLE_MS) return since - t0
    } else since = -1
    if (now - t0 > PATH_TIMEOUT_MS) break
    await sleep(100)
  }
  throw new Error(`${what}: not stable within ${PATH_TIMEOUT_MS} ms`)
}

/** One reroute trial: the outage, how long the cut took to apply (iptables in both namespaces), the path after. */
type CutResult = Outage & { viaAfter: string; cutMs: number; cutAt: number; breakdown?: string }

/** Waits for steady replies, cuts A–B silently, waits for replies to resume (+1.5 s), restores nothing. */
async function cutAndMeasure(dm: Diamond, probe: Prober, via: () => Promise<string>): Promise<CutResult> {
  // Replies must be flowing steadily before the cut: at least 1 s of them, the last one fresh.
  await waitFor(
    () => {
      const rs = probe.replies()
      return rs.length >= 100 && Date.now() - rs[rs.length - 1]!.rxMs < 200
    },
    { timeoutMs: 20_000, intervalMs: 100, what: 'steady replies before the cut' },
  )
  await sleep(500)
  const cut = Date.now()
  await dm.ab.cut()
  const cutMs = Date.now() - cut
  const o = await waitFor(() => outage(probe.replies(), cut), {
    timeoutMs: OUTAGE_TIMEOUT_MS,
    intervalMs: 100,
    what: 'replies after the cut',
  })
  await sleep(1_500)
  const final = outage(probe.replies(), cut) ?? o
  return { ...final, cutMs, cutAt: cut, viaAfter: await via().catch(() => '?') }
}

async function oursReroute(lab: Lab, dm: Diamond, bootstrap: string[], log: Log): Promise<CutResult> {
  const mesh = new OurMesh(lab)
  try {
    const nodes = await mesh.enrol(
      [dm.a, dm.b, dm.c, dm.d].map((host) => ({ host })),
      bootstrap,
    )
    await Promise.all(nodes.map((n) => mesh.start(n, true)))
    const [na, , , nd] = nodes as [MeshNode, MeshNode, MeshNode, MeshNode]
    const hop = async (from: MeshNode, to: MeshNode) =>
      (await mesh.routes(from)).find((r) => r.destination === to.node.nodeId)?.next_hop_name ?? 'none'
    const ms = await waitStable(
      async () => (await hop(na, nd)) === 'b' && (await hop(nd, na)) === 'b',
      'ours: A->D and D->A via B',
    )
    // The routing table says B; the data plane must agree (WireGuard keys exchanged, handshakes done).
    for (const [from, to] of [
      [na, nd],
      [nd, na],
    ] as const) {
      if ((await firstReplyAt(from.host, to.node.ipv4, '100.64.0.0', 30_000)) === null)
        throw new Error(`ours: ${from.node.name} cannot ping ${to.node.name} before the cut`)
    }
    const probe = new Prober(dm.a, nd.node.ipv4, 0.01, [], 'probe-ours')
    try {
      const r = await cutAndMeasure(dm, probe, () => hop(na, nd))
      // Where the time went, from the daemons' own logs: A declares the A–B link dead (probes unanswered for
      // dead_link_timeout, or the peer connection lost), then A and D re-point WireGuard (D learns of the dead
      // link by flooding).
      const nb = nodes[1]!
      const linkDown = mesh.firstEventMs(
        na,
        r.cutAt,
        (e) =>
          e.peer === nb.node.nodeId &&
          ((e.msg === 'link state' && e.event === 'link-down') || e.msg === 'peer link down'),
      )
      // The reconfigure that moves the far end's mesh address to another WireGuard peer.
      const repointed = (n: MeshNode, far: MeshNode) =>
        mesh.firstEventMs(
          n,
          r.cutAt,
          (e) =>
            e.msg === 'WireGuard reconfigured' &&
            JSON.stringify(e.actions ?? '').includes(`+${far.node.ipv4}/32`),
        )
      r.breakdown = `A marks A-B dead ${linkDown} ms, WireGuard re-pointed A ${repointed(na, nd)} ms, D ${repointed(nd, na)} ms`
      log(
        `  ours: via B after ${ms} ms; gap ${Math.round(r.maxGapMs)} ms (replies resumed ${Math.round(r.resumedAt - r.cutAt)} ms after the cut began, cut took ${r.cutMs} ms), then via ${r.viaAfter.toUpperCase()} (rtt ${r.rttAfterMs} ms); ${r.breakdown}`,
      )
      return r
    } finally {
      await probe.stop()
    }
  } finally {
    await mesh.stopAll(log)
    await dm.ab.restore()
  }
}

async function babelReroute(lab: Lab, dm: Diamond, log: Log): Promise<CutResult> {
  const hosts = [dm.a, dm.b, dm.c, dm.d]
  const nodeAddr = (h: Host) => `10.231.127.${hosts.indexOf(h) + 1}`
  const procs: Proc[] = []
  try {
    for (const h of hosts) await h.execOk(['ip', 'addr', 'add', `${nodeAddr(h)}/32`, 'dev', 'lo'])
    for (const h of hosts) {
      const ifaces = h.interfaces.map((i) => i.name)
      procs.push(startBabeld(lab, h, ifaces, HELLO_S))
    }
    const abA = dm.a.iface(dm.ab).name
    const bdD = dm.d.iface(dm.bd).name
    const ms = await waitStable(
      async () =>
        (await routeDev(dm.a, nodeAddr(dm.d))) === abA && (await routeDev(dm.d, nodeAddr(dm.a))) === bdD,
      'babeld: A->D and D->A via B',
    )
    const probe = new Prober(dm.a, nodeAddr(dm.d), 0.01, ['-I', nodeAddr(dm.a)], 'probe-babeld')
    try {
      const r = await cutAndMeasure(dm, probe, async () => {
        const dev = await routeDev(dm.a, nodeAddr(dm.d))
        return dev === abA ? 'b' : dev === dm.a.iface(dm.ac).name ? 'c' : String(dev)
      })
      log(
        `  babeld: via B after ${ms} ms; gap ${Math.round(r.maxGapMs)} ms (replies resumed ${Math.round(r.resumedAt - r.cutAt)} ms after the cut began, cut took ${r.cutMs} ms), then via ${r.viaAfter.toUpperCase()} (rtt ${r.rttAfterMs} ms)`,
      )
      return r
    } finally {
      await probe.stop()
    }
  } finally {
    await Promise.all(procs.map((p) => p.stop(5_000)))
    for (const h of hosts) {
      await flushBabelRoutes(h)
      await h.exec(['ip', 'addr', 'del', `${nodeAddr(h)}/32`, 'dev', 'lo'])
    }
    await dm.ab.restore()
  }
}

/** Polls each observer (every POLL_MS, bounded) until down() says so; returns ms from t0 per observer. */
async function detectAll(
  observers: string[],
  down: (o: string) => Promise<boolean>,
  t0: number,
): Promise<number[]> {
  return Promise.all(
    observers.map(async (o) => {
      for (let i = 0; i < DETECT_TIMEOUT_MS / POLL_MS + 10; i++) {
        const tick = Date.now()
        if (await down(o).catch(() => false)) return Date.now() - t0
        if (Date.now() - t0 > DETECT_TIMEOUT_MS) break
        await sleep(Math.max(0, POLL_MS - (Date.now() - tick)))
      }
      throw new Error(`${o} did not mark the victim down within ${DETECT_TIMEOUT_MS} ms`)
    }),
  )
}

/**
 * The idle-traffic window: long enough to hold each system's periodic work once — serf's push-pull state sync
 * and our bus interest refresh both run every 30 s, and a 10 s window caught or missed them by chance.
 */
const IDLE_TRAFFIC_MS = 30_000
/**
 * How long a fresh membership settles before its idle traffic is measured. Ours re-originates its link-state
 * records while the first RTT samples, inflated by five daemons starting on two cores, give way to real ones
 * (a few floods per node in the first seconds: measured from 1 s after the full mesh, that start-up put 550 B/s
 * into the "idle" figure, against about 200 once settled); serf gossips its joins. Idle means after that.
 */
const IDLE_SETTLE_MS = 10_000

/** Underlay packets and bytes one host sent per second over a window (its first interface's counters). */
interface Traffic {
  pps: number
  bps: number
}

/**
 * What each node sends on the underlay per second while the membership is idle and healthy: for ours every
 * peer-link probe, link-state flood, DHT refresh and WireGuard keepalive, for serf its SWIM probes and gossip.
 * Median over the hosts.
 */
async function idleTraffic(hosts: Host[]): Promise<Traffic> {
  const before = await Promise.all(hosts.map(txCounters))
  const t0 = Date.now()
  await sleep(IDLE_TRAFFIC_MS)
  const after = await Promise.all(hosts.map(txCounters))
  const secs = (Date.now() - t0) / 1000
  return {
    pps: median(after.map((x, i) => (x[0] - before[i]![0]) / secs)),
    bps: median(after.map((x, i) => (x[1] - before[i]![1]) / secs)),
  }
}

const idle: { ours: Traffic[]; serf: Traffic[] } = { ours: [], serf: [] }

/** ms from the kill until each observer's log declared the link to the victim dead, over all runs. */
const deadLinkMs: number[] = []

async function oursKill(lab: Lab, hosts: Host[], victimIdx: number, log: Log): Promise<number[]> {
  const mesh = new OurMesh(lab)
  try {
    const nodes = await mesh.enrol(
      hosts.map((host) => ({ host })),
      [dhtAddress(hosts[0]!)],
    )
    await Promise.all(nodes.map((n) => mesh.start(n, true)))
    // Healthy means a full mesh: every node routes to the 4 others over its own link (a route that is still
    // relayed means a link still forming, whose join traffic is not idle traffic).
    await waitFor(
      async () => {
        const rs = await Promise.all(nodes.map((n) => mesh.routes(n)))
        return rs.every((r) => r.length === nodes.length - 1 && r.every((x) => x.kind === 'direct'))
      },
      { timeoutMs: 60_000, intervalMs: 100, what: 'ours: every node routes to the 4 others directly' },
    )
    await sleep(IDLE_SETTLE_MS)
    idle.ours.push(await idleTraffic(hosts))
    const victim = nodes[victimIdx]!
    const observers = nodes.filter((n) => n !== victim)
    const t0 = Date.now()
    await mesh.killNode(victim)
    const ms = await detectAll(
      observers.map((n) => n.node.name),
      async (name) => {
        const n = observers.find((x) => x.node.name === name)!
        if ((await mesh.routes(n)).some((r) => r.destination === victim.node.nodeId)) return false
        const p = (await mesh.peers(n)).find((x) => x.node_id === victim.node.nodeId)
        return !p || p.state === 'down'
      },
      t0,
    )
    // From the observers' logs: when each declared its link to the victim dead (probes unanswered for
    // dead_link_timeout) - the part of the detection time that is the failure detector itself.
    const dead = observers.map((n) =>
      mesh.firstEventMs(
        n,
        t0,
        (e) => e.msg === 'link state' && e.event === 'link-down' && e.peer === victim.node.nodeId,
      ),
    )
    deadLinkMs.push(...dead.filter((x): x is number => x !== null))
    log(
      `  ours: ${victim.node.name} killed; marked down by ${observers.map((n, i) => `${n.node.name} ${ms[i]}`).join(', ')} ms; link declared dead in their logs after ${dead.join(', ')} ms`,
    )
    return ms
  } finally {
    await mesh.stopAll(log)
  }
}

async function serfKill(hosts: Host[], victimIdx: number, log: Log): Promise<number[]> {
  const procs = new Map<Host, Proc>()
  try {
    const first = hosts[0]!
    procs.set(first, startSerf(first, null))
    await waitFor(async () => (await serfMembers(first)).size > 0, { timeoutMs: 10_000, what: 'serf s1 up' })
    for (const h of hosts.slice(1)) procs.set(h, startSerf(h, first.addr()))
    await waitFor(
      async () => {
        const views = await Promise.all(hosts.map(serfMembers))
        return views.every((v) => hosts.every((h) => v.get(h.name) === 'alive'))
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'serf: every agent sees 5 alive' },
    )
    await sleep(IDLE_SETTLE_MS)
    idle.serf.push(await idleTraffic(hosts))
    const victim = hosts[victimIdx]!
    const observers = hosts.filter((h) => h !== victim)
    const t0 = Date.now()
    await procs.get(victim)!.kill('SIGKILL')
    const ms = await detectAll(
      observers.map((h) => h.name),
      async (name) => (await serfStatus(observers.find((h) => h.name === name)!, victim.name)) === 'failed',
      t0,
    )
    log(
      `  serf: ${victim.name} killed; marked failed by ${observers.map((h, i) => `${h.name} ${ms[i]}`).join(', ')} ms`,
    )
    return ms
  } finally {
    await Promise.all([...procs.values()].map((p) => p.stop(5_000)))
  }
}

async function run(opts: SuiteOptions): Promise<SuiteResult> {
  const { log } = opts
  ensureHarness(log)
  ensurePackages(['babeld', 'serf', 'wireguard-go', 'wireguard-tools', 'iputils-ping'], log)
  return LabClass.run(
    async (lab) => {
      // Ours on a diamond whose only underlay paths are its links (DHT bootstrap host hanging off C, routed hop
      // by hop; see netns-tests/lib/routed-links.ts); babeld on an identical plain diamond of its own.
      const dm = await buildDiamond(lab, '')
      const { bootstrap } = await routedLinks(
        lab,
        [dm.a, dm.b, dm.c, dm.d],
        [dm.cd, dm.ac, dm.bd, dm.ab],
        dm.c,
      )
      const bdm = await buildDiamond(lab, 'x')
      const lan = await lab.bridge('lan')
      const five: Host[] = []
      for (let i = 1; i <= 5; i++) {
        const h = await lab.host(`s${i}`)
        await lab.attach(h, lan)
        five.push(h)
      }
      const oGap: CutResult[] = []
      const bGap: CutResult[] = []
      const oKill: number[][] = []
      const sKill: number[][] = []
      for (let i = 0; i < opts.runs; i++) {
        log(`failover: run ${i + 1}/${opts.runs}`)
        oGap.push(await oursReroute(lab, dm, bootstrap, log))
        bGap.push(await babelReroute(lab, bdm, log))
        const victim = (5 - ((i + 1) % 5)) % 5 // s5, s4, s3, s2, s1, ...
        oKill.push(await oursKill(lab, five, victim, log))
        sKill.push(await serfKill(five, victim, log))
      }
      const gaps = (xs: CutResult[]) => xs.map((x) => Math.round(x.maxGapMs))
      const resumed = (xs: CutResult[]) => xs.map((x) => Math.round(x.resumedAt - x.cutAt)).join(', ')
      const applied = (xs: CutResult[]) => xs.map((x) => x.cutMs).join(', ')
      const rtts = (xs: CutResult[]) => xs.map((x) => x.rttAfterMs).join(', ')
      const all = (xs: number[][]) => xs.map((x) => Math.max(...x))
      const first = (xs: number[][]) => xs.map((x) => Math.min(...x))
      const oursAll = all(oKill)
      const figures: Figure[] = [
        {
          metric: 'reroute_gap',
          unit: 'ms',
          better: 'lower',
          ours: gaps(oGap),
          anchor: gaps(bGap),
          anchorName: 'babeld',
          target: 0.33,
          notes: [
            `cut began -> replies resumed: ours [${resumed(oGap)}] babeld [${resumed(bGap)}] ms; the cut took [${applied(oGap)}] / [${applied(bGap)}] ms to apply`,
            `rtt after the reroute (path via C is 80 ms): ours [${rtts(oGap)}] babeld [${rtts(bGap)}] ms`,
            `ours from the daemons' logs, after the cut began: ${oGap.map((x) => `[${x.breakdown}]`).join(' ')}`,
          ],
        },
        {
          metric: 'kill_detect',
          unit: 'ms',
          better: 'lower',
          ours: oursAll,
          anchor: all(sKill),
          anchorName: 'serf',
          target: 0.16,
          notes: [
            `absolute target < 1000 ms by every node: ours median ${median(oursAll)} ms -> ${median(oursAll) < 1000 ? 'met' : 'not met'} (target ratio 0.16 = 1 s / serf's 6.1 s measured on this machine)`,
            `first observer: ours [${first(oKill).join(', ')}] serf [${first(sKill).join(', ')}] ms`,
            `ours: kill -> an observer's log declares the link dead (busy links probed every ${ourDefaults().probeMs} ms, idle watch links every ${ourDefaults().watchProbeMs} ms, other idle ones every ${ourDefaults().idleProbeMs} ms; a closed TCP lane makes its link suspected and probed at once; dead after ${ourDefaults().deadMs} ms without a reply): median ${median(deadLinkMs)} ms of ${deadLinkMs.length} [${deadLinkMs.join(', ')}]`,
          ],
        },
        {
          metric: 'idle_traffic',
          unit: 'B/s',
          better: 'lower',
          ours: idle.ours.map((x) => Math.round(x.bps)),
          anchor: idle.serf.map((x) => Math.round(x.bps)),
          anchorName: 'serf',
          target: 1,
          notes: [
            `bytes each node sends on the underlay per second, 5 healthy nodes idle for ${IDLE_TRAFFIC_MS / 1000} s before the kill, from ${IDLE_SETTLE_MS / 1000} s after ours has a full mesh of direct routes and serf sees 5 alive (median over nodes, per run); target: less than serf's LAN profile`,
            `packets/s per node: ours [${idle.ours.map((x) => round1(x.pps)).join(', ')}] serf [${idle.serf.map((x) => round1(x.pps)).join(', ')}]`,
          ],
        },
      ]
      return {
        figures,
        comments: [
          hostNote(),
          `reroute: diamond A-B-D / A-C-D, one-way ${FAST_MS} ms on A-B, B-D and ${SLOW_MS} ms on A-C, C-D (NFQUEUE delay on each sender's egress); A pings D every 10 ms; A-B cut = iptables DROP both directions, carrier up; figure = longest interval between two replies around the cut (last reply before it -> replies resume); babeld and ours each on a fresh diamond of the same shape`,
          `kill: 5 nodes on one bridge, victim rotates s5, s4, ... (SIGKILL: for ours the daemon with its wireguard-go), every node fresh per run; figure = kill -> last of the 4 observers marks it down, each polled every ${POLL_MS} ms (ours over the local API, serf with \`serf members\`)`,
          `${babelSettings(HELLO_S)}; ${versionOf(['babeld', '-V'])}`,
          `${SERF_SETTINGS}; serf ${versionOf(['serf', 'version'])}`,
          `${ourSettings()}; diamond discovery through a DHT bootstrap host off C reached hop by hop over the links (A-B on no DHT path)`,
        ],
      }
    },
    { name: 'bench-failover' },
  )
}

export const suite: Suite = {
  describe: 'reroute gap after a silent link cut (vs babeld) and time to mark a killed node down (vs serf)',
  run,
}
