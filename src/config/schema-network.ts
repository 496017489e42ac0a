// Schema of the network-facing sections: network (link detection), discovery (HyperDHT), wireguard (data plane),
// dns (the mesh zone; the guide's dns.yaml) and mesh (the guide's mesh.yaml). Descriptions are the reference docs.

import { isIPv4, isIPv6 } from 'node:net'
import {
  absPath,
  defaultText,
  domainName,
  duration,
  hostPort,
  MAX_TIMER_MS,
  port,
  staticPeer,
  typed,
} from './fields.js'
import { z } from './zod.js'

export const networkSchema = z
  .strictObject({
    ipv4: typed(
      z.string().refine(inCgnat, { message: 'expected an IPv4 address inside the mesh range 100.64.0.0/10' }),
      'IPv4 address',
    )
      .optional()
      .describe(
        'Mesh IPv4 address to request for this node (inside 100.64.0.0/10); unset = allocated by the registry.',
      ),
    ipv6: typed(
      z.string().refine((s) => isIPv6(s) && /^f[cd]/i.test(s), {
        message: 'expected a unique-local IPv6 address (fc00::/7)',
      }),
      'IPv6 address',
    )
      .optional()
      .describe('Mesh IPv6 address to use; unset = derived from the federation /48 and the node key.'),
    dead_link_timeout: duration({ min: 100, max: 60_000 })
      .prefault('750ms')
      .describe(
        'A peer link with no probe answer for this long is declared dead and routes move away from it. The default keeps detection plus rerouting under one second on a LAN; raise it for lossy Wi-Fi or long WAN links.',
      ),
    probe_interval: duration({ min: 10, max: 60_000 })
      .prefault('200ms')
      .describe(
        "How often a link in use is probed for RTT and loss: one small datagram per interval, which also answers the peer's latest probe. Links carrying traffic (WireGuard or bus) and links just up or suspected run at this pace.",
      ),
    watch_probe_interval: duration({ min: 10, max: 60_000 })
      .prefault('2s')
      .describe(
        "How often each node's idle watch link is probed (every node is watched by one neighbour; never slower than idle_probe_interval; its dead-link timeout scales by the same factor). A node that goes silent (power cut, cable) is noticed by its watcher within dead_link_timeout x watch_probe_interval / probe_interval (7.5 s by default) and by the others just after; a daemon that crashes or is killed is marked down by its neighbours within about dead_link_timeout, since its kernel closes its TCP lanes at once.",
      ),
    idle_probe_interval: duration({ min: 10, max: 60_000 })
      .prefault('10s')
      .describe(
        'How often any other link that carries no traffic is probed (its dead-link timeout scales by the same factor). Traffic makes a link fast again at once.',
      ),
    tcp_lane: z
      .boolean()
      .prefault(true)
      .describe(
        "Carry the bus between two routers over a TCP connection beside their peer link when the peer can be reached over TCP (the link's initiator dials it; Noise with the node keys, bound to the link). Faster than the peer link's UDX stream on a LAN; without it (NAT, firewall, an older peer) the bus stays on the peer link.",
      ),
    tcp_lane_port: port()
      .prefault(51821)
      .describe(
        'TCP port to accept lanes on (all addresses); when taken, any free port is used and offered instead.',
      ),
    busy_poll_us: typed(
      z.union([
        z.string().refine((v): v is 'auto' => v === 'auto', {
          message: 'expected "auto" or a number of microseconds',
        }),
        z.number().int().min(0).max(10_000),
      ]),
      '"auto" or microseconds',
    )
      .prefault('auto')
      .describe(
        "After the bus hands a message on, a helper thread at the lowest CPU priority keeps a CPU busy for up to this long (adapting to the traffic: only for messages that come one at a time, as requests and replies do, and not when they come further apart), so the next process woken there, such as the reply's reader, starts without waiting for a halted CPU. Cut request/reply p50 by 12 to 53 % on the bus bench in a virtual machine, for CPU time that nothing else wanted; 0 turns it off. auto: 300 in a virtual machine with more than one CPU and no CPU quota, otherwise 0 (on bare metal, a Raspberry Pi included, waking an idle CPU is cheap).",
      ),
  })
  .superRefine((n, ctx) => {
    for (const key of ['watch_probe_interval', 'idle_probe_interval'] as const) {
      if (n[key] < n.probe_interval) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `must be at least probe_interval (${n.probe_interval}ms)`,
        })
      }
    }
    // Fewer than two probes per timeout means one lost packet kills a healthy link.
    if (n.dead_link_timeout < 2 * n.probe_interval) {
      ctx.addIssue({
        code: 'custom',
        path: ['dead_link_timeout'],
        message: `must be at least twice probe_interval (${n.probe_interval}ms), or one lost probe drops a healthy link`,
      })
    }
  })
  .prefault({})
  .describe('Peer-link health and mesh addresses.')

