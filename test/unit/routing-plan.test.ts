// Route plan: WireGuard peer entries from selected routes (direct peers carry their own addresses, relayed
// routers ride on the first hop's entry), the `blackroad routes` view, address conflicts, and the whole
// pipeline as the daemon driver runs it: signed records -> database -> graph -> routes -> plan.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { keyPairFromSeed, nodeIdFromPublicKey } from '../../src/identity/index.js'
import {
  buildGraph,
  graphFromEdges,
  LinkStateDb,
  type LinkStateRecord,
  planRoutes,
  RouteSelector,
  sealLinkState,
} from '../../src/routing/index.js'

const addrs: Record<string, string[]> = {
  A: ['100.64.0.1', 'fd5e::1/128'],
  B: ['100.64.0.2', 'fd5e::2/128'],
  C: ['100.64.0.3', 'fd5e::3/128'],
  D: ['100.64.0.4', 'fd5e::4/128', '10.40.0.0/16'],
}
const addressesOf = (id: string) => addrs[id] ?? []

function routesOver(edges: Array<[string, string, number]>, local = 'A') {
  const graph = graphFromEdges(edges)
  const table = new RouteSelector(local).update(graph).table
  return { graph, table }
}

describe('planRoutes', () => {
  it('gives direct peers their own addresses and puts relayed routers on the first hop', () => {
    const { graph, table } = routesOver([
      ['A', 'B', 6000],
      ['B', 'D', 6000],
      ['A', 'C', 21000],
      ['C', 'D', 21000],
    ])
    const plan = planRoutes({
      localId: 'A',
      routes: table,
      neighbours: graph.adj.get('A')!.keys(),
      addressesOf,
    })
    assert.deepEqual(plan.peers, [
      {
        nodeId: 'B',
        allowedIps: ['10.40.0.0/16', '100.64.0.2/32', '100.64.0.4/32', 'fd5e::2/128', 'fd5e::4/128'],
        relayFor: ['D'],
      },
      { nodeId: 'C', allowedIps: ['100.64.0.3/32', 'fd5e::3/128'], relayFor: [] },
    ])
    assert.deepEqual(plan.routes, [
      {
        destination: 'B',
        nextHop: 'B',
        path: ['B'],
        costMicros: 6000,
        hops: 1,
        kind: 'direct',
        addresses: ['100.64.0.2/32', 'fd5e::2/128'],
      },
      {
        destination: 'C',
        nextHop: 'C',
        path: ['C'],
        costMicros: 21000,
        hops: 1,
        kind: 'direct',
        addresses: ['100.64.0.3/32', 'fd5e::3/128'],
      },
      {
        destination: 'D',
        nextHop: 'B',
        path: ['B', 'D'],
        costMicros: 12000,
        hops: 2,
        kind: 'relayed',
        addresses: ['10.40.0.0/16', '100.64.0.4/32', 'fd5e::4/128'],
      },
    ])
    assert.deepEqual(plan.issues, [])
  })

  it('sends everything beyond the first relay of a line to that relay', () => {
    const { table } = routesOver([
      ['A', 'B', 1],
      ['B', 'C', 1],
      ['C', 'D', 1],
    ])
    const plan = planRoutes({ localId: 'A', routes: table, addressesOf })
    assert.equal(plan.peers.length, 1)
    assert.deepEqual(plan.peers[0]!.relayFor, ['C', 'D'])
    assert.equal(plan.peers[0]!.allowedIps.length, 2 + 2 + 3)
    assert.deepEqual(plan.routes.find((r) => r.destination === 'D')!.path, ['B', 'C', 'D'])
  })

  it('keeps an idle entry for a neighbour reached more cheaply through a relay', () => {
    const { graph, table } = routesOver([
      ['A', 'B', 50_000],
      ['A', 'C', 1000],
      ['C', 'B', 1000],
    ])
    const plan = planRoutes({
      localId: 'A',
      routes: table,
      neighbours: graph.adj.get('A')!.keys(),
      addressesOf,
    })
    assert.deepEqual(
      plan.peers.map((p) => [p.nodeId, p.allowedIps.length, p.relayFor]),
      [
        ['B', 0, []],
        ['C', 4, ['B']],
      ],
    )
  })

  it('leaves out and reports prefixes it must not program', () => {
    const { table } = routesOver([
      ['A', 'B', 1],
      ['A', 'C', 1],
      ['A', 'D', 1],
    ])
    const claims: Record<string, string[]> = {
      A: ['100.64.0.1'],
      B: ['100.64.0.2', '10.9.0.0/16', 'fd5e::9/128', '100.64.0.1/32'],
      C: ['100.64.0.3', '10.9.0.0/16', 'fd5e:0::9', 'nonsense'],
      D: ['100.64.0.4', '0.0.0.0/0'],
    }
    const plan = planRoutes({ localId: 'A', routes: table, addressesOf: (id) => claims[id] ?? [] })
    assert.deepEqual(
      plan.peers.map((p) => [p.nodeId, p.allowedIps]),
      [
        ['B', ['100.64.0.2/32']],
        ['C', ['100.64.0.3/32']],
        ['D', ['100.64.0.4/32']],
      ],
    )
    assert.deepEqual(plan.issues, [
      { address: '0.0.0.0/0', nodeIds: ['D'], problem: 'default-route' },
      { address: '10.9.0.0/16', nodeIds: ['B', 'C'], problem: 'duplicate' },
      { address: '100.64.0.1/32', nodeIds: ['A', 'B'], problem: 'local' },
      { address: 'fd5e::9/128', nodeIds: ['B', 'C'], problem: 'duplicate' },
      { address: 'nonsense', nodeIds: ['C'], problem: 'invalid' },
    ])
  })

  it('is empty for an isolated node', () => {
    const plan = planRoutes({ localId: 'A', routes: new Map(), addressesOf })
    assert.deepEqual(plan, { peers: [], routes: [], issues: [] })
  })
})

