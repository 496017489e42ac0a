// The shortest-path-first engine under paths.ts: Dijkstra over an integer-indexed copy of the link graph,
// with typed arrays so that a dense federation mesh (a thousand routers, every pair linked) is computed in
// milliseconds rather than seconds. Routing reruns it on every topology or metric change, and hysteresis may
// run it again from a few neighbours, so it sits on the convergence path.
//
// The order on paths: lower cost, then fewer hops, then node ids compared from the first hop on. Node
// indices follow sorted id order, so comparing indices is comparing ids. The order survives extending two
// paths by the same edge, so Dijkstra finds its minimum exactly and every router computes the same paths.
// The O(V²) scan for the next node is the right shape for dense graphs, where E is close to V² anyway.

import type { LinkGraph } from './graph.js'
import { compareText } from './record.js'

export interface IndexedGraph {
  /** Node ids in sorted order; a node's index is its position here. */
  ids: string[]
  index: Map<string, number>
  neighbours: Int32Array[]
  weights: Float64Array[]
}

export function indexGraph(graph: LinkGraph): IndexedGraph {
  const ids = [...graph.adj.keys()].sort(compareText)
  const index = new Map(ids.map((id, i) => [id, i]))
  const neighbours: Int32Array[] = []
  const weights: Float64Array[] = []
  for (const id of ids) {
    const adj = graph.adj.get(id)!
    const n = new Int32Array(adj.size)
    const w = new Float64Array(adj.size)
    let k = 0
    for (const [v, cost] of adj) {
      const vi = index.get(v)
      if (vi === undefined) continue // an edge to a node without adjacency cannot be walked back
      n[k] = vi
      w[k++] = cost
    }
    neighbours.push(n.subarray(0, k))
    weights.push(w.subarray(0, k))
  }
  return { ids, index, neighbours, weights }
}

export interface SpfResult {
  source: number
  /** Path cost per node; Infinity when unreachable, 0 for the source. */
  cost: Float64Array
  /** Settled paths as node indices, excluding the source; undefined when unreachable or the source. */
  paths: Array<Int32Array | undefined>
}

const EMPTY = new Int32Array(0)

function compareIndices(a: Int32Array, b: Int32Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

export function spf(g: IndexedGraph, source: number): SpfResult {
  const n = g.ids.length
  const cost = new Float64Array(n).fill(Number.POSITIVE_INFINITY)
  const hops = new Int32Array(n)
  const parent = new Int32Array(n).fill(-1) // -1: the source (or none yet)
  const settled = new Uint8Array(n)
  const paths: Array<Int32Array | undefined> = new Array(n)
  const pathOfParent = (v: number) => (parent[v]! < 0 ? EMPTY : paths[parent[v]!]!)

  // Is tentative a preferred to tentative b? Paths are compared only on exact cost and hop ties.
  const before = (a: number, b: number): boolean => {
    if (cost[a] !== cost[b]) return cost[a]! < cost[b]!
    if (hops[a] !== hops[b]) return hops[a]! < hops[b]!
    const c = compareIndices(pathOfParent(a), pathOfParent(b))
    return c !== 0 ? c < 0 : a < b
  }

  cost[source] = 0
  settled[source] = 1
  const relax = (from: number) => {
    const nb = g.neighbours[from]!
    const wt = g.weights[from]!
    const base = from === source ? 0 : cost[from]!
    const h = from === source ? 1 : hops[from]! + 1
    const fromPath = from === source ? EMPTY : paths[from]!
    for (let k = 0; k < nb.length; k++) {
      const v = nb[k]!
      if (settled[v]) continue
      const c = base + wt[k]!
      const better =
        c < cost[v]! ||
        (c === cost[v] && (h < hops[v]! || (h === hops[v] && compareIndices(fromPath, pathOfParent(v)) < 0)))
      if (better) {
        cost[v] = c
        hops[v] = h
        parent[v] = from === source ? -1 : from
      }
    }
  }
  relax(source)
  for (;;) {
    let pick = -1
    for (let i = 0; i < n; i++) {
      if (settled[i] || cost[i] === Number.POSITIVE_INFINITY) continue
      if (pick < 0 || before(i, pick)) pick = i
    }
    if (pick < 0) break
    settled[pick] = 1
    const head = pathOfParent(pick)
    const path = new Int32Array(head.length + 1)
    path.set(head)
    path[head.length] = pick
    paths[pick] = path
    relax(pick)
  }
  return { source, cost, paths }
}
