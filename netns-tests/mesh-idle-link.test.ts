// Traffic-aware probing with real daemons: four nodes on a bridge, so some links are idle (probed every 2 s,
// dead only after 7.5 s of silence on their own). A node starts pinging another over such a link once a
// second, then the far end silently drops everything between them (its sends to us and what we send; ours
// still leave, as on a real path that died). Sending with nothing coming back makes the link fast at once, so
// the route moves through a relay within about a second, not after the idle dead interval; the pings resume.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Lab, waitFor } from './lib/index.js'
import { meshOnBridge } from './lib/mesh.js'
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
  // Past the fast period of fresh links: find an idle one.
  let pair: [number, number] | undefined
  await waitFor(
    async () => {
      for (let i = 0; i < nodes.length && !pair; i++) {
        const idle = (await mesh.peers(nodes[i]!)).find(
          (p) => p.probe_interval_ms === 2000 && p.path === 'direct',
        )
        if (idle) pair = [i, nodes.findIndex((n) => n.node.nodeId === idle.node_id)]
      }
      return pair !== undefined
    },
    { timeoutMs: 20_000, intervalMs: 500, what: 'an idle direct link' },
  )
  const [ai, bi] = pair!
  const [a, b] = [nodes[ai]!, nodes[bi]!]
  const route = async () => (await mesh.routes(a)).find((r) => r.destination === b.node.nodeId)
  assert.equal((await route())?.kind, 'direct')

  hosts[ai]!.spawn(['ping', '-n', '-q', '-i', '1', b.node.ipv4])
  await new Promise((r) => setTimeout(r, 3000))
  const peer = (await mesh.peers(a)).find((p) => p.node_id === b.node.nodeId)
  assert.equal(peer?.probe_interval_ms, 2000, 'a healthy ping a second leaves the link idle')

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
      const relayed = (await route())?.kind === 'relayed'
      const p = (await mesh.peers(a)).find((x) => x.node_id === b.node.nodeId)
      if (fastMs === undefined && (relayed || p?.probe_interval_ms === 200)) fastMs = Date.now() - cutAt
      return relayed
    },
    { timeoutMs: 15_000, intervalMs: 100, what: `${a.node.name} -> ${b.node.name} through a relay` },
  )
  const movedMs = Date.now() - cutAt
  t.diagnostic(
    `${a.node.name} -> ${b.node.name}: link probed fast ${fastMs} ms and relayed ${movedMs} ms after it died (idle dead interval 7.5 s)`,
  )
  // One traffic check (1 s) and the pace change; without the one-way rule the link stays idle until lost idle
  // probes bring it down, 4 s and more.
  assert.ok(fastMs !== undefined && fastMs < 2500, `probed fast after ${fastMs} ms`)
  // Then the fast dead-link timeout (750 ms); the idle interval's own detection would take 5.5 s or more.
  assert.ok(movedMs < 4000, `rerouted after ${movedMs} ms`)
  const reply = await a.host.exec(['ping', '-n', '-c', '3', '-W', '2', b.node.ipv4], { timeoutMs: 15_000 })
  assert.ok(reply.ok, `ping through the relay: ${reply.stdout}`)
})