describe('routing pipeline (as the daemon driver runs it)', () => {
  const now = 1_732_000_000_000
  const keys = [1, 2, 3, 4].map((i) => keyPairFromSeed(Buffer.alloc(32, 10 + i)))
  const [a, b, c, d] = keys.map((k) => nodeIdFromPublicKey(k.publicKey)) as [string, string, string, string]
  const keyOf = (id: string) => keys.find((k) => nodeIdFromPublicKey(k.publicKey) === id)?.publicKey
  const addressOf: Record<string, string> = {
    [a]: '100.64.0.1',
    [b]: '100.64.0.2',
    [c]: '100.64.0.3',
    [d]: '100.64.0.4',
  }
  const ms = 1000

  /** The records each router would originate for the diamond, A–B–D fast and A–C–D slow. */
  function originate(seq: number, abUp: boolean): LinkStateRecord[] {
    const link = (peer: string, rttMs: number, up = true) => ({
      peer,
      rttMicros: rttMs * ms,
      lossPermille: 0,
      up,
    })
    const mk = (origin: string, links: LinkStateRecord['links']): LinkStateRecord => ({
      origin,
      seq,
      issuedAt: now + seq,
      links,
      addresses: [`${addressOf[origin]}/32`],
    })
    return [
      mk(a, [link(b, 10, abUp), link(c, 40)]),
      mk(b, [link(a, 10, abUp), link(d, 10)]),
      mk(c, [link(a, 40), link(d, 40)]),
      mk(d, [link(b, 10), link(c, 40)]),
    ]
  }

  it('floods, computes and plans; a cut moves D to C at once and a repair brings it back', () => {
    const lsdb = new LinkStateDb({ localId: a, keyOf })
    const selector = new RouteSelector(a)
    const step = (seq: number, abUp: boolean) => {
      for (const r of originate(seq, abUp)) {
        const signed = sealLinkState(r, keys.find((k) => nodeIdFromPublicKey(k.publicKey) === r.origin)!)
        if (r.origin === a) lsdb.installLocal(signed)
        else assert.equal(lsdb.receive(signed.bytes, now + seq).status, 'accepted')
      }
      const graph = buildGraph(lsdb.records())
      const { table } = selector.update(graph)
      return planRoutes({
        localId: a,
        routes: table,
        neighbours: graph.adj.get(a)?.keys(),
        addressesOf: (id) => lsdb.get(id)?.record.addresses ?? [],
      })
    }
    const viaOf = (plan: ReturnType<typeof planRoutes>) =>
      plan.peers.find((p) => p.relayFor.includes(d))?.nodeId

    assert.equal(viaOf(step(1, true)), b)
    const cut = step(2, false)
    assert.equal(viaOf(cut), c)
    assert.equal(
      cut.peers.some((p) => p.nodeId === b && p.allowedIps.includes('100.64.0.2/32')),
      false,
    )
    assert.deepEqual(cut.routes.find((r) => r.destination === b)!.path, [c, d, b])
    assert.equal(viaOf(step(3, true)), b, '20 ms against 80 ms: clearly better, no hysteresis wait')
  })
})
