// Discovery for topologies built only of point-to-point links (a line, a diamond), where the mesh's paths must be
// exactly the links: no two routers that are not linked may reach each other on the underlay, or hyperswarm would
// connect them directly and the test would measure a shortcut, not relaying.
//
// A shared "management" bridge would be such a shortcut, so instead:
//   - a DHT bootstrap host of its own (not a mesh node: it runs only the federation's DHT nodes, the same code a
//     bootstrap router runs) hangs off one router, the gateway, on a link of its own;
//   - every router gets a host route to the bootstrap along a BFS tree of the links, and the routers on the way
//     forward that traffic (and the replies, by host routes to each router's source address);
//   - every router gets host routes to its neighbours' other addresses via that neighbour (the neighbour owns
//     them, so nothing is forwarded), because the DHT tells peers the address the bootstrap saw, which may be on
//     the neighbour's far link;
//   - each router's FORWARD chain drops everything arriving from an underlay link that is not to or from the
//     bootstrap (the daemon turns IP forwarding on for mesh relaying, which would otherwise route underlay
//     packets between links), and forwards no IPv6 from the underlay at all.
// The result: DHT traffic reaches the bootstrap hop by hop, a router can open a peer link only to a router it is
// linked with, and hyperswarm's attempts to reach anyone else fail (no route) instead of finding a path.

import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { HarnessError } from './errors.js'
import type { Lab } from './lab.js'
import type { Proc } from './proc.js'
import { repoRoot } from './repo.js'
import type { Host, Link } from './topology.js'

export const BOOT_DHT_PORT = 49737

export interface RoutedLinks {
  /** The bootstrap host and its address. */
  boot: Host
  bootAddr: string
  /** `discovery.bootstrap` for every mesh node. */
  bootstrap: string[]
  proc: Proc
}

/** Starts the federation's DHT nodes (bootstrapper + 2 extra) in `host`, announcing `addr`; resolves once bound. */
export async function startDhtBootstrap(host: Host, addr: string, port = BOOT_DHT_PORT): Promise<Proc> {
  const mod = pathToFileURL(path.join(repoRoot(), 'dist', 'src', 'discovery', 'dht-nodes.js')).href
  const script = `
    const { FederationDhtNodes } = await import(${JSON.stringify(mod)})
    const nodes = await FederationDhtNodes.start({ host: process.argv[1], port: Number(process.argv[2]), extraNodes: 2 })
    console.log('dht nodes up', JSON.stringify(nodes.addresses))
    process.on('SIGTERM', () => nodes.close({ bootstrapper: true }).finally(() => process.exit(0)))
  `
  const proc = host.spawn([process.execPath, '--input-type=module', '-e', script, addr, String(port)], {
    logName: 'dht-boot',
  })
  await proc.waitForLog('dht nodes up', 20_000)
  return proc
}

function otherEnd(l: Link, h: Host): Host {
  const a = l.a.node as Host
  const b = l.b.node as Host
  if (a === h) return b
  if (b === h) return a
  throw new HarnessError('ADDRESS_PLAN', `${h.name} is not an end of ${l.describe()}`)
}

/**
 * Sets up discovery for routers joined only by `links` (see the header): a bootstrap host linked to `gateway`,
 * routes and forwarding filters. Every router must have been created with { forwarding: true }.
 */
export async function routedLinks(
  lab: Lab,
  routers: Host[],
  links: Link[],
  gateway: Host,
): Promise<RoutedLinks> {
  const boot = await lab.host('dhtboot')
  const bootLink = await lab.link(gateway, boot)
  const bootAddr = boot.addr(bootLink)
  await boot.setDefaultRoute(gateway.addr(bootLink))

  // BFS tree from the gateway: parent and the link to it.
  const parent = new Map<Host, { host: Host; link: Link }>()
  const order: Host[] = [gateway]
  const seen = new Set<Host>([gateway])
  for (let i = 0; i < order.length; i++) {
    const x = order[i]!
    for (const l of links) {
      if (l.a.node !== x && l.b.node !== x) continue
      const y = otherEnd(l, x)
      if (seen.has(y)) continue
      seen.add(y)
      parent.set(y, { host: x, link: l })
      order.push(y)
    }
  }
  for (const r of routers) {
    if (!seen.has(r))
      throw new HarnessError('ADDRESS_PLAN', `router ${r.name} is not connected to ${gateway.name}`)
  }

  const routes = new Map<Host, Map<string, string>>(routers.map((r) => [r, new Map()]))
  const add = (on: Host, dst: string, via: string) => {
    const m = routes.get(on)!
    const had = m.get(dst)
    if (had !== undefined && had !== via)
      throw new HarnessError('ADDRESS_PLAN', `${on.name}: conflicting routes to ${dst} (${had}, ${via})`)
    m.set(dst, via)
  }
  for (const n of routers) {
    const up = parent.get(n)
    if (!up) continue
    // To the bootstrap via the parent; the source address is n's address on that link.
    add(n, bootAddr, up.host.addr(up.link))
    const source = n.addr(up.link)
    // Replies: every ancestor above the parent routes n's source address down to its child on the path.
    let child = up.host
    let above = parent.get(child)
    while (above) {
      add(above.host, source, child.addr(above.link))
      child = above.host
      above = parent.get(child)
    }
  }
  // A neighbour's other addresses (including the gateway's address on the bootstrap link) via that neighbour.
  for (const l of links) {
    for (const [x, m] of [
      [l.a.node as Host, l.b.node as Host],
      [l.b.node as Host, l.a.node as Host],
    ] as const) {
      for (const i of m.interfaces) {
        if (i.on === l) continue
        add(x, i.v4, m.addr(l))
      }
    }
  }
  await Promise.all(
    routers.map(async (r) => {
      const cmds = [...routes.get(r)!].map(([dst, via]) => `route replace ${dst}/32 via ${via}`)
      if (cmds.length > 0) await r.execOk(['ip', '-batch', '-'], { input: `${cmds.join('\n')}\n` })
      const ifaces = r.interfaces.map((i) => i.name)
      const v4 = [
        '*filter',
        `-A FORWARD -s ${bootAddr}/32 -j ACCEPT`,
        `-A FORWARD -d ${bootAddr}/32 -j ACCEPT`,
        ...ifaces.map((i) => `-A FORWARD -i ${i} -j DROP`),
        'COMMIT',
        '',
      ].join('\n')
      const v6 = ['*filter', ...ifaces.map((i) => `-A FORWARD -i ${i} -j DROP`), 'COMMIT', ''].join('\n')
      await r.execOk(
        [
          'sh',
          '-c',
          'iptables-restore -w --noflush && printf %s "$BRT_RULES" | ip6tables-restore -w --noflush',
        ],
        { input: v4, env: { BRT_RULES: v6 } },
      )
    }),
  )
  lab.log.note(
    `routed links: bootstrap ${boot.name} ${bootAddr} via ${gateway.name}; routes ${[...routes]
      .map(([h, m]) => `${h.name}: ${[...m].map(([d, v]) => `${d} via ${v}`).join(', ')}`)
      .join('; ')}`,
  )
  const proc = await startDhtBootstrap(boot, bootAddr)
  return { boot, bootAddr, bootstrap: [`${bootAddr}:${BOOT_DHT_PORT}`], proc }
}