export const discoverySchema = z
  .strictObject({
    bootstrap: z
      .array(hostPort())
      .prefault([])
      .describe(
        'HyperDHT bootstrap nodes ("host:port"), normally the control-plane nodes; empty = public bootstrap.',
      ),
    static_peers: z
      .array(staticPeer())
      .prefault([])
      .describe(
        'Peers besides those found on the DHT: "<node key>@host:port" is dialled directly (no DHT needed); "host:port" is an extra DHT contact.',
      ),
    port: port()
      .prefault(49737)
      .describe('UDP port of the DHT node (and of the bootstrap node when node.bootstrap).'),
    refresh_interval: duration({ min: 1000, max: MAX_TIMER_MS })
      .prefault('5m')
      .describe('How often the node re-announces itself on the federation topic.'),
    federation_secret_file: defaultText(
      absPath()
        .optional()
        .describe(
          'File holding the federation secret that, with the federation id, derives the discovery topic.',
        ),
      '<node.state_dir>/federation.secret',
    ),
  })
  .prefault({})
  .describe('How routers find each other.')

export const wireguardSchema = z
  .strictObject({
    interface: typed(
      z
        .string()
        .regex(/^[A-Za-z0-9_.-]{1,15}$/, {
          message: 'expected a Linux interface name: 1-15 characters of letters, digits, "_", "." and "-"',
        })
        .refine((s) => s !== '.' && s !== '..', { message: '"." and ".." are not interface names' }),
      'interface name',
    )
      .prefault('brmesh0')
      .describe('Name of the WireGuard interface the daemon creates and owns.'),
    listen_port: port().prefault(51820).describe('UDP port WireGuard listens on.'),
    backend: z
      .enum(['auto', 'kernel', 'wireguard-go'])
      .prefault('auto')
      .describe('auto uses the kernel module when present, else wireguard-go.'),
    key_rotation: defaultText(
      duration({ min: 60_000 })
        .optional()
        .describe(
          'How often the WireGuard key rotates (the node key does not); mesh.encryption.key_rotation is the same setting.',
        ),
      '24h',
    ),
    mtu: z
      .number()
      .int()
      .min(1280)
      .max(9000)
      .prefault(1420)
      .describe('Interface MTU; 1420 fits WireGuard over a 1500-byte underlay.'),
    persistent_keepalive: duration({ max: 65_535_000, wholeSeconds: true })
      .prefault('25s')
      .describe('Keepalive sent to each peer to hold NAT mappings open; 0s disables.'),
  })
  .prefault({})
  .describe('The WireGuard data plane.')

const dnsEndpoint = z
  .strictObject({
    cluster: z.string().min(1).describe('Cluster serving this endpoint.'),
    ip: typed(
      z.string().refine((s) => isIPv4(s) || isIPv6(s), { message: 'expected an IP address' }),
      'IP address',
    ).describe('Address answered for the record.'),
    priority: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .prefault(1)
      .describe('Lower is preferred; answers are ordered by it.'),
  })
  .describe('One address of a record, with the cluster that serves it.')

const dnsRecord = z
  .strictObject({
    name: z.string().min(1).describe('Record name relative to the zone ("control", "*.agents").'),
    type: z.enum(['A', 'AAAA', 'SRV', 'CNAME', 'TXT']).describe('DNS record type.'),
    ttl: z
      .number()
      .int()
      .min(0)
      .max(86400)
      .optional()
      .describe('TTL in seconds; unset = dns.ttl for its kind.'),
    endpoints: z
      .array(dnsEndpoint)
      .prefault([])
      .describe('Static answers; empty = resolved dynamically from the registry.'),
  })
  .describe('A record of a federation zone.')

export const dnsSchema = z
  .strictObject({
    enabled: z.boolean().prefault(true).describe('Run the mesh DNS server.'),
    domain: defaultText(
      domainName()
        .optional()
        .describe('Zone the daemon is authoritative for; mesh.discovery.domain is the same setting.'),
      'mesh.blackroad.local',
    ),
    listen: z
      .array(hostPort({ ipOnly: true }))
      .min(1)
      .prefault(['127.0.0.153:53'])
      .describe(
        'Addresses the DNS server binds. 127.0.0.153 because systemd-resolved holds 127.0.0.53 and 127.0.0.54 on port 53; resolved is told to send the mesh zone here.',
      ),
    listen_mesh: z
      .boolean()
      .prefault(true)
      .describe(
        "Also answer on this node's mesh IPv4 and IPv6, on the port of the first listen address, once its WireGuard interface holds them, so other nodes can ask it over the tunnel.",
      ),
    ttl: z
      .strictObject({
        node: z.number().int().min(0).max(86400).prefault(60).describe('TTL of node records, in seconds.'),
        agent: z
          .number()
          .int()
          .min(0)
          .max(86400)
          .prefault(30)
          .describe('TTL of agent records (short: agents migrate), in seconds.'),
        negative: z
          .number()
          .int()
          .min(0)
          .max(86400)
          .prefault(30)
          .describe('TTL of NXDOMAIN/NODATA answers, in seconds.'),
      })
      .prefault({})
      .describe('Answer lifetimes.'),
    upstream: z
      .array(hostPort({ ipOnly: true }))
      .optional()
      .describe('Resolvers for names outside the zone ("address:port"); unset = such queries are refused.'),
    zones: z
      .array(
        z
          .strictObject({
            name: domainName().describe('Zone name (e.g. blackroad.mesh).'),
            type: z
              .enum(['federation', 'cluster'])
              .prefault('federation')
              .describe('federation: global; cluster: local to one cluster.'),
            records: z.array(dnsRecord).prefault([]).describe('Records of the zone.'),
          })
          .describe("An extra zone served by the mesh DNS (the guide's dns.yaml)."),
      )
      .prefault([])
      .describe('Extra federation-wide zones.'),
    local_zones: z
      .array(
        z
          .strictObject({
            name: domainName().describe('Zone name (e.g. us-west.blackroad.mesh).'),
            type: z
              .enum(['cluster'])
              .prefault('cluster')
              .describe("Always cluster: answered from this cluster's services."),
          })
          .describe('A zone resolved within this cluster only.'),
      )
      .prefault([])
      .describe('Cluster-local zones.'),
  })
  .prefault({})
  .describe('The mesh DNS server.')

