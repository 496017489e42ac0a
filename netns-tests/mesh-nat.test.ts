// Two nodes each behind its own home-router NAT (MASQUERADE, unsolicited inbound dropped) and one reachable
// bootstrap node on the public side. The NATed nodes must reach each other over mesh IPv4, either directly (the
// hole punch worked, for hyperswarm and then for WireGuard) or relayed through the bootstrap node; the test
// reports which one the operator's view (`blackroad peers --json`) shows and that pings follow it.

import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import { canPing, Lab, ping, waitFor } from './lib/index.js'
import { DHT_PORT, Mesh, type MeshNode } from './lib/mesh.js'
import { requireRoot, wgShow } from './lib/mesh-inspect.js'

test('two nodes behind separate NATs reach each other over the mesh (direct or relayed)', async (t) => {
  await natScenario(t, false)
})

// Both NATs map every flow to a new public port (MASQUERADE --random-fully): no hole punch can work, so the
// two reach each other only through a relay, and the routing must find it by itself.
test('two nodes behind symmetric NATs reach each other, relayed through the public node', async (t) => {
  await natScenario(t, true)
})

async function natScenario(t: TestContext, symmetric: boolean): Promise<void> {
  if (!requireRoot(t)) return
  const started = Date.now()
  const lab = await Lab.create(t)
  const wan = await lab.bridge('wan')
  const pub = await lab.host('pub')
  await lab.attach(pub, wan)
  const natA = await lab.natRouter('nata', { wan, symmetric })
  const natB = await lab.natRouter('natb', { wan, symmetric })
  const a = await lab.host('a')
  const b = await lab.host('b')
  await lab.behind(a, natA)
  await lab.behind(b, natB)

  const mesh = new Mesh(lab)
  const [p, na, nb] = (await mesh.start(
    [{ host: pub }, { host: a }, { host: b }],
    [`${pub.addr(wan)}:${DHT_PORT}`],
  )) as [MeshNode, MeshNode, MeshNode]

  // Both directions on mesh IPv4; the relay path, if it is one, must work just as well.
  await waitFor(async () => (await canPing(a, nb.node.ipv4)) && (await canPing(b, na.node.ipv4)), {
    timeoutMs: 60_000,
    intervalMs: 250,
    what: 'a <-> b over mesh IPv4 through their NATs',
  })
  const joinMs = Date.now() - started

  // Let a hole punch that is still in progress finish before reading the path (bounded: 10 s of direct tries).
  const viewOf = async (from: MeshNode, to: MeshNode) =>
    (await mesh.peers(from)).find((x) => x.node_id === to.node.nodeId)
  await waitFor(async () => (await viewOf(na, nb))?.path === 'direct', {
    timeoutMs: 10_000,
    intervalMs: 500,
  }).catch(() => undefined)
  const ab = await viewOf(na, nb)
  const ba = await viewOf(nb, na)
  assert.ok(ab && ba, 'each NATed node lists the other as a peer')
  const kind = ab.path
  assert.ok(kind === 'direct' || kind === 'relayed', `path a->b is ${kind}`)
  if (symmetric)
    assert.equal(kind, 'relayed', 'two symmetric NATs cannot be hole punched: the path is relayed')
  assert.equal(ab.state, 'up')
  if (kind === 'relayed') {
    assert.equal(ab.via, p.node.nodeId, 'a relayed path goes through the bootstrap node')
  } else {
    // A direct path: a's WireGuard peer for b points at b's NAT's public address, not at anything private.
    const wgA = await wgShow(na.daemon!)
    const peerB = wgA.peers.find((x) => x.publicKey === ab.wg_public_key)
    assert.ok(peerB, `a's WireGuard has a peer with b's key ${ab.wg_public_key}`)
    assert.ok(peerB?.endpoint?.startsWith(`${natB.wanAddr}:`), `a's endpoint for b: ${peerB?.endpoint}`)
    assert.ok(peerB.latestHandshake > 0, 'a and b completed a WireGuard handshake through both NATs')
  }
  t.diagnostic(`NAT path a->b: ${kind}${ab.via ? ` via ${ab.via.slice(0, 12)}` : ''}; b->a: ${ba.path}`)
  // Each NAT drops unsolicited inbound TCP, so no TCP lane can form between a and b: their bus (if they have a
  // peer link) stays on it. A NATed node's lane to the public node forms whichever end opened the link (when
  // the public node did, its dial fails and the NATed node dials instead).
  assert.notEqual(ab.bus_lane, 'tcp', 'no TCP lane through two NATs')
  assert.notEqual(ba.bus_lane, 'tcp', 'no TCP lane through two NATs')
  const laneToPub = async (n: MeshNode) =>
    (await mesh.peers(n)).find((x) => x.node_id === p.node.nodeId)?.bus_lane ?? null
  await waitFor(async () => (await laneToPub(na)) === 'tcp' && (await laneToPub(nb)) === 'tcp', {
    timeoutMs: 20_000,
    intervalMs: 250,
    what: 'TCP lanes from both NATed nodes to the public node',
  })
  t.diagnostic(`bus a<->b: ${ab.bus_lane ?? 'no link'}; a<->pub and b<->pub: tcp`)

  const stats = await ping(a, nb.node.ipv4, { count: 10, intervalS: 0.05 })
  assert.ok(stats.received >= 9, `a -> b over the mesh: ${stats.output}`)
  t.diagnostic(
    `a->b ping: ${stats.received}/${stats.transmitted}, median ${stats.medianMs} ms; join ${joinMs} ms`,
  )
  // Each NATed node also reaches the public one (the relay, when there is one, serves its own address too).
  assert.ok(await canPing(a, p.node.ipv4))
  assert.ok(await canPing(b, p.node.ipv4))
  const stopAt = Date.now()
  // The bootstrap node last: the others unannounce from the DHT it runs.
  await Promise.all([na, nb].map((n) => n.daemon!.stop()))
  await p.daemon!.stop()
  t.diagnostic(`stop ${Date.now() - stopAt} ms; runtime ${Date.now() - started} ms`)
}
