// The diamond: A–B–D and A–C–D as point-to-point links, fast on the B side (5 ms one way per link) and slow on the
// C side (20 ms), with no A–D and no B–C link. A reaches D via B; then A–B is cut silently (packets dropped, the
// carrier stays up) while A pings D's mesh address every 20 ms: traffic must move to C, and the largest interval
// without replies is the failover gap (reported; asserted only against a generous bound, the < 1 s target is the
// bench's). Restoring A–B moves the route back to B. Discovery runs over the links only (lib/routed-links.ts):
// the bootstrap hangs off C, so the cut never touches anyone's DHT path and only the mesh reacts to it.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { canPing, Lab, sleepMs, waitFor } from './lib/index.js'
import { Mesh, type MeshNode } from './lib/mesh.js'
import { requireRoot, routeChangeLoggedAt } from './lib/mesh-inspect.js'
import { PingLoop } from './lib/ping-loop.js'
import { routedLinks } from './lib/routed-links.js'

const GAP_BOUND_MS = 5_000
/** Usually shorter than the peer link's keepalive death (5 s), so the A-B link survives the cut; when a loaded machine
 * makes the CLI slow the cut lasts longer, the link dies, and discovery re-links A-B after the restore (also fine). */
const CUT_HOLD_MS = 3_500

test('diamond: cutting A-B moves A->D traffic to C, restoring moves it back', async (t) => {
  if (!requireRoot(t)) return
  const started = Date.now()
  const lab = await Lab.create(t)
  const hosts = []
  for (const name of ['a', 'b', 'c', 'd']) hosts.push(await lab.host(name, { forwarding: true }))
  const [a, b, c, d] = hosts as [(typeof hosts)[0], (typeof hosts)[0], (typeof hosts)[0], (typeof hosts)[0]]
  // Order matters only for the bootstrap tree (BFS from C finds D first, then B through D): no DHT path uses A-B.
  const cd = await lab.link(c, d, { delayMs: 20 })
  const ac = await lab.link(a, c, { delayMs: 20 })
  const bd = await lab.link(b, d, { delayMs: 5 })
  const ab = await lab.link(a, b, { delayMs: 5 })
  const { bootstrap } = await routedLinks(lab, hosts, [cd, ac, bd, ab], c)
  assert.equal(await canPing(a, d.addr(bd)), false, 'A has no underlay path to D')

  const mesh = new Mesh(lab)
  const nodes = (await mesh.start(
    hosts.map((host) => ({ host })),
    bootstrap,
  )) as [MeshNode, MeshNode, MeshNode, MeshNode]
  const [na, nb, nc, nd] = nodes
  const names = new Map(nodes.map((n) => [n.node.nodeId, n.node.name]))
  const nextHopToD = async () =>
    (await mesh.routes(na)).find((r) => r.destination === nd.node.nodeId)?.next_hop ?? null

  await waitFor(async () => (await canPing(a, nd.node.ipv4)) && (await canPing(d, na.node.ipv4)), {
    timeoutMs: 60_000,
    intervalMs: 250,
    what: 'A <-> D over mesh IPv4',
  })
  // All four links up and measured: A's best path to D is the fast one, via B.
  await waitFor(async () => (await nextHopToD()) === nb.node.nodeId, {
    timeoutMs: 30_000,
    intervalMs: 300,
    what: 'A routes D via B',
  })
  const before = (await mesh.routes(na)).find((r) => r.destination === nd.node.nodeId)!
  t.diagnostic(
    `before: A->D via ${before.next_hop_name}, cost ${before.cost_ms} ms; join ${Date.now() - started} ms`,
  )

  const loop = PingLoop.start(a, nd.node.ipv4, { intervalMs: 20, timeoutS: 2 })
  await sleepMs(1_000)

  // Cut A-B silently; traffic must move to C.
  const cutAt = Date.now()
  await ab.cut()
  const movedAt = await waitFor(async () => ((await nextHopToD()) === nc.node.nodeId ? Date.now() : null), {
    timeoutMs: 20_000,
    intervalMs: 100,
    what: 'A routes D via C after the cut',
  })
  const viaC = (await mesh.routes(na)).find((r) => r.destination === nd.node.nodeId)!
  assert.deepEqual(
    viaC.path.map((id) => names.get(id)),
    ['c', 'd'],
  )
  // Hold the cut until replies through C are seen (bounded: the data plane sometimes resumes seconds after the
  // route moved, an open problem the reported gap shows), and at least CUT_HOLD_MS in all.
  await waitFor(() => loop.stats(movedAt, Date.now()).replies.length > 0, {
    timeoutMs: 15_000,
    intervalMs: 100,
    what: 'replies through C after the route moved',
  }).catch(() => undefined)
  await sleepMs(Math.max(0, cutAt + CUT_HOLD_MS - Date.now(), movedAt + 1_000 - Date.now()))

  // Restore: the route moves back to B.
  const restoreAt = Date.now()
  await ab.restore()
  const backAt = await waitFor(async () => ((await nextHopToD()) === nb.node.nodeId ? Date.now() : null), {
    timeoutMs: 45_000,
    intervalMs: 200,
    what: 'A routes D via B again after the restore',
  })
  await sleepMs(1_500)
  await loop.stop()

  const cutWindow = loop.stats(cutAt - 200, restoreAt)
  const restoreWindow = loop.stats(restoreAt, backAt + 1_500)
  const whole = loop.stats()
  const moveLogged = routeChangeLoggedAt(na.daemon!, 'switched', nd.node.nodeId, cutAt)
  t.diagnostic(
    `failover gap (largest interval without replies after the cut): ${cutWindow.maxGapMs} ms; A's route to D ` +
      `switched ${moveLogged === null ? '(not logged)' : `${moveLogged - cutAt} ms`} after the cut per its log ` +
      `(${movedAt - cutAt} ms by CLI polling)`,
  )
  t.diagnostic(
    `restore: route back via B after ${backAt - restoreAt} ms, largest gap around it ${restoreWindow.maxGapMs} ms; ` +
      `whole run ${whole.received}/${whole.transmitted} replies (${whole.lossPct.toFixed(1)} % lost)`,
  )
  assert.ok(cutWindow.replies.length > 0, 'replies came back during the cut (through C)')
  assert.ok(cutWindow.maxGapMs < GAP_BOUND_MS, `failover gap ${cutWindow.maxGapMs} ms`)
  assert.ok(restoreWindow.maxGapMs < GAP_BOUND_MS, `gap while moving back ${restoreWindow.maxGapMs} ms`)
  // Replies after the cut came through C: the last ones arrived after the route moved.
  assert.ok(
    cutWindow.replies.some((r) => r.at > movedAt),
    'pings flow through C after the move',
  )
  await Promise.all(nodes.map((n) => n.daemon!.stop()))
  t.diagnostic(`runtime ${Date.now() - started} ms`)
})
