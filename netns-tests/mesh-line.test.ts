// A line of four routers, A–B–C–D, joined only by point-to-point links: A and D have no underlay path to each
// other (nor A–C, B–D), so A reaches D's mesh address only through two relays. Checks the data path (ping over
// mesh IPv4 and IPv6) and the operator's view: `blackroad routes` on A shows D via B with the 3-hop path B, C, D,
// and `peers` shows D relayed. Discovery runs over the links only (lib/routed-links.ts explains how).

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { canPing, Lab, ping, waitFor } from './lib/index.js'
import { Mesh, type MeshNode } from './lib/mesh.js'
import { requireRoot, wgShow } from './lib/mesh-inspect.js'
import { routedLinks } from './lib/routed-links.js'

test('line A-B-C-D: A reaches D through two relays', async (t) => {
  if (!requireRoot(t)) return
  const started = Date.now()
  const lab = await Lab.create(t)
  const hosts = []
  for (const name of ['a', 'b', 'c', 'd']) hosts.push(await lab.host(name, { forwarding: true }))
  const [a, b, c, d] = hosts as [(typeof hosts)[0], (typeof hosts)[0], (typeof hosts)[0], (typeof hosts)[0]]
  const links = [await lab.link(a, b), await lab.link(b, c), await lab.link(c, d)]
  const { bootstrap } = await routedLinks(lab, hosts, links, b)

  // The underlay really is a line: A cannot reach D (or C) outside the mesh.
  assert.equal(await canPing(a, d.addr(links[2])), false, 'A has no underlay path to D')
  assert.equal(await canPing(a, c.addr(links[1])), false, 'A has no underlay path to C')

  const mesh = new Mesh(lab)
  const nodes = (await mesh.start(
    hosts.map((host) => ({ host })),
    bootstrap,
  )) as [MeshNode, MeshNode, MeshNode, MeshNode]
  const [na, nb, nc, nd] = nodes
  const ids = new Map(nodes.map((n) => [n.node.nodeId, n.node.name]))
  const name = (id: string) => ids.get(id) ?? id.slice(0, 12)

  await waitFor(async () => (await canPing(a, nd.node.ipv4)) && (await canPing(d, na.node.ipv4)), {
    timeoutMs: 60_000,
    intervalMs: 250,
    what: 'A <-> D over mesh IPv4',
  })
  t.diagnostic(`join (daemons starting -> A pings D): ${Date.now() - started} ms`)
  assert.ok(await canPing(a, nd.node.ipv6), 'A -> D over mesh IPv6')

  // Routes settle once every record has flooded; then A's view of D is fixed: next hop B, path B, C, D.
  const routeToD = await waitFor(
    async () => {
      const r = (await mesh.routes(na)).find((x) => x.destination === nd.node.nodeId)
      return r && r.path.length === 3 ? r : null
    },
    { timeoutMs: 20_000, intervalMs: 300, what: "A's route to D with a 3-hop path" },
  )
  assert.equal(routeToD.next_hop, nb.node.nodeId, `next hop ${name(routeToD.next_hop)}`)
  assert.deepEqual(routeToD.path.map(name), ['b', 'c', 'd'])
  assert.equal(routeToD.kind, 'relayed')
  t.diagnostic(
    `A's route to D: via ${routeToD.next_hop_name}, path ${routeToD.path.map(name).join(' -> ')}, rtt ${routeToD.rtt_ms} ms, cost ${routeToD.cost_ms} ms`,
  )

  const peers = await mesh.peers(na)
  const pd = peers.find((p) => p.node_id === nd.node.nodeId)
  assert.equal(pd?.path, 'relayed')
  assert.equal(pd?.via, nb.node.nodeId)
  // Only the link neighbours are direct: A's WireGuard holds exactly one peer, B, carrying C's and D's addresses.
  const direct = peers.filter((p) => p.path === 'direct').map((p) => name(p.node_id))
  assert.deepEqual(direct, ['b'])
  const wgA = await wgShow(na.daemon!)
  assert.equal(wgA.peers.length, 1, JSON.stringify(wgA.peers))
  for (const n of [nb, nc, nd])
    assert.ok(wgA.peers[0]!.allowedIps.includes(`${n.node.ipv4}/32`), `${n.node.name}'s address via B`)

  const stats = await ping(a, nd.node.ipv4, { count: 10, intervalS: 0.05 })
  assert.ok(stats.received >= 9, stats.output)
  t.diagnostic(
    `A->D ping through 2 relays: ${stats.received}/${stats.transmitted}, median ${stats.medianMs} ms`,
  )
  await Promise.all(nodes.map((n) => n.daemon!.stop()))
  t.diagnostic(`runtime ${Date.now() - started} ms`)
})
