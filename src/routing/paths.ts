// Shortest paths by latency from the local node, and the route table built from them.
//
// shortestPaths() runs spf.ts (Dijkstra with one total order on paths, so every router with the same
// database computes the same paths and equal-cost choices never depend on Map iteration order).
//
// RouteSelector keeps the table and reports what changed. It routes every destination over the best path on
// the current graph and holds nothing back. Route stability does not come from here but from the records:
// a router re-reports a link's RTT only when it moved by more than max(25 %, 5 ms), at most every 2 s, and
// reports the smallest recent sample (probe.ts), so noise never reaches the graph and the graph changes only
// when a link really changed; the hop cost (graph.ts) equals that dead band, so a report's error cannot make
// a relay beat a direct link.
// A selector that held routes by its own margin (this one did, 10 % or 1 ms) breaks relaying: WireGuard takes
// a packet only from the peer whose allowed IPs hold its source, so the two ends of a relayed route, and every
// relay between them, must route toward each other over the same path. Both ends see the same records but
// not in the same order, so each held whichever near-equal relay it saw first, and held it: one end sent via
// R1 while the other expected the traffic from R2, and every packet was dropped until metrics moved by a
// margin (seen in netns-tests/mesh-idle-link: 2 s without replies). Best paths on one database are the same
// seen from both ends, and from every relay (spf.ts, tie weights), so the routes agree once flooding has
// delivered the same records everywhere, and forwarding cannot loop then either.

import type { LinkGraph } from './graph.js'
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

/** The total order on paths (each excluding the source, tie = pathTie); negative when a is preferred. */
export function comparePaths(
  a: { cost: number; tie: number; path: readonly string[] },
  b: { cost: number; tie: number; path: readonly string[] },
): number {
  if (a.cost !== b.cost) return a.cost - b.cost
  if (a.path.length !== b.path.length) return a.path.length - b.path.length
  if (a.tie !== b.tie) return a.tie - b.tie
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
  private current = new Map<string, PathResult>()

  constructor(localId: string) {
    this.localId = localId
  }

  get table(): RouteTable {
    return this.current
  }

  /** Recomputes routes on a new graph; returns the new table and what changed for logs and metrics. */
  update(graph: LinkGraph): { table: RouteTable; changes: RouteChange[] } {
    const next = shortestPaths(graph, this.localId)
    const changes: RouteChange[] = []
    for (const [dest, chosen] of next) {
      const held = this.current.get(dest)
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
}

function samePath(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i])
}
