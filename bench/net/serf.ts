// The serf anchor (Debian serf, memberlist's SWIM): one agent per lab host with the LAN profile (probe
// interval 1 s, probe timeout 500 ms, suspicion multiplier 4, gossip every 200 ms to 3 nodes), RPC on the
// namespace's own loopback, every agent after the first joining the first, as ../shared/anchors/serf-membership.sh.

import type { Proc } from '../../netns-tests/lib/proc.js'
import type { Host } from '../../netns-tests/lib/topology.js'

export const SERF_PORT = 7946
export const SERF_SETTINGS =
  'serf: -profile lan (memberlist defaults: probe interval 1 s, probe timeout 500 ms, suspicion mult 4, gossip 200 ms x 3 nodes)'

export function startSerf(host: Host, join: string | null): Proc {
  const argv = [
    'serf',
    'agent',
    '-node',
    host.name,
    '-bind',
    `${host.addr()}:${SERF_PORT}`,
    '-rpc-addr',
    '127.0.0.1:7373',
    '-profile',
    'lan',
    '-log-level',
    'info',
  ]
  if (join) argv.push('-retry-join', `${join}:${SERF_PORT}`, '-retry-interval', '1s', '-retry-max', '30')
  return host.spawn(argv, { logName: 'serf' })
}

/** Members as `observer` sees them: name → status (alive, failed, left, ...). */
export async function serfMembers(observer: Host): Promise<Map<string, string>> {
  const r = await observer.exec(['serf', 'members', '-rpc-addr', '127.0.0.1:7373'], { timeoutMs: 5_000 })
  const out = new Map<string, string>()
  for (const line of r.stdout.split('\n')) {
    const [name, , status] = line.trim().split(/\s+/)
    if (name && status) out.set(name, status)
  }
  return out
}

/** Status of one member as observer sees it ('' when unknown or the agent does not answer). */
export async function serfStatus(observer: Host, member: string): Promise<string> {
  const r = await observer.exec(['serf', 'members', '-rpc-addr', '127.0.0.1:7373', '-name', `^${member}$`], {
    timeoutMs: 5_000,
  })
  for (const line of r.stdout.split('\n')) {
    const [name, , status] = line.trim().split(/\s+/)
    if (name === member && status) return status
  }
  return ''
}
