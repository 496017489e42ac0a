// Federated events between real daemons on one bridge, four nodes whose certificates place them so every
// scope differs: a1 and a2 in cluster alpha (region west), b in cluster beta (region west), c in cluster gamma
// (region east). A local event of a1 reaches alpha only, a regional one alpha and beta, a global one all four,
// each exactly once; a repeated id is not sent again; the CLI publishes and subscribes. Then a publisher
// floods c's events stream faster than its reader takes it: c's daemon memory stays bounded (RSS from /proc
// before and after) and the dropped events are counted.

import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import http from 'node:http'
import { test } from 'node:test'
import { BlackroadClient, type EventView } from '../src/client/index.js'
import { type Host, Lab, sleepMs, waitFor } from './lib/index.js'
import { DHT_PORT, Mesh, type MeshNode } from './lib/mesh.js'
import { fetchMetrics, METRICS_LISTEN, requireRoot, sampleValue } from './lib/mesh-inspect.js'

const PLACES = [
  { name: 'a1', cluster: 'alpha', region: 'west' },
  { name: 'a2', cluster: 'alpha', region: 'west' },
  { name: 'b', cluster: 'beta', region: 'west' },
  { name: 'c', cluster: 'gamma', region: 'east' },
] as const

/** Resident memory of the daemon process (the node process `ip netns exec` became), in KiB. */
async function rssKiB(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8')
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status)
  if (!m) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(m[1])
}

interface Collector {
  events: EventView[]
  stop(): void
}

function collect(n: MeshNode, pattern: string): Collector {
  const client = new BlackroadClient({ socketPath: n.daemon!.socketPath })
  const events: EventView[] = []
  let stopped = false
  void (async () => {
    try {
      for await (const e of client.subscribeEvents(pattern)) {
        events.push(e)
        if (stopped) break
      }
    } catch {
      // the stream ends when the test stops it or the daemon stops
    }
  })()
  return {
    events,
    stop() {
      stopped = true
      client.close()
    },
  }
}

