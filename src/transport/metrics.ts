// Prometheus metrics of peer links, registered on the daemon's Registry (never the global one, so tests
// can run several routers in one process). Asking twice for the same registry returns the same metrics,
// because prom-client refuses a second metric of the same name.
//
//   blackroad_peer_links_rejected_total{reason}   connections refused before the link came up
//                                                 (certificate checks, malformed or oversize frames in the
//                                                 handshake, hello timeout, ...)
//   blackroad_peer_links_closed_total{reason}     links that were up and went down, by reason
//   blackroad_peer_link_messages_dropped_total{reason}  messages received and dropped (unknown channel)
//   blackroad_peer_links                          links up now (one per peer)
//   blackroad_peer_lanes_total{result}            TCP lane set-ups (lane.ts), by result: up, dial_failed,
//                                                 refused_no_link, refused_malformed, refused_busy
//   blackroad_peer_lanes_closed_total{reason}     lanes that were up and closed, by reason
//   blackroad_peer_lanes                          lanes up now (at most one per link)
// Reasons are the LinkReason strings of errors.ts.

import { Counter, Gauge, type Registry } from 'prom-client'

export interface TransportMetrics {
  rejected: Counter<'reason'>
  closed: Counter<'reason'>
  dropped: Counter<'reason'>
  links: Gauge<string>
  lanes: Counter<'result'>
  lanesClosed: Counter<'reason'>
  lanesUp: Gauge<string>
}

const cache = new WeakMap<Registry, TransportMetrics>()

export function createTransportMetrics(registry: Registry): TransportMetrics {
  const existing = cache.get(registry)
  if (existing) return existing
  const metrics: TransportMetrics = {
    rejected: new Counter({
      name: 'blackroad_peer_links_rejected_total',
      help: 'Peer connections refused before the link came up, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    closed: new Counter({
      name: 'blackroad_peer_links_closed_total',
      help: 'Peer links that went down after coming up, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    dropped: new Counter({
      name: 'blackroad_peer_link_messages_dropped_total',
      help: 'Messages received on peer links and dropped, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    links: new Gauge({
      name: 'blackroad_peer_links',
      help: 'Peer links up now (one per peer node)',
      registers: [registry],
    }),
    lanes: new Counter({
      name: 'blackroad_peer_lanes_total',
      help: 'TCP lane set-ups beside peer links, by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    lanesClosed: new Counter({
      name: 'blackroad_peer_lanes_closed_total',
      help: 'TCP lanes that were up and closed, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    lanesUp: new Gauge({
      name: 'blackroad_peer_lanes',
      help: 'TCP lanes up now (the bulk channels of these peer links travel over TCP)',
      registers: [registry],
    }),
  }
  cache.set(registry, metrics)
  return metrics
}
