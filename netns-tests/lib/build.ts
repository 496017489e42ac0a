// The `ip` and `iptables` commands that build a lab's pieces: bridges, host<->bridge ports, point-to-point links
// and NAT routers. Kept apart from lab.ts so the lifecycle (create, track, tear down) reads on its own, and so
// every command that shapes the topology is in one place.

import type { Subnet } from './addresses.js'
import { HarnessError } from './errors.js'
import { type ExecOptions, type ExecResult, execCommand } from './exec.js'
import { type FaultDirection, type FaultEnv, LinkFaults, NO_FAULTS } from './faults.js'
import type { LabLog } from './logs.js'
import type { RunId } from './names.js'
import { Bridge, type Host, Link, type NatRouter } from './topology.js'

/** What the builders need from the lab. */
export interface Builder {
  run: RunId
  ipv6: boolean
  log: LabLog
  addNamespace(ns: string, sysctls: readonly string[]): Promise<void>
  execIn(ns: string, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>
  ifName(tag: string): string
  faultEnv: FaultEnv
}

/** Runs several `ip` commands in one namespace with one process (ip -batch), failing on the first error. */
async function ipBatch(b: Builder, ns: string, commands: readonly string[]): Promise<void> {
  await b.execIn(ns, ['ip', '-batch', '-'], { input: `${commands.join('\n')}\n`, check: true })
}

/** Creates a veth pair directly inside the two namespaces (never in the root namespace, even for a moment). */
async function vethPair(b: Builder, ifA: string, nsA: string, ifB: string, nsB: string): Promise<void> {
  await execCommand(
    ['ip', 'link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB],
    { check: true },
    b.log,
  )
}

function direction(from: Host | Bridge, to: Host | Bridge, hook: FaultDirection['hook']): FaultDirection {
  return { from: from.name, to: to.name, hook, state: { ...NO_FAULTS }, installed: false }
}

function addressCommands(
  b: Builder,
  ifname: string,
  subnet: Subnet,
  n: number,
): { v4: string; v6: string | undefined; cmds: string[] } {
  const v4 = subnet.v4(n)
  const v6 = b.ipv6 ? subnet.v6(n) : undefined
  const cmds = [`addr add ${v4}/${subnet.prefix4} dev ${ifname}`]
  if (v6) cmds.push(`addr add ${v6}/64 dev ${ifname} nodad`)
  cmds.push(`link set ${ifname} up`)
  return { v4, v6, cmds }
}

export async function buildBridge(b: Builder, name: string, subnet: Subnet): Promise<Bridge> {
  const ns = b.run.nsPrefix + name
  // The switch's namespace has no addresses at all: IPv6 off so its ports do no DAD or router solicitations.
  await b.addNamespace(ns, ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'])
  const dev = b.ifName('b')
  // No multicast snooping: with no querier it could drop IPv6 neighbour discovery between ports.
  await ipBatch(b, ns, [`link add ${dev} type bridge stp_state 0 mcast_snooping 0`, `link set ${dev} up`])
  b.log.note(`bridge ${name}: ns ${ns} dev ${dev} ${subnet.cidr4} ${b.ipv6 ? subnet.cidr6 : ''}`)
  return new Bridge(name, ns, dev, subnet)
}

/** host <-> bridge: the host side gets an address; the bridge side is an unnumbered port of the bridge. */
export async function buildAttach(
  b: Builder,
  host: Host,
  bridge: Bridge,
  hostNumber?: number,
): Promise<Link> {
  if (host.interfaces.some((i) => i.on === bridge)) {
    throw new HarnessError('DUPLICATE', `host ${host.name} is already attached to bridge ${bridge.name}`)
  }
  const n = hostNumber ?? bridge.nextHost
  if (bridge.usedHosts.has(n))
    throw new HarnessError('ADDRESS_PLAN', `host number ${n} on ${bridge.name} is taken`)
  bridge.usedHosts.add(n)
  while (bridge.usedHosts.has(bridge.nextHost)) bridge.nextHost++
  const hostIf = b.ifName('p')
  const portIf = b.ifName('s')
  await vethPair(b, hostIf, host.ns, portIf, bridge.ns)
  await ipBatch(b, bridge.ns, [`link set ${portIf} master ${bridge.dev}`, `link set ${portIf} up`])
  const addr = addressCommands(b, hostIf, bridge.subnet, n)
  await ipBatch(b, host.ns, addr.cmds)
  // Bridged frames never pass iptables, so both directions are hooked on the host: egress and ingress.
  const faults = new LinkFaults(b.faultEnv, [
    direction(host, bridge, { ns: host.ns, iface: hostIf, hook: 'egress', queue: host.nextQueue++ }),
    direction(bridge, host, { ns: host.ns, iface: hostIf, hook: 'ingress', queue: host.nextQueue++ }),
  ])
  const link = new Link(
    'port',
    { node: host, iface: hostIf, v4: addr.v4, v6: addr.v6 },
    { node: bridge, iface: portIf, v4: undefined, v6: undefined },
    faults,
  )
  host.interfaces.push({ name: hostIf, on: bridge, v4: addr.v4, v6: addr.v6, subnet: bridge.subnet })
  bridge.ports.push(link)
  b.log.note(`attach ${host.name} to ${bridge.name}: ${hostIf} ${addr.v4} ${addr.v6 ?? ''} (port ${portIf})`)
  return link
}

/** host <-> host over a /30; each direction is hooked on its sender's egress, like a real wire's queue. */
export async function buildLink(b: Builder, x: Host, y: Host, subnet: Subnet): Promise<Link> {
  if (x === y) throw new HarnessError('ADDRESS_PLAN', `cannot link ${x.name} to itself`)
  const ifX = b.ifName('v')
  const ifY = b.ifName('v')
  await vethPair(b, ifX, x.ns, ifY, y.ns)
  const ax = addressCommands(b, ifX, subnet, 1)
  const ay = addressCommands(b, ifY, subnet, 2)
  await Promise.all([ipBatch(b, x.ns, ax.cmds), ipBatch(b, y.ns, ay.cmds)])
  const faults = new LinkFaults(b.faultEnv, [
    direction(x, y, { ns: x.ns, iface: ifX, hook: 'egress', queue: x.nextQueue++ }),
    direction(y, x, { ns: y.ns, iface: ifY, hook: 'egress', queue: y.nextQueue++ }),
  ])
  const link = new Link(
    'p2p',
    { node: x, iface: ifX, v4: ax.v4, v6: ax.v6 },
    { node: y, iface: ifY, v4: ay.v4, v6: ay.v6 },
    faults,
  )
  x.interfaces.push({ name: ifX, on: link, v4: ax.v4, v6: ax.v6, subnet })
  y.interfaces.push({ name: ifY, on: link, v4: ay.v4, v6: ay.v6, subnet })
  b.log.note(`link ${x.name}-${y.name}: ${ifX} ${ax.v4} <-> ${ifY} ${ay.v4}`)
  return link
}

/**
 * NAT rules in the router's namespace: MASQUERADE from the LAN out of the WAN (--random-fully for a symmetric
 * NAT), and unsolicited NEW connections from the WAN dropped, as home routers do; without that drop a lab NAT
 * would accept inbound connections and hole punching would be tested against a NAT that does not exist.
 * IPv6 is not forwarded (a v4-only home router); the router's own IPv6 refuses new inbound connections too.
 */
export async function buildNat(b: Builder, r: NatRouter): Promise<void> {
  const wanIf = r.iface(r.wan).name
  const v4 = [
    '*nat',
    `-A POSTROUTING -s ${r.lan.subnet.cidr4} -o ${wanIf} -j MASQUERADE${r.symmetric ? ' --random-fully' : ''}`,
    'COMMIT',
    '*filter',
    `-A INPUT -i ${wanIf} -m conntrack --ctstate NEW -j DROP`,
    `-A FORWARD -i ${wanIf} -m conntrack --ctstate NEW -j DROP`,
    'COMMIT',
    '',
  ].join('\n')
  const v6 = [
    '*filter',
    `-A INPUT -i ${wanIf} -m conntrack --ctstate NEW -j DROP`,
    '-A FORWARD -j DROP',
    'COMMIT',
    '',
  ].join('\n')
  await b.execIn(
    r.ns,
    ['sh', '-c', 'iptables-restore -w --noflush && printf %s "$BRT_RULES" | ip6tables-restore -w --noflush'],
    {
      input: v4,
      env: { BRT_RULES: v6 },
      check: true,
    },
  )
  b.log.note(
    `nat ${r.name}: lan ${r.lan.subnet.cidr4} -> wan ${wanIf} ${r.wanAddr}${r.symmetric ? ' (symmetric)' : ''}`,
  )
}
