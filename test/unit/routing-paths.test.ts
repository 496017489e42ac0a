// Shortest paths and route selection: the diamond and line scenarios from the routing design, the "both ends
// must report a link" rule, tie-breaks and hysteresis decisions (properties: routing-paths-properties.test.ts).

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  buildGraph,
  graphFromEdges,
  type LinkGraph,
  type LinkStateRecord,
  RouteSelector,
  shortestPaths,
} from '../../src/routing/index.js'

const MS = 1000

/** Records for an undirected topology where both ends report every link up with the given RTT (ms). */
function records(
  links: Array<[string, string, number]>,
  overrides: Record<string, Partial<LinkStateRecord>> = {},
) {
  const byNode = new Map<string, LinkStateRecord>()
  const rec = (n: string) => {
    let r = byNode.get(n)
    if (!r) {
      r = { origin: n, seq: 1, issuedAt: 0, links: [], addresses: [] }
      byNode.set(n, r)
    }
    return r
  }
  for (const [u, v, rttMs] of links) {
    rec(u).links.push({ peer: v, rttMicros: rttMs * MS, lossPermille: 0, up: true })
    rec(v).links.push({ peer: u, rttMicros: rttMs * MS, lossPermille: 0, up: true })
  }
  for (const [n, o] of Object.entries(overrides)) Object.assign(rec(n), o)
  return [...byNode.values()]
}

function setLink(
  recs: LinkStateRecord[],
  from: string,
  to: string,
  change: { up?: boolean; rttMs?: number },
) {
  const rec = recs.find((r) => r.origin === from)!
  const link = rec.links.find((l) => l.peer === to)!
  if (change.up !== undefined) link.up = change.up
  if (change.rttMs !== undefined) link.rttMicros = change.rttMs * MS
}

/** Diamond A–B–D / A–C–D: 5 ms per link via B (10 ms A→D), 20 ms per link via C (40 ms A→D). */
function diamond(cRttMs = 20) {
  return records([
    ['A', 'B', 5],
    ['B', 'D', 5],
    ['A', 'C', cRttMs],
    ['C', 'D', cRttMs],
  ])
}

describe('shortestPaths', () => {
  it('picks the low-latency side of the diamond and prices it as the sum of its links', () => {
    const routes = shortestPaths(buildGraph(diamond()), 'A')
    const toD = routes.get('D')!
    assert.equal(toD.nextHop, 'B')
    assert.deepEqual(toD.path, ['B', 'D'])
    // Default cost: rtt + 1 ms per hop.
    assert.equal(toD.cost, 2 * (5 * MS + 1 * MS))
    assert.deepEqual([...routes.keys()], ['B', 'C', 'D'])
  })

  it('routes A→D over a line through every relay', () => {
    const routes = shortestPaths(
      buildGraph(
        records([
          ['A', 'B', 3],
          ['B', 'C', 3],
          ['C', 'D', 3],
        ]),
      ),
      'A',
    )
    assert.deepEqual(routes.get('D'), {
      destination: 'D',
      nextHop: 'B',
      path: ['B', 'C', 'D'],
      cost: 12 * MS,
    })
  })

  it('ignores a link that only one end reports up', () => {
    const recs = diamond()
    setLink(recs, 'B', 'A', { up: false }) // A still says A–B is up
    const graph = buildGraph(recs)
    assert.equal(graph.adj.get('A')!.has('B'), false)
    assert.equal(graph.adj.get('B')!.has('A'), false)
    assert.equal(shortestPaths(graph, 'A').get('D')!.nextHop, 'C')
  })

  it('ignores links to a router whose record is missing', () => {
    const recs = diamond().filter((r) => r.origin !== 'B')
    const routes = shortestPaths(buildGraph(recs), 'A')
    assert.equal(routes.has('B'), false)
    assert.equal(routes.get('D')!.nextHop, 'C')
  })

  it('uses the larger of the two ends’ costs and penalises loss', () => {
    const recs = records([['A', 'B', 10]])
    setLink(recs, 'B', 'A', { rttMs: 12 })
    recs.find((r) => r.origin === 'A')!.links[0]!.lossPermille = 50 // 5 % loss -> ×1.5
    const graph = buildGraph(recs)
    assert.equal(graph.adj.get('A')!.get('B'), Math.max(15 * MS, 12 * MS) + 1 * MS)
    assert.equal(graph.adj.get('B')!.get('A'), graph.adj.get('A')!.get('B'))
  })

  it('breaks exact ties by fewer hops, then by node ids, whatever the input order', () => {
    const edges: Array<[string, string, number]> = [
      ['S', 'b', 5],
      ['b', 'T', 5],
      ['S', 'a', 5],
      ['a', 'T', 5],
      ['S', 'x', 2],
      ['x', 'y', 2],
      ['y', 'T', 6],
    ]
    for (const order of [edges, [...edges].reverse()]) {
      const toT = shortestPaths(graphFromEdges(order), 'S').get('T')!
      assert.equal(toT.cost, 10)
      assert.deepEqual(toT.path, ['a', 'T'])
    }
  })

  it('returns nothing for a source outside the graph', () => {
    assert.equal(shortestPaths(buildGraph(diamond()), 'Z').size, 0)
  })
})

