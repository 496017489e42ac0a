// A node's underlay address changes under running daemons (DHCP gave a Pi a new lease): the old address is
// removed, a new one added. Its peers still send to the old address, so its peer links are dead without
// anything saying so. The daemon notices the change (discovery compares the host's addresses every second),
// asks each peer link for a sign of life, closes those that give none and dials again at once; the peers let
// the new connection take over once their old link fails the same check. Reports how long until every pair
// pings again and each peer's WireGuard endpoint is the new address (the keepalive's dead interval alone,
// before this, took 8–12 s here).

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Lab, waitFor } from './lib/index.js'
import { meshOnBridge } from './lib/mesh.js'
import { requireRoot } from './lib/mesh-inspect.js'

test('a node whose underlay address changes is reached at its new address within seconds', async (t) => {
  if (!requireRoot(t)) return
  const lab = await Lab.create(t)
  const { mesh, nodes, hosts, lan } = await meshOnBridge(lab, ['m1', 'm2', 'm3'], {})
  await waitFor(async () => mesh.allPairsPing(nodes), {
    timeoutMs: 60_000,
    intervalMs: 200,
    what: 'a full mesh',
  })
  // m1 runs the federation's DHT bootstrap node; m3 is an ordinary member and moves.
  const mover = nodes[2]!
  const host = hosts[2]!
  const newAddr = lan.subnet.v4(200)
  const movedAt = Date.now()
  await host.renumber(lan, newAddr)

  const seenAt = new Map<string, number>()
  await waitFor(
    async () => {
      for (const n of nodes.slice(0, 2)) {
        if (seenAt.has(n.node.name)) continue
        const p = (await mesh.peers(n)).find((x) => x.node_id === mover.node.nodeId)
        if (p?.endpoint?.startsWith(`${newAddr}:`)) seenAt.set(n.node.name, Date.now() - movedAt)
      }
      return seenAt.size === 2
    },
    {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: `both peers use ${newAddr} as ${mover.node.name}'s endpoint`,
    },
  )
  await waitFor(async () => mesh.allPairsPing(nodes), {
    timeoutMs: 30_000,
    intervalMs: 100,
    what: 'every pair pinging after the move',
  })
  const pingingMs = Date.now() - movedAt
  // How: the mover closed links that gave no sign of life after the change; without that, the links waited
  // for the keepalive's dead interval.
  const log = mover.daemon!.proc.logText()
  const closed = log.split('\n').filter((l) => l.includes('peer link gave no sign of life')).length
  assert.ok(log.includes('network interfaces changed'), 'the daemon noticed the change')
  assert.ok(closed >= 1, `the mover closed its dead links after checking them (${closed})`)
  t.diagnostic(
    `new endpoint seen by ${[...seenAt].map(([n, ms]) => `${n} after ${ms} ms`).join(', ')}; every pair pinging after ${pingingMs} ms; ${closed} dead link(s) closed by the check`,
  )
})
