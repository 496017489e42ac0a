// What `blackroad peers` and `blackroad routes` show: the routing plan, link metrics, WireGuard statistics and
// certificates of the network core, joined per node into the API's PeerInfo and RouteInfo shapes.

import type { PeerInfo, RouteInfo } from '../client/types.js'
import type { NetworkCore } from './network.js'

const ms = (micros: number | null | undefined) => (micros == null ? null : Math.round(micros / 10) / 100)

export async function peerViews(net: NetworkCore, localId: string): Promise<PeerInfo[]> {
  const stats = await net.device.stats().catch(() => [])
  const byKey = new Map(stats.map((s) => [s.publicKey, s]))
  const routes = new Map(net.routing.plan.routes.map((r) => [r.destination, r]))
  const ids = new Set<string>([...net.certs.nodes().map((c) => c.nodeId), ...(net.links?.peers() ?? [])])
  ids.delete(localId)
  const out: PeerInfo[] = []
  for (const id of [...ids].sort()) {
    const cert = net.certs.get(id)
    const route = routes.get(id)
    const metrics = net.routing.metrics(id)
    const ann = net.wgKeys.get(id)
    const wgKey = ann ? Buffer.from(ann.publicKey).toString('base64') : null
    const s = wgKey ? byKey.get(wgKey) : undefined
    const direct = route?.kind === 'direct'
    const link = net.links?.get(id)
    out.push({
      node_id: id,
      name: cert?.name ?? null,
      cluster: cert?.cluster ?? null,
      endpoint: direct ? (s?.endpoint ?? null) : null,
      state: metrics?.state === 'up' || route ? 'up' : 'down',
      path: route ? route.kind : 'unreachable',
      via: route && route.kind === 'relayed' ? route.nextHop : null,
      // Measured RTT for a neighbour; for a node reached only through relays, the path's links' RTTs summed.
      rtt_ms: ms(metrics?.srttMicros) ?? (route ? ms(net.routing.pathRtt(route.path)) : null),
      base_rtt_ms: ms(metrics?.baseRttMicros),
      jitter_ms: ms(metrics?.jitterMicros),
      loss_pct: metrics ? metrics.lossPermille / 10 : null,
      probe_interval_ms: net.routing.probeIntervalOf(id) ?? null,
      mesh_ipv4: cert?.addresses.ipv4 ?? null,
      mesh_ipv6: cert?.addresses.ipv6 ?? null,
      wg_public_key: wgKey,
      last_handshake: s && s.latestHandshake > 0 ? new Date(s.latestHandshake).toISOString() : null,
      rx_bytes: s?.rxBytes ?? 0,
      tx_bytes: s?.txBytes ?? 0,
      bus_lane: link ? (link.hasLane ? 'tcp' : 'link') : null,
    })
  }
  return out
}

export function routeViews(net: NetworkCore): RouteInfo[] {
  const name = (id: string) => net.certs.get(id)?.name ?? null
  return net.routing.plan.routes.map((r) => ({
    destination: r.destination,
    name: name(r.destination),
    next_hop: r.nextHop,
    next_hop_name: name(r.nextHop),
    path: r.path,
    cost_ms: Math.round(r.costMicros / 10) / 100,
    rtt_ms: ms(net.routing.pathRtt(r.path)),
    kind: r.kind,
    addresses: r.addresses,
  }))
}
