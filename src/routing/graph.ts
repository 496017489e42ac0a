// The routing graph: which links may carry traffic and what each costs, built from link-state records.
//
// A link counts only when BOTH ends report it up in their current records. One end's word is not enough: a
// stale record, a one-way failure or a forger would otherwise draw traffic onto a link that does not work.
// Consequently the graph is undirected and each edge has one cost, the larger of the two ends' costs, so a
// path costs the same both ways and the routers at either end agree on which routes are best.
//
// Edge cost, in integer microseconds (integers keep path sums exact, so ties are real ties):
//   cost = round(max(rtt, minRtt) × (1 + lossFactor × loss)) + hopCost
// with loss as a fraction. lossFactor 10 means 5 % loss weighs like +50 % latency and 10 % like doubling it:
// lossy links cost retransmissions worth several RTTs, which is what an ETX-style factor tries to capture, but
// this form stays proportional to latency so a lossy LAN link still beats a clean intercontinental one. It
// also keeps probe "loss" that is only CPU contention (replies later than the probe timeout: 10–28 % on
// 11 daemons sharing 2 cores) from pushing LAN traffic onto relays, which would add to the load; scaling the
// hop cost by it did exactly that (p0 reached 4 of 10 neighbours through relays for a minute).
// hopCost (5 ms) stands for the relay's forwarding work (a second decrypt and encrypt, on a Pi) and for the
// precision of the RTTs in records: a router re-reports a link only when its RTT moved by more than
// max(25 %, 5 ms) (LinkMonitor's thresholds, set by the routing driver), so a record may carry a first sample
// taken while the daemons were starting, a few ms above the link's real RTT, for as long as nothing else
// moves. With a hop cost below that threshold such a stale report made a relay over two fresh LAN links look
// cheaper than the direct link, and the route stayed relayed until the next refresh (seen: 15 s and more on a
// 3-node bridge). A relay now wins only by more than the error a report may carry.
// minRtt keeps sub-millisecond LAN links from looking free.

import { checkOption } from './errors.js'
import { compareText, type LinkReport, type LinkStateRecord } from './record.js'

export interface CostOptions {
  lossFactor?: number
  hopCostMicros?: number
  minRttMicros?: number
}

export interface CostModel {
  lossFactor: number
  hopCostMicros: number
  minRttMicros: number
}

export const DEFAULT_COST: CostModel = { lossFactor: 10, hopCostMicros: 5000, minRttMicros: 100 }

/** RTTs we refuse to believe are capped here (≈ 1 hour), so sums over many hops stay exact. */
const MAX_RTT_MICROS = 3_600_000_000

export function costModel(opts: CostOptions = {}): CostModel {
  return {
    lossFactor: checkOption('lossFactor', opts.lossFactor ?? DEFAULT_COST.lossFactor, 0, 1000),
    hopCostMicros: checkOption('hopCostMicros', opts.hopCostMicros ?? DEFAULT_COST.hopCostMicros, 1, 1e9),
    minRttMicros: checkOption('minRttMicros', opts.minRttMicros ?? DEFAULT_COST.minRttMicros, 0, 1e9),
  }
}

/** The cost one end's report gives a link. Always a positive integer. */
export function linkCost(
  link: Pick<LinkReport, 'rttMicros' | 'lossPermille'>,
  model: CostModel = DEFAULT_COST,
): number {
  const rtt = Math.min(MAX_RTT_MICROS, Math.max(model.minRttMicros, link.rttMicros))
  const loss = Math.min(1000, Math.max(0, link.lossPermille)) / 1000
  return Math.round(rtt * (1 + model.lossFactor * loss)) + Math.round(model.hopCostMicros)
}

/** Undirected weighted graph; adjacency is symmetric by construction. */
export interface LinkGraph {
  /** Every origin that has a record, sorted. */
  nodes: string[]
  /** node -> neighbour -> edge cost (µs). Only links up in both directions' records. */
  adj: Map<string, Map<string, number>>
}

export function buildGraph(records: Iterable<LinkStateRecord>, model: CostModel = DEFAULT_COST): LinkGraph {
  const byOrigin = new Map<string, Map<string, LinkReport>>()
  for (const rec of records) {
    const links = new Map<string, LinkReport>()
    for (const l of rec.links) if (l.up) links.set(l.peer, l)
    byOrigin.set(rec.origin, links)
  }
  const nodes = [...byOrigin.keys()].sort(compareText)
  const adj = new Map<string, Map<string, number>>()
  for (const n of nodes) adj.set(n, new Map())
  for (const u of nodes) {
    for (const [v, forward] of byOrigin.get(u)!) {
      if (compareText(u, v) >= 0) continue // each unordered pair once, from its smaller end
      const backward = byOrigin.get(v)?.get(u)
      if (!backward) continue
      const cost = Math.max(linkCost(forward, model), linkCost(backward, model))
      adj.get(u)!.set(v, cost)
      adj.get(v)!.set(u, cost)
    }
  }
  return { nodes, adj }
}

/** Convenience for tests and tools: a graph straight from undirected edges. */
export function graphFromEdges(edges: Iterable<[string, string, number]>): LinkGraph {
  const adj = new Map<string, Map<string, number>>()
  const touch = (n: string) => {
    let m = adj.get(n)
    if (!m) {
      m = new Map()
      adj.set(n, m)
    }
    return m
  }
  for (const [u, v, cost] of edges) {
    if (u === v) continue
    touch(u).set(v, cost)
    touch(v).set(u, cost)
  }
  return { nodes: [...adj.keys()].sort(compareText), adj }
}

/**
 * Cost of walking `path` (which excludes the source) from `source` in `graph`; undefined when some step is not
 * an edge of the graph or a node repeats. Used to check computed routes.
 */
export function pathCost(graph: LinkGraph, source: string, path: readonly string[]): number | undefined {
  if (path.length === 0) return undefined
  const seen = new Set([source])
  let cost = 0
  let at = source
  for (const next of path) {
    if (seen.has(next)) return undefined
    const w = graph.adj.get(at)?.get(next)
    if (w === undefined) return undefined
    cost += w
    seen.add(next)
    at = next
  }
  return cost
}

/**
 * The round trip a path's links add up to, µs, from the records: per link the larger of the two ends' reported
 * RTTs (the cost without the hop cost and the loss factor). What `blackroad routes` shows as RTT; the cost,
 * with 5 ms per hop, is not a latency. Undefined when a link of the path is missing from either record.
 */
export function pathRttMicros(
  recordOf: (origin: string) => Pick<LinkStateRecord, 'links'> | undefined,
  source: string,
  path: readonly string[],
): number | undefined {
  let sum = 0
  let at = source
  for (const next of path) {
    const there = recordOf(at)?.links.find((l) => l.peer === next)
    const back = recordOf(next)?.links.find((l) => l.peer === at)
    if (!there || !back) return undefined
    sum += Math.max(there.rttMicros, back.rttMicros)
    at = next
  }
  return sum
}
