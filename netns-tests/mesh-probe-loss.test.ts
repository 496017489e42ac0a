// Probe datagrams lost on a link whose stream still works: three nodes on a bridge; n1 drops every UDX datagram
// (secret-stream send(): the routing probes) to and from n2, and nothing else. Routing must not believe the
// stream: n1 and n2 mark their link down and reach each other through n3, while their peer link (the stream,
// kept alive by its keepalive) stays up, with no link closed, and so do their WireGuard entries for each other.
// Lifting the filter brings the direct route back.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Lab, waitFor } from './lib/index.js'
import { meshOnBridge } from './lib/mesh.js'
import { fetchMetrics, METRICS_LISTEN, requireRoot, sampleValue } from './lib/mesh-inspect.js'
import type { Host } from './lib/topology.js'

/** UDP payload starts with UDX's magic and version (0xff 0x01) and its type byte has MESSAGE (0x08) set. */
const UDX_MESSAGE = '0>>22&0x3C@8>>16=0xFF01&&0>>22&0x3C@8>>8&0x08=0x08'

function datagramRules(peer: string): string[][] {
  return [
    ['OUTPUT', '-d', peer],
    ['INPUT', '-s', peer],
  ].map(([chain, dir, addr]) => [
    chain!,
    '-p',
    'udp',
    dir!,
    addr!,
    '-m',
    'u32',
    '--u32',
    UDX_MESSAGE,
    '-j',
    'DROP',
  ])
}

async function setDrop(h: Host, peer: string, on: boolean): Promise<void> {
  for (const r of datagramRules(peer)) await h.execOk(['iptables', on ? '-I' : '-D', ...r])
}

test('probe datagrams lost on a working link: routing moves off it, the peer link stays', async (t) => {
  if (!requireRoot(t)) return
  const lab = await Lab.create(t)
  const { mesh, nodes, hosts } = await meshOnBridge(lab, ['n1', 'n2', 'n3'], {
    config: { metrics: { enabled: true, listen: METRICS_LISTEN } },
  })
  const [n1, n2, n3] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
  const route = async (from: typeof n1, to: typeof n1) =>
    (await mesh.routes(from)).find((r) => r.destination === to.node.nodeId)
  const direct = async () =>
    (await route(n1, n2))?.kind === 'direct' && (await route(n2, n1))?.kind === 'direct'
  await waitFor(async () => (await direct()) && (await mesh.allPairsPing(nodes)), {
    timeoutMs: 60_000,
    intervalMs: 200,
    what: 'a full mesh, n1 <-> n2 direct',
  })
  const closedBefore = sampleValue(await fetchMetrics(n1.daemon!), 'blackroad_peer_links_closed_total')

  const cutAt = Date.now()
  await setDrop(hosts[0]!, hosts[1]!.addr(), true)
  await waitFor(
    async () =>
      (await route(n1, n2))?.next_hop === n3.node.nodeId &&
      (await route(n2, n1))?.next_hop === n3.node.nodeId,
    { timeoutMs: 10_000, intervalMs: 100, what: 'n1 <-> n2 through n3' },
  )
  t.diagnostic(`n1 <-> n2 moved through n3 ${Date.now() - cutAt} ms after their datagrams were dropped`)
  await waitFor(() => mesh.allPairsPing(nodes), { timeoutMs: 30_000, intervalMs: 200, what: 'pings via n3' })

  // Long past the peer link's dead interval (6.6 s: three keepalive intervals of idle probe interval + 200 ms):
  // the stream carried keepalives, so the link never closed, and the routing link stayed down all along.
  await new Promise((r) => setTimeout(r, 8_000))
  assert.equal((await route(n1, n2))?.next_hop, n3.node.nodeId, 'still through n3')
  const peer = (await mesh.peers(n1)).find((p) => p.node_id === n2.node.nodeId)
  assert.equal(peer?.path, 'relayed')
  // The peer link is up, so n1 keeps n2's WireGuard entry (without addresses) and the session in it.
  assert.notEqual(peer?.last_handshake ?? null, null, "n2's WireGuard entry and its session stayed")
  const text = await fetchMetrics(n1.daemon!)
  assert.equal(sampleValue(text, 'blackroad_peer_links_closed_total'), closedBefore, 'no peer link closed')
  assert.equal(sampleValue(text, 'blackroad_peer_links'), 2, 'both peer links up')

  await setDrop(hosts[0]!, hosts[1]!.addr(), false)
  const liftedAt = Date.now()
  await waitFor(direct, { timeoutMs: 15_000, intervalMs: 100, what: 'n1 <-> n2 direct again' })
  t.diagnostic(`direct again ${Date.now() - liftedAt} ms after the filter was lifted`)
  // Only addresses move back to the kept WireGuard entries, whose sessions still run: no new handshake is
  // needed, though pings are awaited (bounded) rather than asserted at once.
  const directAt = Date.now()
  await waitFor(() => mesh.allPairsPing(nodes), { timeoutMs: 10_000, intervalMs: 100, what: 'pings, direct' })
  t.diagnostic(`every pair pinging ${Date.now() - directAt} ms after the direct route returned`)
})