describe('RouteSelector on the diamond', () => {
  it('moves to C at once when A–B is cut, and back to B at once when B is clearly better', () => {
    const sel = new RouteSelector('A')
    const recs = diamond()
    assert.equal(sel.update(buildGraph(recs)).table.get('D')!.nextHop, 'B')

    setLink(recs, 'A', 'B', { up: false })
    const cut = sel.update(buildGraph(recs))
    assert.equal(cut.table.get('D')!.nextHop, 'C')
    assert.deepEqual(cut.table.get('D')!.path, ['C', 'D'])
    assert.ok(cut.changes.some((c) => c.kind === 'switched' && c.destination === 'D'))

    setLink(recs, 'A', 'B', { up: true })
    const restored = sel.update(buildGraph(recs))
    assert.equal(restored.table.get('D')!.nextHop, 'B')
  })

  it('stays on C after the repair when B is only marginally better, and moves once it is clearly better', () => {
    const sel = new RouteSelector('A') // 10 % or 1 ms, whichever is larger
    const recs = diamond(5.25) // via C: 2 × 6.25 ms = 12.5 ms against 12 ms via B
    assert.equal(sel.update(buildGraph(recs)).table.get('D')!.nextHop, 'B')
    setLink(recs, 'A', 'B', { up: false })
    assert.equal(sel.update(buildGraph(recs)).table.get('D')!.nextHop, 'C')
    setLink(recs, 'A', 'B', { up: true })
    const held = sel.update(buildGraph(recs)).table.get('D')!
    assert.equal(held.nextHop, 'C')
    assert.equal(held.cost, 12.5 * MS, 'a held route is re-priced on the new graph')

    // C–D degrades to 8 ms (both ends): via C 15.25 ms, via B 12 ms -> better by more than the margin.
    setLink(recs, 'C', 'D', { rttMs: 8 })
    setLink(recs, 'D', 'C', { rttMs: 8 })
    assert.equal(sel.update(buildGraph(recs)).table.get('D')!.nextHop, 'B')
  })

  it('takes a direct link that is the best path at once, even within the margin; back to a relay only past it', () => {
    const sel = new RouteSelector('A') // 10 % or 1 ms, whichever is larger; each hop costs 1 ms more
    const relay: Array<[string, string, number]> = [
      ['A', 'B', 3],
      ['B', 'D', 10.6],
    ]
    assert.deepEqual(sel.update(buildGraph(records(relay))).table.get('D')!.path, ['B', 'D'])
    // The direct link comes up a moment later: 14.4 ms against 15.6 ms via B, better by less than 1.56 ms.
    const withDirect = records([...relay, ['A', 'D', 13.4]])
    const direct = sel.update(buildGraph(withDirect))
    assert.deepEqual(direct.table.get('D')!.path, ['D'])
    assert.ok(direct.changes.some((c) => c.kind === 'switched' && c.destination === 'D'))
    // The relay becoming marginally better (15.0 ms against 15.5 ms) does not move it back.
    for (const [u, v, ms] of [
      ['A', 'D', 14.5],
      ['A', 'B', 2.5],
      ['B', 'D', 10.5],
    ] as const) {
      setLink(withDirect, u, v, { rttMs: ms })
      setLink(withDirect, v, u, { rttMs: ms })
    }
    assert.deepEqual(sel.update(buildGraph(withDirect)).table.get('D')!.path, ['D'])
  })

  it('drops a destination that becomes unreachable and reports it', () => {
    const sel = new RouteSelector('A')
    const recs = records([
      ['A', 'B', 1],
      ['B', 'C', 1],
    ])
    sel.update(buildGraph(recs))
    setLink(recs, 'C', 'B', { up: false })
    const { table, changes } = sel.update(buildGraph(recs))
    assert.equal(table.has('C'), false)
    assert.deepEqual(
      changes.map((c) => [c.kind, c.destination]),
      [['removed', 'C']],
    )
  })

  it('refuses to hold a next hop that is not downstream (would loop)', () => {
    // A holds D via X by hysteresis; B reaches D through A. Then B gets its own path (B–Z–D) that A now
    // prefers by a clear margin. B's held route via A is still within B's margin, but A now forwards to B:
    // holding it would bounce packets between A and B.
    const g1 = graphFromEdges([
      ['A', 'B', 1],
      ['A', 'X', 15],
      ['X', 'D', 85],
    ])
    const g2 = graphFromEdges([...edgesOf(g1), ['A', 'Y', 10], ['Y', 'D', 80]])
    const g3 = graphFromEdges([...edgesOf(g2), ['B', 'Z', 10], ['Z', 'D', 75]])
    const a = new RouteSelector('A', { switchMinMicros: 1 })
    const b = new RouteSelector('B', { switchMinMicros: 1 })
    for (const g of [g1, g2]) {
      a.update(g)
      b.update(g)
    }
    assert.equal(a.table.get('D')!.nextHop, 'X', 'A holds X within its margin')
    assert.deepEqual(b.table.get('D')!.path, ['A', 'Y', 'D'])
    a.update(g3)
    b.update(g3)
    assert.equal(a.table.get('D')!.nextHop, 'B')
    assert.equal(b.table.get('D')!.nextHop, 'Z')
  })
})

