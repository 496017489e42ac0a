// Nodes the federation must refuse try to join a healthy two-node mesh, each a real daemon:
//   - foreign:  a member of another federation (its own root, certificate and secret); it cannot find this
//               federation's topic, so it dials the healthy nodes directly as static peers;
//   - expired:  this federation's certificate, expired ten minutes ago; its clock runs twenty minutes behind, so
//               it believes the certificate valid and joins the topic like any member;
//   - revoked:  a valid certificate whose revocation was written to the healthy nodes' state before they started
//               (the revoked node itself does not know).
// Each must be refused by the healthy nodes (Nebula-style negative checks): no WireGuard peer for it in
// `wg show`, no ping either way, absent from `blackroad peers`, and the refusal counted in
// blackroad_peer_links_rejected_total{reason} with the right reason. The healthy pair keeps working meanwhile.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { clockShiftEnv } from './lib/clock-shift.js'
import { TestFederation } from './lib/federation.js'
import { canPing, Lab, waitFor } from './lib/index.js'
import { DHT_PORT, Mesh, type MeshNode } from './lib/mesh.js'
import { fetchMetrics, METRICS_LISTEN, requireRoot, sampleValue, wgShow } from './lib/mesh-inspect.js'

const REJECTED = 'blackroad_peer_links_rejected_total'
const HOUR = 3_600_000

test('foreign, expired and revoked nodes are refused by a healthy mesh', async (t) => {
  if (!requireRoot(t)) return
  const started = Date.now()
  const lab = await Lab.create(t)
  const lan = await lab.bridge('lan')
  const hosts = []
  for (const name of ['h1', 'h2', 'foreign', 'expired', 'revoked']) {
    const h = await lab.host(name)
    await lab.attach(h, lan)
    hosts.push(h)
  }
  const [h1, h2, foreignHost, expiredHost, revokedHost] = hosts as [
    (typeof hosts)[0],
    (typeof hosts)[0],
    (typeof hosts)[0],
    (typeof hosts)[0],
    (typeof hosts)[0],
  ]
  const bootstrap = [`${h1.addr(lan)}:${DHT_PORT}`]
  const now = Date.now()
  const mesh = new Mesh(lab)

  // The bad members of this federation are enrolled first, so the revocation exists when the healthy ones are.
  const [expired, revoked] = (await mesh.start(
    [
      {
        host: expiredHost,
        enrol: { notBefore: now - 2 * HOUR, notAfter: now - 600_000 },
        deferStart: true,
        daemon: { env: clockShiftEnv(lab, -1_200_000) },
      },
      { host: revokedHost, deferStart: true },
    ],
    bootstrap,
  )) as [MeshNode, MeshNode]
  mesh.federation.revoke(revoked.node, 'compromised')

  // The healthy pair: certificates valid since an hour ago (so the slow-clock node accepts them: only the
  // healthy side's check can refuse it), metrics on.
  const healthy = (
    await mesh.start(
      [h1, h2].map((host) => ({
        host,
        enrol: { notBefore: now - HOUR },
        config: { metrics: { enabled: true, listen: METRICS_LISTEN } },
      })),
      bootstrap,
    )
  ).slice(2) as [MeshNode, MeshNode]
  const [n1] = healthy
  await waitFor(() => mesh.allPairsPing(healthy), { timeoutMs: 30_000, intervalMs: 200, what: 'h1 <-> h2' })

  // Another federation's member, dialling both healthy nodes by key and address.
  const other = new Mesh(lab, new TestFederation('other-federation'))
  const staticPeers = healthy.map(
    (n) => `${n.node.key.publicKey.toString('hex')}@${n.host.addr(lan)}:${DHT_PORT}`,
  )
  const [foreign] = (await other.start(
    // A mesh address of its own (its federation numbers from 100.64.0.1 too), so no check can pass by accident.
    [
      {
        host: foreignHost,
        enrol: { ipv4: '100.64.0.99' },
        config: { discovery: { static_peers: staticPeers } },
      },
    ],
    bootstrap,
  )) as [MeshNode]
  await Promise.all([mesh.startNode(expired), mesh.startNode(revoked)])

  const bad = [
    { n: foreign, reason: 'other_federation' },
    { n: expired, reason: 'expired' },
    { n: revoked, reason: 'revoked' },
  ]
  // Every refusal is counted, on each healthy node, with its reason.
  const counts = await waitFor(
    async () => {
      const texts = await Promise.all(healthy.map((n) => fetchMetrics(n.daemon!)))
      const per = bad.map(({ reason }) => texts.map((x) => sampleValue(x, REJECTED, { reason })))
      return per.every((c) => c.every((v) => v >= 1)) ? per : null
    },
    { timeoutMs: 45_000, intervalMs: 500, what: 'each healthy node counting every kind of refusal' },
  )
  t.diagnostic(
    `refusals counted (h1, h2): ${bad.map((b, i) => `${b.reason} ${counts[i]!.join(', ')}`).join('; ')}; after ${Date.now() - started} ms`,
  )

  // Nothing of the bad nodes got into the healthy nodes' WireGuard, peer lists or routes; no ping either way.
  const badIds = new Set(bad.map((b) => b.n.node.nodeId))
  for (const h of healthy) {
    const other = healthy.find((x) => x !== h)!
    const wg = await wgShow(h.daemon!)
    assert.equal(wg.peers.length, 1, `${h.node.name}: wg peers ${JSON.stringify(wg.peers)}`)
    const allowed = wg.peers.flatMap((p) => p.allowedIps)
    assert.ok(allowed.includes(`${other.node.ipv4}/32`))
    for (const b of bad)
      assert.ok(!allowed.includes(`${b.n.node.ipv4}/32`), `${h.node.name} routes ${b.n.node.name}`)
    const peers = await mesh.peers(h)
    assert.deepEqual(
      peers.filter((p) => badIds.has(p.node_id)).map((p) => p.name),
      [],
      `${h.node.name} lists refused nodes`,
    )
    assert.deepEqual(
      peers.map((p) => p.node_id),
      [other.node.nodeId],
    )
    const routes = await mesh.routes(h)
    assert.deepEqual(
      routes.map((r) => r.destination),
      [other.node.nodeId],
    )
  }
  for (const b of bad) {
    assert.equal((await wgShow(b.n.daemon!)).peers.length, 0, `${b.n.node.name} got a WireGuard peer`)
  }
  // Every ping that must fail, at once (each waits its 1 s timeout).
  const pings = bad.flatMap((b) =>
    healthy.flatMap((h) => [
      { what: `${b.n.node.name} -> ${h.node.name}`, ok: canPing(b.n.host, h.node.ipv4) },
      { what: `${h.node.name} -> ${b.n.node.name}`, ok: canPing(h.host, b.n.node.ipv4) },
    ]),
  )
  for (const p of pings) assert.equal(await p.ok, false, p.what)
  // The healthy pair kept working throughout.
  assert.ok(await mesh.allPairsPing(healthy, { ipv6: true }), 'h1 <-> h2 still ping')
  // The bootstrap node (h1) last: the others unannounce from the DHT it runs.
  await Promise.all([...mesh.nodes, ...other.nodes].filter((n) => n !== n1).map((n) => n.daemon!.stop()))
  await n1.daemon!.stop()
  t.diagnostic(`runtime ${Date.now() - started} ms`)
})
