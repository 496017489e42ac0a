// Human output of `blackroad federation join` (the command itself is in commands-federation.ts).

import type { FederationJoinResponse } from '../client/index.js'
import { table } from './output.js'

export function joinedText(res: FederationJoinResponse): string {
  return table([
    ['Federation', `${res.federation.name} (${res.federation.id})`],
    ['Cluster', `${res.cluster.name} (${res.cluster.id}, ${res.cluster.role}, ${res.cluster.region})`],
    ['Node', res.node_id],
    ['Mesh IPv4', res.mesh_ipv4],
    ['Mesh IPv6', res.mesh_ipv6],
    ['Certificate expires', res.certificate_expires_at],
    [
      'Status',
      res.mesh === 'running' ? 'Connected' : 'Joined (mesh not running yet; see `blackroad network`)',
    ],
  ])
}
