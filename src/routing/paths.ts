// Shortest paths by latency from the local node, and route selection with hysteresis on top.
//
// shortestPaths() runs spf.ts (Dijkstra with one total order on paths, so every router with the same
// database computes the same paths and equal-cost choices never depend on Map iteration order).
//
// RouteSelector keeps the current route to a destination unless the best path is cheaper than the current
// path re-priced on today's graph by more than max(switchRatio × current, switchMinMicros), so RTT noise does
// not move traffic back and forth. A current path that lost a link (or a node) is replaced at once, whatever
// the margin. A better path through the SAME next hop is always adopted: the data plane does not change. So
// is a direct link to the destination that became the best path (see choose()).
// Loop freedom: hysteresis alone can loop. If A holds a stale next hop B for D while B holds A (each within
// its margin, on different partial paths), packets bounce between them for as long as the metrics stay put.
// So a held next hop N must also be downstream (RFC 5286's condition): N's own shortest distance to D is
// below ours. The best next hop always is. Then every hop strictly lowers the distance to D, whatever each
// router holds, and forwarding cannot loop while the databases agree; transient loops while records flood
// are possible, as in any link-state protocol, and end when flooding does. The rest of the held path after
// N bounds N's distance for free; an exact check (a shortest-path run from N) is needed only when that bound
// is too loose, and a small budget of them per update keeps a large dense mesh fast.

import { checkOption } from './errors.js'
import { type LinkGraph, pathCost } from './graph.js'
import { compareText } from './record.js'
import { type IndexedGraph, indexGraph, type SpfResult, spf } from './spf.js'

export interface PathResult {
  destination: string
  /** First router on the path; equals destination for a direct link. */
  nextHop: string
  /** Routers after the source, ending with the destination. */
  path: string[]
  /** Sum of edge costs along path, µs. */
  cost: number
}

/** The total order on paths (each excluding the source); negative when a is preferred. */
export function comparePaths(
  a: { cost: number; path: readonly string[] },
  b: { cost: number; path: readonly string[] },
): number {
  if (a.cost !== b.cost) return a.cost - b.cost
  if (a.path.length !== b.path.length) return a.path.length - b.path.length
  return compareIds(a.path, b.path)
}

function compareIds(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    const c = compareText(a[i]!, b[i]!)
    if (c !== 0) return c
  }
  return a.length - b.length
}

function resultsOf(g: IndexedGraph, r: SpfResult): Map<string, PathResult> {
  const out = new Map<string, PathResult>()
  // Indices follow sorted id order, so this map iterates destinations sorted.
  for (let v = 0; v < g.ids.length; v++) {
    const p = r.paths[v]
    if (!p) continue
    const path = Array.from(p, (i) => g.ids[i]!)
    out.set(g.ids[v]!, { destination: g.ids[v]!, nextHop: path[0]!, path, cost: r.cost[v]! })
  }
  return out
}

/** Best path from source to every reachable router, keyed by destination in sorted order. */
export function shortestPaths(graph: LinkGraph, source: string): Map<string, PathResult> {
  const g = indexGraph(graph)
  const s = g.index.get(source)
  return s === undefined ? new Map() : resultsOf(g, spf(g, s))
}

export interface HysteresisOptions {
  /** Switch next hop only when the best path is cheaper by more than this fraction of the current cost… */
  switchRatio?: number
  /** …and by more than this many µs. */
  switchMinMicros?: number
  /**
   * Exact downstream checks (one shortest-path run from a neighbour each) allowed per update, for held routes
   * the cheap bound cannot clear. Past the budget a held route is released to the best path: always safe.
   */
  exactChecksPerUpdate?: number
}

export type RouteTable = ReadonlyMap<string, PathResult>

export type RouteChangeKind = 'added' | 'removed' | 'switched' | 'rerouted'

/** added/removed: reachability; switched: next hop changed; rerouted: same next hop, different path. */
export interface RouteChange {
  kind: RouteChangeKind
  destination: string
  before?: PathResult
  after?: PathResult
}

