// The routing driver over an in-memory network with real timers: four routers in a diamond with 5 ms links
// on the B side and 20 ms on the C side. A reaches D via B; a silently dropped A–B link moves D to C within
// the dead-link timeout; restoring it moves D back. Probes, records and plans are the real code.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { generateKeyPair, type KeyPair, nodeIdFromPublicKey } from '../../src/identity/index.js'
import type { RoutePlan } from '../../src/routing/index.js'
import { RoutingDriver } from '../../src/routing/driver.js'

interface Node {
  id: string
  key: KeyPair
  driver: RoutingDriver
  plan: RoutePlan
}

test('diamond: best path, silent cut, recovery', async () => {
  const names = ['a', 'b', 'c', 'd'] as const
  const keys = Object.fromEntries(names.map((n) => [n, generateKeyPair()])) as Record<(typeof names)[number], KeyPair>
  const ids = Object.fromEntries(names.map((n) => [n, nodeIdFromPublicKey(keys[n].publicKey)])) as Record<string, string>
  const byId = new Map(names.map((n) => [ids[n]!, n]))
  const addr = (id: string) => {
    const i = names.indexOf(byId.get(id)!) + 1
    return [`100.64.0.${i}/32`]
  }
  const delayMs = new Map<string, number>()
  const link = (x: string, y: string, ms: number) => {
    delayMs.set(`${ids[x]}|${ids[y]}`, ms)
    delayMs.set(`${ids[y]}|${ids[x]}`, ms)
  }
  link('a', 'b', 5)
  link('b', 'd', 5)
  link('a', 'c', 20)
  link('c', 'd', 20)
  const cut = new Set<string>()
  const nodes = new Map<string, Node>()
  const timers = new Set<NodeJS.Timeout>()
  const deliver = (from: string, to: string, fn: (n: Node) => void) => {
    const ms = delayMs.get(`${from}|${to}`)
    if (ms === undefined || cut.has(`${from}|${to}`)) return false
    const t = setTimeout(() => {
      timers.delete(t)
      const n = nodes.get(to)
      if (n) fn(n)
    }, ms)
    timers.add(t)
    return true
  }
  for (const n of names) {
    const id = ids[n]!
    const node: Node = { id, key: keys[n], plan: { peers: [], routes: [], issues: [] }, driver: null as unknown as RoutingDriver }
    node.driver = new RoutingDriver({
      localId: id,
      nodeKey: keys[n],
      keyOf: (x) => keys[byId.get(x) as (typeof names)[number]]?.publicKey,
      addressesOf: addr,
      probeIntervalMs: 100,
      deadLinkTimeoutMs: 500,
      transport: {
        sendProbe: (peer, frame) => deliver(id, peer, (p) => p.driver.onProbeFrame(id, frame)),
        sendRecord: (peer, _origin, bytes) => void deliver(id, peer, (p) => p.driver.onRecord(id, bytes)),
      },
    })
    node.driver.on('plan', (p) => (node.plan = p))
    nodes.set(id, node)
  }
  const a = nodes.get(ids.a!)!
  const routeTo = (n: Node, dest: string) => n.plan.routes.find((r) => r.destination === ids[dest])
  const waitFor = async (what: string, cond: () => boolean, ms: number) => {
    const start = Date.now()
    while (!cond()) {
      if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 10))
    }
    return Date.now() - start
  }
  try {
    for (const n of nodes.values()) n.driver.start()
    for (const [key] of delayMs) {
      const [x, y] = key.split('|')
      nodes.get(x!)!.driver.neighbourUp(y!)
    }
    await waitFor('A routes to D via B', () => routeTo(a, 'd')?.nextHop === ids.b, 5000)
    const viaB = routeTo(a, 'd')!
    assert.deepEqual(viaB.path, [ids.b, ids.d])
    assert.equal(viaB.kind, 'relayed')
    const peerB = a.plan.peers.find((p) => p.nodeId === ids.b)!
    assert.ok(peerB.allowedIps.includes('100.64.0.4/32'), 'D is routed through B on the WireGuard plan')

    // Silent failure: packets on A–B dropped both ways, no link-down from the transport.
    cut.add(`${ids.a}|${ids.b}`)
    cut.add(`${ids.b}|${ids.a}`)
    const moved = await waitFor('A moves D to C', () => routeTo(a, 'd')?.nextHop === ids.c, 3000)
    assert.ok(moved < 1500, `rerouted after ${moved} ms`)
    assert.ok(a.plan.peers.find((p) => p.nodeId === ids.c)!.allowedIps.includes('100.64.0.4/32'))

    cut.clear()
    await waitFor('A moves D back to B', () => routeTo(a, 'd')?.nextHop === ids.b, 5000)
  } finally {
    for (const n of nodes.values()) n.driver.stop()
    for (const t of timers) clearTimeout(t)
  }
})
