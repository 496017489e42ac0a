// Network policies between real daemons: a (cluster alpha), b (cluster beta), c (cluster gamma), on one
// bridge. Every node is configured with the same two policies: alpha may not reach gamma, alpha may reach beta
// at 5 messages per second. c also refuses beta on its own (a destination router's policy, which b's router
// does not know). Observed end to end through the sockets:
//   - a's publish towards c's subscriber is refused by a's router: 403 POLICY_DENIED naming the policy, the
//     CLI prints it and exits 1, c's subscriber gets nothing;
//   - b's request reaches c, whose router refuses it at egress and answers POLICY_DENIED across the mesh;
//     b's plain publish is dropped at c (counted there), its subscriber gets nothing;
//   - a's flood towards b's subscriber gets RATE_LIMITED beyond the rate, and b receives no more than the
//     rate allows; the decisions are counted on both routers.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BlackroadClient, type BusMessage, ClientError } from '../src/client/index.js'
import { type Host, Lab, sleepMs, waitFor } from './lib/index.js'
import { DHT_PORT, Mesh, type MeshNode } from './lib/mesh.js'
import { fetchMetrics, METRICS_LISTEN, requireRoot, sampleValue } from './lib/mesh-inspect.js'

const SHARED = [
  { name: 'no-alpha-to-gamma', source: 'cluster/alpha', destination: 'cluster/gamma', allow: false },
  { name: 'alpha-to-beta-trickle', source: 'cluster/alpha', destination: 'cluster/beta', rate_limit_rps: 5 },
]
const C_OWN = [
  { name: 'gamma-closed-to-beta', source: 'cluster/beta', destination: 'cluster/gamma', allow: false },
]

const PLACES = [
  { name: 'a', cluster: 'alpha', policies: SHARED },
  { name: 'b', cluster: 'beta', policies: SHARED },
  { name: 'c', cluster: 'gamma', policies: [...C_OWN, ...SHARED] },
]

function listen(n: MeshNode, subject: string): { got: BusMessage[]; stop(): void } {
  const client = new BlackroadClient({ socketPath: n.daemon!.socketPath })
  const got: BusMessage[] = []
  let stopped = false
  void (async () => {
    try {
      for await (const m of client.subscribe(subject)) {
        got.push(m)
        if (stopped) break
      }
    } catch {
      // ends with the test
    }
  })()
  return {
    got,
    stop() {
      stopped = true
      client.close()
    },
  }
}

const codeOf = (e: unknown) => (e instanceof ClientError ? e.code : String(e))