test('event scopes between clusters and regions; a slow subscriber keeps the daemon bounded', async (t) => {
  if (!requireRoot(t)) return
  const lab = await Lab.create(t)
  const lan = await lab.bridge('lan')
  const hosts: Host[] = []
  for (const p of PLACES) {
    const h = await lab.host(p.name)
    await lab.attach(h, lan)
    hosts.push(h)
  }
  const mesh = new Mesh(lab)
  const nodes = await mesh.start(
    PLACES.map((p, i) => ({
      host: hosts[i]!,
      enrol: { cluster: p.cluster, region: p.region },
      config: {
        cluster: { name: p.cluster, region: p.region },
        metrics: { enabled: true, listen: METRICS_LISTEN },
        logging: { level: 'info' },
        // The flood shares the peer links with routing's probes; with the LAN default (750 ms) the probes
        // queued behind 50 MB of events declare links dead and routes flap (reported separately). This test
        // is about the subscriber's memory, so the links get a WAN-like timeout.
        network: { dead_link_timeout: '5s' },
      },
    })),
    [`${hosts[0]!.addr(lan)}:${DHT_PORT}`],
  )
  const [a1, , b, c] = nodes as [MeshNode, MeshNode, MeshNode, MeshNode]
  for (const n of nodes) {
    await waitFor(async () => (await mesh.routes(n)).length === 3, {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: `${n.node.name} routes to the three others`,
    })
  }

  const subs = nodes.map((n) => collect(n, 'deploy.>'))
  t.after(() => {
    for (const s of subs) s.stop()
  })
  const pub = new BlackroadClient({ socketPath: a1.daemon!.socketPath })
  t.after(() => pub.close())

  // Interest floods asynchronously: publish global probes until every subscriber has one (bounded).
  await waitFor(
    async () => {
      await pub.publishEvent({ type: 'deploy.probe', scope: 'global' })
      return subs.every((s) => s.events.some((e) => e.type === 'deploy.probe'))
    },
    { timeoutMs: 30_000, intervalMs: 200, what: 'every node subscribed to deploy.> hears a1' },
  )

  // L, R, G in that order from a1. Each node's copies travel one path in order, so once G has arrived
  // anywhere, an L or R sent there would have arrived before it.
  const sent = {
    L: await pub.publishEvent({
      type: 'deploy.finished',
      scope: 'local',
      data: { step: 'L' },
      id: 'scope-L',
    }),
    R: await pub.publishEvent({
      type: 'deploy.finished',
      scope: 'regional',
      data: { step: 'R' },
      id: 'scope-R',
    }),
    G: await pub.publishEvent({
      type: 'deploy.finished',
      scope: 'global',
      data: { step: 'G' },
      id: 'scope-G',
    }),
  }
  assert.equal(sent.L.source_cluster, 'alpha')
  assert.equal(sent.R.source_region, 'west')
  const again = await pub.publishEvent({
    type: 'deploy.finished',
    scope: 'global',
    data: { step: 'G' },
    id: 'scope-G',
  })
  assert.equal(again.duplicate, true, 'a repeated id is not published again')
  await waitFor(() => subs.every((s) => s.events.some((e) => e.id === 'scope-G')), {
    timeoutMs: 10_000,
    what: 'the global event everywhere',
  })
  // One more global event as a fence for the duplicate (had it been sent, it would be before this one).
  await pub.publishEvent({ type: 'deploy.fence', scope: 'global', id: 'fence' })
  await waitFor(() => subs.every((s) => s.events.some((e) => e.id === 'fence')), {
    timeoutMs: 10_000,
    what: 'fence',
  })

  const seen = (i: number) =>
    subs[i]!.events.filter((e) => e.id.startsWith('scope-')).map(
      (e) => `${e.id.slice(6)}:${(e.data as { step: string }).step}`,
    )
  const got = Object.fromEntries(PLACES.map((p, i) => [p.name, seen(i)]))
  t.diagnostic(`received: ${JSON.stringify(got)}`)
  assert.deepEqual(got, {
    a1: ['L:L', 'R:R', 'G:G'],
    a2: ['L:L', 'R:R', 'G:G'],
    b: ['R:R', 'G:G'],
    c: ['G:G'],
  })
  assert.equal(subs[3]!.events.find((e) => e.id === 'scope-G')?.source_node, a1.node.nodeId)

  // The CLI: subscribe on c (exits after one event), publish from b until it arrives (bounded).
  const cliSub = c.daemon!.cli(['events', 'subscribe', 'deploy.cli', '--count', '1', '--json'], 30_000)
  let done = false
  void cliSub.then(() => (done = true))
  for (let i = 0; i < 40 && !done; i++) {
    const r = await b.daemon!.cli([
      'events',
      'publish',
      '--type',
      'deploy.cli',
      '--scope',
      'global',
      '--data',
      '{"from":"b"}',
    ])
    assert.equal(r.code, 0, r.stderr)
    await sleepMs(250)
  }
  const sr = await cliSub
  assert.equal(sr.code, 0, sr.stderr)
  const cliEvent = JSON.parse(sr.stdout.trim()) as EventView
  assert.deepEqual(
    [cliEvent.type, cliEvent.source_cluster, cliEvent.data],
    ['deploy.cli', 'beta', { from: 'b' }],
  )
  // A regional event from b does not reach c in another region: the CLI says where it went; c's counters agree.
  const before = sampleValue(await fetchMetrics(c.daemon!), 'blackroad_events_delivered_total', {
    scope: 'regional',
  })
  const reg = await b.daemon!.cli(['events', 'publish', '--type', 'deploy.regional', '--scope', 'regional'])
  assert.equal(reg.code, 0, reg.stderr)
  await pub.publishEvent({ type: 'deploy.fence', scope: 'global', id: 'fence-2' })
  await waitFor(() => subs[3]!.events.some((e) => e.id === 'fence-2'), {
    timeoutMs: 10_000,
    what: 'fence-2 at c',
  })
  assert.equal(
    sampleValue(await fetchMetrics(c.daemon!), 'blackroad_events_delivered_total', { scope: 'regional' }),
    before,
  )
  assert.ok(!subs[3]!.events.some((e) => e.type === 'deploy.regional'))
  await waitFor(() => subs[2]!.events.some((e) => e.type === 'deploy.regional'), {
    timeoutMs: 5000,
    what: 'b hears its own regional event',
  })
  for (const s of subs) s.stop()

  // ---- a publisher faster than its subscriber -----------------------------------------------------------
  // A subscriber on c that never reads: c's daemon buffers at most 8 MiB for it and drops the rest.
  const slow = await new Promise<http.ClientRequest>((resolve, reject) => {
    const req = http.get(
      { socketPath: c.daemon!.socketPath, path: '/v1/events/subscribe?pattern=flood.>' },
      (res) => {
        assert.equal(res.statusCode, 200)
        res.pause()
        resolve(req)
      },
    )
    req.on('error', reject)
  })
  t.after(() => slow.destroy())
  const pid = c.daemon!.pid
  // The subscriber's interest has to reach a1 first (it floods; give it the probe treatment on c's metrics).
  const delivered = async () =>
    sampleValue(await fetchMetrics(c.daemon!), 'blackroad_events_delivered_total', { scope: 'global' })
  const base = await delivered()
  await waitFor(
    async () => {
      await pub.publishEvent({ type: 'flood.probe', scope: 'global' })
      return (await delivered()) > base
    },
    { timeoutMs: 20_000, intervalMs: 300, what: "c's flood subscription known at a1" },
  )
  const rssBefore = await rssKiB(pid)
  const payload = 'x'.repeat(64 * 1024)
  const COUNT = 800
  const deadline = Date.now() + 120_000
  let ok = 0
  let refused = 0
  let peak = rssBefore
  const sampler = setInterval(() => {
    rssKiB(pid).then(
      (v) => (peak = Math.max(peak, v)),
      () => {},
    )
  }, 200)
  try {
    // Four publishers in parallel, COUNT events in all, stopped by the deadline whatever happens.
    let next = 0
    await Promise.all(
      [0, 1, 2, 3].map(async () => {
        while (next < COUNT && Date.now() < deadline) {
          const i = next++
          try {
            await pub.publishEvent({ type: `flood.n${i % 10}`, scope: 'global', data: payload })
            ok++
          } catch {
            refused++
          }
        }
      }),
    )
  } finally {
    clearInterval(sampler)
  }
  // Publishes resolve once queued at a1; let the queues drain (delivered count steady), bounded.
  let last = -1
  await waitFor(
    async () => {
      const now = await delivered()
      const steady = now === last
      last = now
      return steady
    },
    { timeoutMs: 60_000, intervalMs: 1000, what: 'flood delivered to c (count steady)' },
  )
  const rssAfter = await rssKiB(pid)
  peak = Math.max(peak, rssAfter)
  const metrics = await fetchMetrics(c.daemon!)
  const dropped = sampleValue(metrics, 'blackroad_events_dropped_total', { reason: 'slow_subscriber' })
  const streamDrops = sampleValue(metrics, 'blackroad_api_stream_dropped_total', { stream: 'events' })
  const mib = (k: number) => Math.round(k / 102.4) / 10
  const dropsAt = (text: string) =>
    ['no_interest', 'queue_full', 'too_large', 'no_route', 'link_down', 'handler_error']
      .map((r) => `${r}=${sampleValue(text, 'blackroad_bus_messages_dropped_total', { reason: r })}`)
      .join(' ')
  t.diagnostic(
    `c: delivered ${(await delivered()) - base} flood events; bus drops at c: ${dropsAt(metrics)}; at a1: ${dropsAt(await fetchMetrics(a1.daemon!))}`,
  )
  t.diagnostic(
    `flood: ${ok} published (${refused} refused) of ${COUNT} x 64 KiB; c RSS ${mib(rssBefore)} MiB before, peak ${mib(peak)} MiB, ${mib(rssAfter)} MiB after; dropped for the slow subscriber: ${dropped}`,
  )
  assert.ok(ok >= COUNT / 2, `only ${ok} of ${COUNT} published`)
  // ~50 MB went to c; it may hold 8 MiB for the reader plus bus queues and GC slack. Generous bound.
  assert.ok(peak - rssBefore < 160 * 1024, `c grew by ${mib(peak - rssBefore)} MiB`)
  assert.ok(dropped > 0, 'the slow subscriber lost events, counted')
  assert.equal(streamDrops, dropped)
  // c still answers and still delivers to a reader that keeps up.
  const live = collect(c, 'deploy.after')
  t.after(() => live.stop())
  await waitFor(
    async () => {
      await pub.publishEvent({ type: 'deploy.after', scope: 'global' })
      return live.events.length > 0
    },
    { timeoutMs: 20_000, intervalMs: 300, what: 'c still delivers after the flood' },
  )
  slow.destroy()
  live.stop()
  // The DHT bootstrap node (the first) goes last: a node whose bootstrap is already gone can take ~10 s to
  // close its discovery (seen here; reported, not ours to fix).
  for (const n of [...nodes].reverse()) await n.daemon!.stop()
})
