// Route plan: turns the selected routes into the desired WireGuard peer configuration of this node and the
// table `blackroad routes` shows. Pure and total; the WireGuard layer diffs the result against the kernel.
//
// WireGuard forwards by allowed-ips: a packet for address X goes to the one peer whose allowed-ips contain X.
// So a router reached over a direct link gets a peer entry with its own addresses, and a router reached only
// through relays has its addresses added to the entry of the FIRST relay. That relay decrypts, routes by its
// own table and re-encrypts toward its next hop, so paths of any length work hop by hop. Every router with an
// up peer link to us keeps an entry even when no route uses it (a new link before its probes make it usable, a
// link whose probes are lost), so switching to it needs no new handshake.
//
// Addresses are canonicalised and checked here because allowed-ips must not overlap exactly: if two routers
// claim one prefix, WireGuard silently gives it to whichever peer was configured last. A claimed prefix that
// is not valid, a default route, ours, or claimed by two routers is left out and reported as an issue;
// guessing an owner would let one misconfigured or hostile node capture another's traffic.

import { canonicalCidr, parseCidr } from './cidr.js'
import type { RouteTable } from './paths.js'
import { compareText } from './record.js'

export interface PlanInput {
  localId: string
  routes: RouteTable
  /** Routers with an up peer link to us, whether or not probes hold their routing link up. */
  neighbours?: Iterable<string>
  /** A router's mesh prefixes; the driver takes them from certificates/registry, falling back to records. */
  addressesOf: (nodeId: string) => readonly string[]
}

export interface WireguardPeerPlan {
  nodeId: string
  /** Canonical prefixes, sorted: the peer's own plus those of every router it relays for us. */
  allowedIps: string[]
  /** Destinations whose traffic goes through this peer, sorted; empty for a plain direct peer. */
  relayFor: string[]
}

export type RouteKind = 'direct' | 'relayed'

export interface RouteView {
  destination: string
  nextHop: string
  path: string[]
  costMicros: number
  hops: number
  kind: RouteKind
  addresses: string[]
}

export type AddressProblem = 'invalid' | 'default-route' | 'duplicate' | 'local'

export interface AddressIssue {
  address: string
  /** The routers claiming it, sorted (the local node included for `local`). */
  nodeIds: string[]
  problem: AddressProblem
}

export interface RoutePlan {
  /** Desired WireGuard peers, sorted by node id. */
  peers: WireguardPeerPlan[]
  /** Sorted by destination. */
  routes: RouteView[]
  issues: AddressIssue[]
}

export function planRoutes(input: PlanInput): RoutePlan {
  const { localId, routes } = input
  const issues: AddressIssue[] = []

  // Canonical prefix -> claimants, over the local node and every reachable destination.
  const claims = new Map<string, Set<string>>()
  const claim = (nodeId: string) => {
    for (const raw of input.addressesOf(nodeId)) {
      const canonical = canonicalCidr(raw)
      if (canonical === null) {
        issues.push({ address: raw, nodeIds: [nodeId], problem: 'invalid' })
        continue
      }
      if (parseCidr(canonical)!.prefix === 0) {
        issues.push({ address: canonical, nodeIds: [nodeId], problem: 'default-route' })
        continue
      }
      let owners = claims.get(canonical)
      if (!owners) {
        owners = new Set()
        claims.set(canonical, owners)
      }
      owners.add(nodeId)
    }
  }
  claim(localId)
  const destinations = [...routes.keys()].filter((d) => d !== localId).sort(compareText)
  for (const d of destinations) claim(d)

  const usable = new Map<string, string[]>()
  for (const [address, owners] of claims) {
    const ids = [...owners].sort(compareText)
    if (owners.has(localId)) {
      if (ids.length > 1) issues.push({ address, nodeIds: ids, problem: 'local' })
      continue
    }
    if (ids.length > 1) {
      issues.push({ address, nodeIds: ids, problem: 'duplicate' })
      continue
    }
    const owner = ids[0]!
    const list = usable.get(owner)
    if (list) list.push(address)
    else usable.set(owner, [address])
  }

  const peers = new Map<string, WireguardPeerPlan>()
  const peer = (nodeId: string): WireguardPeerPlan => {
    let p = peers.get(nodeId)
    if (!p) {
      p = { nodeId, allowedIps: [], relayFor: [] }
      peers.set(nodeId, p)
    }
    return p
  }
  for (const n of input.neighbours ?? []) if (n !== localId) peer(n)

  const views: RouteView[] = []
  for (const d of destinations) {
    const r = routes.get(d)!
    const addresses = (usable.get(d) ?? []).sort(compareText)
    const kind: RouteKind = r.path.length === 1 ? 'direct' : 'relayed'
    const entry = peer(r.nextHop)
    entry.allowedIps.push(...addresses)
    if (kind === 'relayed') entry.relayFor.push(d)
    views.push({
      destination: d,
      nextHop: r.nextHop,
      path: [...r.path],
      costMicros: r.cost,
      hops: r.path.length,
      kind,
      addresses,
    })
  }

  const sortedPeers = [...peers.values()].sort((a, b) => compareText(a.nodeId, b.nodeId))
  for (const p of sortedPeers) {
    p.allowedIps.sort(compareText)
    p.relayFor.sort(compareText)
  }
  issues.sort((a, b) => compareText(a.address, b.address) || compareText(a.problem, b.problem))
  return { peers: sortedPeers, routes: views, issues }
}