const policyTarget = typed(
  z.string().regex(/^(agent|cluster|node)\/[A-Za-z0-9*._-]+$/, {
    message: 'expected agent/<name-or-glob>, cluster/<name-or-glob> or node/<name-or-glob>',
  }),
  'agent/<glob> | cluster/<glob> | node/<glob>',
)

export const meshSchema = z
  .strictObject({
    name: z.string().min(1).prefault('blackroad-mesh').describe('Name of the mesh (shown in status).'),
    encryption: z
      .strictObject({
        type: z
          .enum(['wireguard'])
          .prefault('wireguard')
          .describe('Overlay encryption; WireGuard is the only data plane.'),
        key_rotation: defaultText(
          duration({ min: 60_000 }).optional().describe('Same as wireguard.key_rotation.'),
          'wireguard.key_rotation',
        ),
      })
      .prefault({})
      .describe("Overlay encryption (the guide's mesh.yaml)."),
    discovery: z
      .strictObject({
        type: z.enum(['dns']).prefault('dns').describe('Service discovery mechanism; the mesh DNS.'),
        domain: defaultText(domainName().optional().describe('Same as dns.domain.'), 'dns.domain'),
      })
      .prefault({})
      .describe('Service discovery.'),
    load_balancing: z
      .strictObject({
        algorithm: z
          .enum(['least_connections', 'round_robin', 'random', 'lowest_latency'])
          .prefault('least_connections')
          .describe('How a request to a service picks among its agents.'),
        health_check_interval: duration({ min: 1000, max: MAX_TIMER_MS })
          .prefault('10s')
          .describe('How often service endpoints are health-checked.'),
      })
      .prefault({})
      .describe('Load balancing across agents of a service.'),
    policies: z
      .array(
        z
          .strictObject({
            name: z.string().min(1).describe('Policy name (unique).'),
            source: policyTarget.describe('Who sends: agent/* or cluster/<name>.'),
            destination: policyTarget.describe('Who receives.'),
            allow: z.boolean().prefault(true).describe('Allow (true) or deny (false) matching traffic.'),
            encrypt: z
              .boolean()
              .refine((v) => v, {
                message: 'every mesh link is encrypted; encrypt: false cannot be honoured',
              })
              .prefault(true)
              .describe("Kept for the guide's shape; must be true."),
            max_latency_ms: z
              .number()
              .int()
              .min(1)
              .optional()
              .describe('Refuse paths slower than this, in milliseconds.'),
            rate_limit_rps: z
              .number()
              .positive()
              .max(1_000_000)
              .optional()
              .describe(
                'Rate limit: at most this many messages per second per sending node and agent (bursts of one second); more are refused with RATE_LIMITED.',
              ),
          })
          .refine((p) => p.allow || p.rate_limit_rps === undefined, {
            message: 'rate_limit_rps needs allow: true (a deny policy has nothing to limit)',
            path: ['rate_limit_rps'],
          })
          .describe('A traffic policy, enforced where the bus accepts a message.'),
      )
      .superRefine((ps, ctx) => {
        const seen = new Set<string>()
        ps.forEach((p, i) => {
          if (seen.has(p.name))
            ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate policy name "${p.name}"` })
          seen.add(p.name)
        })
      })
      .prefault([])
      .describe(
        'Traffic policies between agents, clusters and nodes; the first policy that matches decides.',
      ),
    default_policy: z
      .enum(['allow', 'deny'])
      .prefault('allow')
      .describe('What happens to a message no policy matches: allow (default) or deny.'),
  })
  .prefault({})
  .describe("The service mesh (the guide's mesh.yaml).")

function inCgnat(s: string): boolean {
  if (!isIPv4(s)) return false
  const [a, b] = s.split('.').map(Number) as [number, number]
  return a === 100 && b >= 64 && b <= 127
}
