// The shortest-path-first engine under paths.ts: Dijkstra over an integer-indexed copy of the link graph,
// with typed arrays so that a dense federation mesh (a thousand routers, every pair linked) is computed in
// milliseconds rather than seconds. Routing reruns it on every topology or metric change, so it sits on the
// convergence path.
//
// The order on paths: lower cost, then fewer hops, then lower tie sum, then node ids compared from the first
// hop on. Node indices follow sorted id order, so comparing indices is comparing ids. The order survives
// extending two paths by the same edge, so Dijkstra finds its minimum exactly and every router computes the
// same paths.
// The tie sum is why a relayed route works at all. WireGuard accepts a packet only from the peer whose
// allowed IPs hold its source, so every router on a path must route back toward the source through the hop
// the packet came from: the path one end picks must be the reverse of the path the other end picks, and each
// relay's own routes must agree with both. Cost and hop count are the same both ways, but ids compared from
// the first hop are not (A picks A-R1-R4-B over A-R2-R3-B, B picks B-R3-R2-A over B-R4-R1-A on a cost tie).
// Each edge therefore carries a further additive weight: a 31-bit mix of its two ends' ids, the same seen
// from either end. Paths tied on cost and hops are ordered by the sum of those weights, the same both ways
// and, being additive, holds for every sub-path too; only a further exact tie (odds about 2^-31 per
// comparison) falls back to the one-sided id order.
// The O(V²) scan for the next node is the right shape for dense graphs, where E is close to V² anyway.

import type { LinkGraph } from './graph.js'
import { compareText } from './record.js'

export interface IndexedGraph {
  /** Node ids in sorted order; a node's index is its position here. */
  ids: string[]
  index: Map<string, number>
  neighbours: Int32Array[]
  weights: Float64Array[]
  /** Each edge's tie weight (edgeTie), parallel to weights. */
  ties: Float64Array[]
}

/** 32-bit FNV-1a of an id: computed once per node, mixed per edge. */
function idHash(id: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193)
  return h >>> 0
}

function mixTie(ha: number, hb: number): number {
  const lo = Math.min(ha, hb)
  const hi = Math.max(ha, hb)
  let x = Math.imul(lo ^ 0x9e3779b9, 0x85ebca6b) ^ hi
  x = Math.imul(x ^ (x >>> 16), 0xc2b2ae35)
  x = Math.imul(x ^ (x >>> 13), 0x27d4eb2f)
  return (x ^ (x >>> 16)) >>> 1
}

/** The tie weight of the edge a–b: the same for b–a, below 2^31, so sums over any path stay exact. */
export function edgeTie(a: string, b: string): number {
  return mixTie(idHash(a), idHash(b))
}

/** Sum of tie weights along a path (the routers after source). */
export function pathTie(source: string, path: readonly string[]): number {
  let sum = 0
  let at = source
  for (const next of path) {
    sum += edgeTie(at, next)
    at = next
  }
  return sum
}

export function indexGraph(graph: LinkGraph): IndexedGraph {
  const ids = [...graph.adj.keys()].sort(compareText)
  const index = new Map(ids.map((id, i) => [id, i]))
  const hashes = ids.map(idHash)
  const neighbours: Int32Array[] = []
  const weights: Float64Array[] = []
  const ties: Float64Array[] = []
  for (let u = 0; u < ids.length; u++) {
    const adj = graph.adj.get(ids[u]!)!
    const n = new Int32Array(adj.size)
    const w = new Float64Array(adj.size)
    const t = new Float64Array(adj.size)
    let k = 0
    for (const [v, cost] of adj) {
      const vi = index.get(v)
      if (vi === undefined) continue // an edge to a node without adjacency cannot be walked back
      n[k] = vi
      w[k] = cost
      t[k++] = mixTie(hashes[u]!, hashes[vi]!)
    }
    neighbours.push(n.subarray(0, k))
    weights.push(w.subarray(0, k))
    ties.push(t.subarray(0, k))
  }
  return { ids, index, neighbours, weights, ties }
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
  const tie = new Float64Array(n)
  const hops = new Int32Array(n)
  const parent = new Int32Array(n).fill(-1) // -1: the source (or none yet)
  const settled = new Uint8Array(n)
  const paths: Array<Int32Array | undefined> = new Array(n)
  const pathOfParent = (v: number) => (parent[v]! < 0 ? EMPTY : paths[parent[v]!]!)

  // The order on paths, in one place: a path to v of cost c, h hops and tie sum t whose routers before v are
  // `via`, against v's tentative one. Negative when the first is preferred, 0 only for the same path.
  const order = (c: number, h: number, t: number, via: Int32Array, v: number): number => {
    if (c !== cost[v]) return c < cost[v]! ? -1 : 1
    if (h !== hops[v]) return h - hops[v]!
    if (t !== tie[v]) return t < tie[v]! ? -1 : 1
    return compareIndices(via, pathOfParent(v))
  }
  // Is tentative a preferred to tentative b? (Index order last, for a total order on equal paths.)
  const before = (a: number, b: number): boolean =>
    (order(cost[a]!, hops[a]!, tie[a]!, pathOfParent(a), b) || a - b) < 0

  cost[source] = 0
  settled[source] = 1
  const relax = (from: number) => {
    const nb = g.neighbours[from]!
    const wt = g.weights[from]!
    const tt = g.ties[from]!
    const base = from === source ? 0 : cost[from]!
    const tieBase = from === source ? 0 : tie[from]!
    const h = from === source ? 1 : hops[from]! + 1
    const fromPath = from === source ? EMPTY : paths[from]!
    for (let k = 0; k < nb.length; k++) {
      const v = nb[k]!
      if (settled[v]) continue
      const c = base + wt[k]!
      const ct = tieBase + tt[k]!
      if (order(c, h, ct, fromPath, v) < 0) {
        cost[v] = c
        tie[v] = ct
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
