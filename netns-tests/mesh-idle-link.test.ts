// Traffic-aware probing with real daemons: four nodes on a bridge, so some links are idle (probed every 2 s as
// a watch link or 10 s otherwise, dead only after 7.5 s or 37.5 s of silence on their own). A node starts pinging another over such a link once a
// second, then the far end silently drops everything between them (its sends to us and what we send; ours
// still leave, as on a real path that died). Sending with nothing coming back makes the link fast at once, so
// the route moves through a relay within about a second, not after the idle dead interval; the pings resume.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { canPing, Lab, waitFor } from './lib/index.js'
import { type MeshNode, meshOnBridge } from './lib/mesh.js'
import { requireRoot } from './lib/mesh-inspect.js'

test('a silently failed idle link under a ping a second is rerouted within seconds, not the idle dead interval', async (t) => {
  if (!requireRoot(t)) return
  const lab = await Lab.create(t)
  const { mesh, nodes, hosts } = await meshOnBridge(lab, ['i1', 'i2', 'i3', 'i4'], {})
  await waitFor(async () => mesh.allPairsPing(nodes), {
    timeoutMs: 60_000,
    intervalMs: 200,
    what: 'a full mesh',
  })
  // Past the fast period of fresh links: find an idle one that carries its route. (Right after the start a
  // route may still go through a relay while a link's first RTT samples, inflated by four daemons starting
  // on two cores, are corrected at the slower pace: CI once picked such a pair 3 s after the full mesh.)
  let pair: [number, number] | undefined
  const routeKind = async (from: MeshNode, to: MeshNode) =>
    (await mesh.routes(from)).find((r) => r.destination === to.node.nodeId)?.kind
  await waitFor(
    async () => {
      for (let i = 0; i < nodes.length && !pair; i++) {
        const idle = (await mesh.peers(nodes[i]!)).find(
          (p) => (p.probe_interval_ms ?? 0) >= 2000 && p.path === 'direct',
        )
        const j = nodes.findIndex((n) => n.node.nodeId === idle?.node_id)
        if (idle && (await routeKind(nodes[i]!, nodes[j]!)) === 'direct') pair = [i, j]
      }
      return pair !== undefined
    },
    { timeoutMs: 30_000, intervalMs: 500, what: 'an idle direct link carrying its route' },
  )
  const [ai, bi] = pair!
  const [a, b] = [nodes[ai]!, nodes[bi]!]

  hosts[ai]!.spawn(['ping', '-n', '-q', '-i', '1', b.node.ipv4])
  // A healthy ping a second leaves the link idle (a first handshake or a request and its reply split across
  // two traffic checks can make it fast for a few seconds, no longer).
  await waitFor(
    async () =>
      ((await mesh.peers(a)).find((p) => p.node_id === b.node.nodeId)?.probe_interval_ms ?? 0) >= 2000,
    {
      timeoutMs: 15_000,
      intervalMs: 250,
      what: `${a.node.name} -> ${b.node.name} idle under a ping a second`,
    },
  )
  // The link under test must carry the route when it dies.
  await waitFor(async () => (await routeKind(a, b)) === 'direct', {
    timeoutMs: 15_000,
    intervalMs: 250,
    what: `${a.node.name} -> ${b.node.name} direct before the cut`,
  })
  const cutAt = Date.now()
  for (const [chain, dir] of [
    ['INPUT', '-s'],
    ['OUTPUT', '-d'],
  ] as const)
    await hosts[bi]!.execOk(['iptables', '-I', chain, '-p', 'udp', dir, hosts[ai]!.addr(), '-j', 'DROP'])
  // When A's link to B turned fast (traffic noticed; a link that went down is probed fast too) and when the
  // route moved.
  let fastMs: number | undefined
  await waitFor(
    async () => {
      // One CLI call per look: the peer entry says both the pace and whether B is now reached through a relay.
      const p = (await mesh.peers(a)).find((x) => x.node_id === b.node.nodeId)
      const relayed = p?.path === 'relayed'
      if (fastMs === undefined && (relayed || p?.probe_interval_ms === 200)) fastMs = Date.now() - cutAt
      return relayed
    },
    { timeoutMs: 15_000, intervalMs: 50, what: `${a.node.name} -> ${b.node.name} through a relay` },
  )
  const movedMs = Date.now() - cutAt
  t.diagnostic(
    `${a.node.name} -> ${b.node.name}: link probed fast ${fastMs} ms and relayed ${movedMs} ms after it died (idle dead interval 7.5 s or more)`,
  )
  // One traffic check (1 s) and the pace change; without the one-way rule the link stays idle until lost idle
  // probes bring it down, 3.9 s and more here.
  assert.ok(fastMs !== undefined && fastMs < 3000, `probed fast after ${fastMs} ms`)
  // Then the fast dead-link timeout (750 ms); the idle interval's own detection would take 5.5 s or more.
  assert.ok(movedMs < 4000, `rerouted after ${movedMs} ms`)
  const relayedAt = Date.now()
  await waitFor(() => canPing(a.host, b.node.ipv4), {
    timeoutMs: 15_000,
    intervalMs: 100,
    what: `${a.node.name} pings ${b.node.name} through a relay`,
  })
  t.diagnostic(`pings through the relay ${Date.now() - relayedAt} ms after the route moved`)
  // Both ends route through the same relay: WireGuard at each end takes the other's packets only from the
  // peer it routes to. Ends that held different near-equal relays (routes held by a margin, since removed)
  // dropped every reply here for 2 s once and for more than 15 s another time. Right after the move the two
  // ends may still differ while the new records flood (CI once saw that 12 ms after A's route moved); from
  // the same records they compute the same path, so they must agree within a few refloods.
  const looks: string[] = []
  await waitFor(
    async () => {
      const [ab, ba] = [await mesh.routes(a), await mesh.routes(b)]
      const there = ab.find((r) => r.destination === b.node.nodeId)
      const back = ba.find((r) => r.destination === a.node.nodeId)
      const same =
        there?.kind === 'relayed' &&
        back?.kind === 'relayed' &&
        JSON.stringify([...back.path].reverse().slice(1)) === JSON.stringify(there.path.slice(0, -1))
      // Thrown, so a timeout reports the last two routes.
      if (!same) {
        looks.push(
          `${Date.now() - relayedAt} ms ${a.node.name}: ${there?.path}; ${b.node.name}: ${back?.path}`,
        )
        throw new Error(looks.at(-1))
      }
      return true
    },
    { timeoutMs: 5_000, intervalMs: 50, what: 'one path both ways' },
  )
  t.diagnostic(
    `both ends on one relay path (seen ${Date.now() - relayedAt} ms after the route moved; each look is two CLI calls); earlier looks: ${looks.join(' | ') || 'none'}`,
  )
  assert.ok(await canPing(a.host, b.node.ipv4), `${a.node.name} pings ${b.node.name} on the agreed path`)
})
