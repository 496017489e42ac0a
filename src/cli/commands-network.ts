// `blackroad peers`, `blackroad routes` and `blackroad keys rotate`: the network core as an operator sees it.

import type { Argv } from 'yargs'
import type { PeerInfo, RouteInfo } from '../client/types.js'
import { type GlobalArgs, show } from './context.js'
import { columns, table } from './output.js'

type Run = (fn: () => Promise<number>) => Promise<void>

const short = (id: string | null) => (id ? id.slice(0, 12) : '-')
const num = (v: number | null, unit: string) => (v === null ? '-' : `${v}${unit}`)

function since(iso: string | null): string {
  if (!iso) return 'never'
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))
  return s < 120 ? `${s}s ago` : `${Math.round(s / 60)}m ago`
}

function bytes(n: number): string {
  if (n < 1024) return `${n}B`
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)}K`
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)}M`
  return `${(n / (1 << 30)).toFixed(2)}G`
}

export function formatPeers(peers: PeerInfo[]): string {
  if (peers.length === 0) return 'No peers.'
  const name = (id: string | null) => peers.find((p) => p.node_id === id)?.name ?? short(id)
  return columns(
    ['NAME', 'NODE', 'MESH IPV4', 'ENDPOINT', 'RTT', 'LOSS', 'PATH', 'BUS', 'HANDSHAKE', 'RX/TX'],
    peers.map((p) => [
      p.name ?? '-',
      short(p.node_id),
      p.mesh_ipv4 ?? '-',
      p.endpoint ?? '-',
      num(p.rtt_ms, 'ms'),
      num(p.loss_pct, '%'),
      p.path === 'relayed' ? `via ${name(p.via)}` : p.path,
      p.bus_lane ?? '-',
      since(p.last_handshake),
      `${bytes(p.rx_bytes)}/${bytes(p.tx_bytes)}`,
    ]),
  )
}

export function formatRoutes(routes: RouteInfo[]): string {
  if (routes.length === 0) return 'No routes.'
  return columns(
    ['DESTINATION', 'NEXT HOP', 'KIND', 'RTT', 'COST', 'PATH', 'ADDRESSES'],
    routes.map((r) => [
      r.name ?? short(r.destination),
      r.next_hop_name ?? short(r.next_hop),
      r.kind,
      num(r.rtt_ms, 'ms'),
      `${r.cost_ms}ms`,
      `${r.path.length} hop${r.path.length === 1 ? '' : 's'}`,
      r.addresses.join(' '),
    ]),
  )
}

export function networkCommands(y: Argv<GlobalArgs>, run: Run): Argv<GlobalArgs> {
  return y
    .command(
      'peers',
      'Peers with RTT, loss, path and traffic',
      (c) => c,
      (argv) => run(() => show(argv, (c) => c.peers(), formatPeers)),
    )
    .command(
      'routes',
      'The routing table',
      (c) => c,
      (argv) => run(() => show(argv, (c) => c.routes(), formatRoutes)),
    )
}

export async function rotateKeys(argv: GlobalArgs): Promise<number> {
  return show(
    argv,
    (c) => c.rotateKeys(),
    (r) =>
      table([
        ['WireGuard key rotated', r.public_key],
        ['Announcement', `#${r.seq}`],
      ]),
  )
}