test('policies: deny at the sender, deny at the destination router, rate limit end to end', async (t) => {
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
      enrol: { cluster: p.cluster, region: 'west' },
      config: {
        cluster: { name: p.cluster, region: 'west' },
        mesh: { policies: p.policies },
        metrics: { enabled: true, listen: METRICS_LISTEN },
        logging: { level: 'info' },
      },
    })),
    [`${hosts[0]!.addr(lan)}:${DHT_PORT}`],
  )
  const [a, b, c] = nodes as [MeshNode, MeshNode, MeshNode]
  for (const n of nodes) {
    await waitFor(async () => (await mesh.routes(n)).length === 2, {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: `${n.node.name} routes to the two others`,
    })
  }
  const clients = nodes.map((n) => new BlackroadClient({ socketPath: n.daemon!.socketPath }))
  const [ca, cb] = clients as [BlackroadClient, BlackroadClient, BlackroadClient]
  t.after(() => {
    for (const x of clients) x.close()
  })

  // ---- alpha -> gamma: refused where the message enters the bus ---------------------------------------------
  const secrets = listen(c, 'secret.>')
  t.after(() => secrets.stop())
  // Until c's interest reaches a, a publishes to nobody (and that is allowed); then the policy refuses it.
  const denied = await waitFor(
    async () => {
      try {
        await ca.publish({ subject: 'secret.plans', data: 'for gamma' })
        return null
      } catch (e) {
        return e
      }
    },
    { timeoutMs: 30_000, intervalMs: 200, what: "a's publish towards c refused" },
  )
  assert.ok(denied instanceof ClientError, String(denied))
  assert.equal(denied.code, 'POLICY_DENIED')
  assert.equal(denied.status, 403)
  assert.match(denied.message, /no-alpha-to-gamma/)
  const cli = await a.daemon!.cli(['send', 'secret.plans', 'again'])
  assert.equal(cli.code, 1)
  assert.match(cli.stderr, /POLICY_DENIED: .*no-alpha-to-gamma/)
  // c's subscription works: c's own message arrives, and only it.
  await clients[2]!.publish({ subject: 'secret.local', data: 'c' })
  await waitFor(() => secrets.got.length > 0, { timeoutMs: 5000, what: "c's own message" })
  assert.deepEqual(
    secrets.got.map((m) => m.subject),
    ['secret.local'],
  )

  // ---- beta -> gamma: b's router allows it, c's refuses at egress and tells a requester ------------------
  const asks = listen(c, 'ask.>')
  t.after(() => asks.stop())
  // NO_RESPONDERS until c's interest reaches b; then the request crosses the mesh and c answers with the refusal.
  const refused = await waitFor(
    async () => {
      try {
        await cb.busRequest({ subject: 'ask.time', data: 'b asks', timeout_ms: 2000 })
        return 'answered'
      } catch (e) {
        return codeOf(e) === 'NO_RESPONDERS' ? null : e
      }
    },
    { timeoutMs: 30_000, intervalMs: 200, what: "b's request reaches c" },
  )
  assert.ok(refused instanceof ClientError, String(refused))
  assert.equal(refused.code, 'POLICY_DENIED', refused.message)
  assert.match(refused.message, new RegExp(`${c.node.nodeId}: .*gamma-closed-to-beta`))
  await cb.publish({ subject: 'ask.plain', data: 'b publishes' })
  const cMetrics = async () => fetchMetrics(c.daemon!)
  await waitFor(
    async () =>
      sampleValue(await cMetrics(), 'blackroad_policy_decisions_total', {
        policy: 'gamma-closed-to-beta',
        decision: 'deny',
        direction: 'egress',
      }) >= 2,
    { timeoutMs: 10_000, what: "c counts both refusals of b's messages" },
  )
  assert.ok(
    sampleValue(await cMetrics(), 'blackroad_bus_messages_dropped_total', { reason: 'policy_denied' }) >= 2,
  )
  assert.equal(asks.got.length, 0, "c's subscriber got nothing from b")

  // ---- alpha -> beta: at most 5 per second ------------------------------------------------------------------
  const rl = listen(b, 'rl.>')
  t.after(() => rl.stop())
  let probeLimited = 0
  await waitFor(
    async () => {
      await ca.publish({ subject: 'rl.probe', data: 'probe' }).catch((e: unknown) => {
        if (codeOf(e) === 'RATE_LIMITED') probeLimited++
      })
      return rl.got.length > 0
    },
    { timeoutMs: 30_000, intervalMs: 400, what: "b's rl.> subscription known at a" },
  )
  await sleepMs(1200) // the bucket refills (5 per second, burst 5)
  const probes = rl.got.length
  const started = performance.now()
  let ok = 0
  let limited = 0
  const other: string[] = []
  for (let i = 0; i < 60; i++) {
    try {
      await ca.publish({ subject: `rl.m${i}`, data: `${i}` })
      ok++
    } catch (e) {
      if (codeOf(e) === 'RATE_LIMITED') limited++
      else other.push(codeOf(e))
    }
  }
  const seconds = (performance.now() - started) / 1000
  const bound = 5 + Math.ceil(5 * seconds) + 1
  // Whatever got through arrives (same path, in order), then nothing more: wait for the count to settle.
  // b enforces the same policy at egress with its own bucket: network jitter may bunch arrivals, so what b
  // refused is counted; what a allowed is either received or refused at b, nothing else.
  const bLimited = async () =>
    sampleValue(await fetchMetrics(b.daemon!), 'blackroad_policy_decisions_total', {
      policy: 'alpha-to-beta-trickle',
      decision: 'rate_limited',
      direction: 'egress',
    })
  await waitFor(async () => rl.got.length - probes + (await bLimited()) >= ok, {
    timeoutMs: 10_000,
    what: 'the allowed messages at b',
  })
  await sleepMs(500)
  const received = rl.got.length - probes
  const refusedAtB = await bLimited()
  t.diagnostic(
    `rate limit: 60 publishes in ${seconds.toFixed(2)} s: ${ok} allowed, ${limited} RATE_LIMITED at a, b received ${received} and refused ${refusedAtB}; bound ${bound}`,
  )
  assert.deepEqual(other, [])
  assert.ok(limited > 0, 'some refused')
  assert.ok(ok >= 5, `the burst passes (${ok})`)
  assert.ok(ok <= bound, `${ok} allowed in ${seconds.toFixed(2)} s at 5/s`)
  assert.equal(received + refusedAtB, ok, 'b got what a allowed, less what its own bucket refused')
  assert.ok(received <= bound)
  const aMetrics = await fetchMetrics(a.daemon!)
  assert.equal(
    sampleValue(aMetrics, 'blackroad_policy_decisions_total', {
      policy: 'alpha-to-beta-trickle',
      decision: 'rate_limited',
      direction: 'ingress',
    }),
    limited + probeLimited,
  )

  // The DHT bootstrap node (the first) goes last: a node whose bootstrap is already gone can take ~10 s to
  // close its discovery (seen here; reported, not ours to fix).
  for (const n of [...nodes].reverse()) await n.daemon!.stop()
})