export class RouteSelector {
  readonly localId: string
  readonly switchRatio: number
  readonly switchMinMicros: number
  readonly exactChecksPerUpdate: number
  private current = new Map<string, PathResult>()

  constructor(localId: string, opts: HysteresisOptions = {}) {
    this.localId = localId
    this.switchRatio = checkOption('switchRatio', opts.switchRatio ?? 0.1, 0, 1)
    this.switchMinMicros = checkOption('switchMinMicros', opts.switchMinMicros ?? 1000, 0)
    this.exactChecksPerUpdate = checkOption('exactChecksPerUpdate', opts.exactChecksPerUpdate ?? 8, 0, 1e6)
  }

  get table(): RouteTable {
    return this.current
  }

  /** Recomputes routes on a new graph; returns the new table and what changed for logs and metrics. */
  update(graph: LinkGraph): { table: RouteTable; changes: RouteChange[] } {
    const g = indexGraph(graph)
    const self = g.index.get(this.localId)
    const best = self === undefined ? new Map<string, PathResult>() : resultsOf(g, spf(g, self))
    // Exact distances from neighbours, computed only for held routes the cheap bound cannot clear.
    const fromNeighbour = new Map<string, SpfResult>()
    let budget = this.exactChecksPerUpdate
    const distance = (from: string, to: string): number | undefined => {
      let r = fromNeighbour.get(from)
      if (!r) {
        const f = g.index.get(from)
        if (f === undefined || budget <= 0) return undefined
        budget--
        r = spf(g, f)
        fromNeighbour.set(from, r)
      }
      return r.cost[g.index.get(to)!]
    }
    const next = new Map<string, PathResult>()
    const changes: RouteChange[] = []
    for (const [dest, candidate] of best) {
      const held = this.current.get(dest)
      const chosen = held ? this.choose(graph, held, candidate, distance) : candidate
      next.set(dest, chosen)
      if (!held) changes.push({ kind: 'added', destination: dest, after: chosen })
      else if (held.nextHop !== chosen.nextHop)
        changes.push({ kind: 'switched', destination: dest, before: held, after: chosen })
      else if (!samePath(held.path, chosen.path)) {
        changes.push({ kind: 'rerouted', destination: dest, before: held, after: chosen })
      }
    }
    for (const [dest, held] of this.current) {
      if (!next.has(dest)) changes.push({ kind: 'removed', destination: dest, before: held })
    }
    changes.sort((a, b) => compareText(a.destination, b.destination))
    this.current = next
    return { table: next, changes }
  }

  private choose(
    graph: LinkGraph,
    held: PathResult,
    best: PathResult,
    distance: (from: string, to: string) => number | undefined,
  ): PathResult {
    if (held.nextHop === best.nextHop) return best
    // A direct link that is the best path is taken at once. A relay held by the margin is usually one that was
    // up a moment before the direct link (every join goes that way), priced by the first RTT samples of routers
    // busy starting up, so the direct link's advantage can be within the margin: traffic would stay relayed,
    // paying a second hop and the relay's CPU, until metrics moved. Moving back to a relay needs the margin.
    if (best.nextHop === best.destination) return best
    const heldCost = pathCost(graph, this.localId, held.path)
    if (heldCost === undefined) return best // the held path lost a link: move now
    const margin = Math.max(this.switchRatio * heldCost, this.switchMinMicros)
    if (heldCost - best.cost > margin) return best
    // Downstream: the next hop's own distance must be below ours. The rest of the held path bounds that
    // distance from above for free; only when the bound is not enough is the exact distance computed.
    const rest = heldCost - graph.adj.get(this.localId)!.get(held.nextHop)!
    if (rest >= best.cost) {
      const exact = distance(held.nextHop, best.destination)
      if (exact === undefined || exact >= best.cost) return best // not provably downstream: could loop
    }
    return { ...held, path: [...held.path], cost: heldCost }
  }
}

function samePath(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i])
}