describe('RouteSelector downstream checks', () => {
  // S holds D via N on S–N–X–D (215). Then S–M–D (200) appears, and N gets a shorter way of its own (N–Y–D,
  // 198). The held path's remainder (205) cannot prove N downstream; N's exact distance (198 < 200) can.
  const g1 = graphFromEdges([
    ['S', 'N', 10],
    ['N', 'X', 100],
    ['X', 'D', 105],
  ])
  const g2 = graphFromEdges([
    ...edgesOf(g1),
    ['S', 'M', 10],
    ['M', 'D', 190],
    ['N', 'Y', 98],
    ['Y', 'D', 100],
  ])

  it('holds a route the exact check proves downstream', () => {
    const s = new RouteSelector('S', { switchMinMicros: 1 })
    s.update(g1)
    assert.deepEqual(s.update(g2).table.get('D')!.path, ['N', 'X', 'D'])
  })

  it('releases it to the best path when the per-update budget is spent', () => {
    const s = new RouteSelector('S', { switchMinMicros: 1, exactChecksPerUpdate: 0 })
    s.update(g1)
    assert.deepEqual(s.update(g2).table.get('D')!.path, ['M', 'D'])
  })
})

function edgesOf(g: LinkGraph): Array<[string, string, number]> {
  const out: Array<[string, string, number]> = []
  for (const [u, m] of g.adj) for (const [v, w] of m) if (u < v) out.push([u, v, w])
  return out
}
