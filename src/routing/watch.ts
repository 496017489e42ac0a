// Who watches whom. A router probes every link, but only the links that carry traffic and its "watch" links
// at the fast probe interval; the others are probed slowly (driver.ts). The watch links make sure every
// router is probed fast by at least one neighbour, so a router that dies is noticed within the dead-link
// timeout; the noticing neighbour's link-state record then tells everyone else, who check their own link to it
// at once instead of waiting for their slow probes (RoutingDriver.onRecord).
//
// The watch links are a matching of the routing graph, so each router has one watch link (two at most where
// the count is odd or the graph leaves a router without a free neighbour): probe traffic per router stays
// about one fast link's worth whatever the size of the mesh, where probing every link fast grows with it.
// Both ends of a link compute the same matching from the same records: greedily, in id order, each router
// without a partner takes its first neighbour without one; a router left over takes its first neighbour. When
// views differ for a moment (records in flight) the two ends may disagree, which costs a little more probing,
// never less: a link is fast when either end wants it fast (its probes ask for answers at their pace).
//
// Pure: a function of the graph.

import type { LinkGraph } from './graph.js'
import { compareText } from './record.js'

/** The neighbours `self` watches (and is watched by) in `graph`, sorted. Empty when it has no links. */
export function watchPartners(graph: LinkGraph, self: string): string[] {
  const partner = new Map<string, string>()
  const sorted = new Map<string, string[]>()
  const neighboursOf = (u: string): string[] => {
    let n = sorted.get(u)
    if (n === undefined) {
      n = [...(graph.adj.get(u)?.keys() ?? [])].sort(compareText)
      sorted.set(u, n)
    }
    return n
  }
  for (const u of graph.nodes) {
    if (partner.has(u)) continue
    const v = neighboursOf(u).find((n) => !partner.has(n))
    if (v === undefined) continue
    partner.set(u, v)
    partner.set(v, u)
  }
  const out = new Set<string>()
  const mine = partner.get(self)
  if (mine !== undefined) out.add(mine)
  else {
    const first = neighboursOf(self)[0]
    if (first !== undefined) out.add(first)
  }
  // Routers left over (every neighbour already paired) lean on their first neighbour: that is us for some.
  for (const u of graph.adj.get(self)?.keys() ?? []) {
    if (!partner.has(u) && neighboursOf(u)[0] === self) out.add(u)
  }
  return [...out].sort(compareText)
}
