// Three nodes on one bridge, real daemons and real WireGuard (wireguard-go): they find each other through
// the federation's own DHT bootstrap node, link with certificates, and every pair pings over mesh IPv4 and
// IPv6. Reports the join time (first daemon started → every pair pinging).

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BlackroadClient } from '../src/client/index.js'
import { Lab, waitFor } from './lib/index.js'
import { meshOnBridge } from './lib/mesh.js'
import { requireRoot } from './lib/mesh-inspect.js'

test('three nodes on a bridge: every pair pings over mesh IPv4 and IPv6', async (t) => {
  if (!requireRoot(t)) return
  const lab = await Lab.create(t)
  const started = Date.now()
  const { mesh, nodes } = await meshOnBridge(lab, ['n1', 'n2', 'n3'])
  await waitFor(() => mesh.allPairsPing(nodes, { ipv6: true }), {
    timeoutMs: 60_000,
    intervalMs: 100,
    what: 'every pair pings over v4 and v6',
  })
  t.diagnostic(`join time (daemons started -> every pair pinging v4+v6): ${Date.now() - started} ms`)

  // The operator's view agrees once routes settle (a link measured late may briefly route through the third
  // node): two direct peers each, with handshakes and traffic.
  for (const n of nodes) {
    await waitFor(
      async () => {
        // Peers and routes are two reads: a route may move between them while links settle, so both wait.
        const [peers, routes] = [await mesh.peers(n), await mesh.routes(n)]
        const settled =
          peers.length === 2 &&
          peers.every((p) => p.path === 'direct' && p.last_handshake !== null && p.endpoint !== null) &&
          routes.length === 2 &&
          routes.every((r) => r.kind === 'direct')
        if (settled) return true
        // Thrown, not returned: on timeout waitFor reports the last state seen, so a failure says which part.
        const seen = {
          peers: peers.map((p) => [p.name, p.path, p.last_handshake, p.endpoint, p.base_rtt_ms]),
          routes: routes.map((r) => [r.name, r.kind, r.next_hop_name, r.cost_ms]),
        }
        throw new Error(`not settled: ${JSON.stringify(seen)}`)
      },
      {
        timeoutMs: 15_000,
        intervalMs: 250,
        what: `${n.node.name}: two direct peers with handshakes and routes`,
      },
    )
    const peers = await mesh.peers(n)
    for (const p of peers) {
      assert.ok(p.rx_bytes > 0 && p.tx_bytes > 0)
      // Probe RTT includes both daemons' event loops; only a sanity bound here (the bench measures latency).
      assert.ok(p.rtt_ms !== null && p.rtt_ms > 0 && p.rtt_ms < 1000, `rtt ${p.rtt_ms}`)
      assert.ok(
        p.base_rtt_ms !== null && p.base_rtt_ms > 0 && p.base_rtt_ms < 1000,
        `base rtt ${p.base_rtt_ms}`,
      )
      // At one of the three configured paces: fast (new or in use), watch link, or idle.
      assert.ok(
        [200, 2000, 10_000].includes(p.probe_interval_ms ?? 0),
        `probe interval ${p.probe_interval_ms}`,
      )
      assert.ok(p.endpoint?.endsWith(':51820'), `endpoint ${p.endpoint}`)
      // On one bridge every pair reaches the other's lane port: the bus runs over TCP lanes.
      assert.equal(p.bus_lane, 'tcp', `${n.node.name} -> ${p.name}: bus on ${p.bus_lane}`)
    }
    const routes = await mesh.routes(n)
    assert.equal(routes.length, 2)
    assert.ok(routes.every((r) => r.kind === 'direct'))
    // The route's RTT is its link's measured round trip; the cost adds routing's 5 ms per hop on top.
    assert.ok(
      routes.every((r) => r.rtt_ms !== null && r.rtt_ms > 0 && r.rtt_ms < r.cost_ms),
      JSON.stringify(routes.map((r) => [r.rtt_ms, r.cost_ms])),
    )
    const status = await n.daemon!.status()
    assert.equal((status as { mesh: { ipv4: string } }).mesh.ipv4, n.node.ipv4)
  }

  // Mesh DNS on each node names every other node, with real dig inside the namespace.
  for (const n of nodes) {
    for (const other of nodes) {
      const name = `${other.node.name}.lab.mesh.blackroad.local`
      await waitFor(
        async () => {
          const r = await n.host.exec(['dig', '+short', '@127.0.0.153', name, 'A'])
          return r.stdout.trim() === other.node.ipv4
        },
        { timeoutMs: 10_000, intervalMs: 200, what: `${n.node.name} resolves ${name}` },
      )
    }
    const aaaa = await n.host.exec([
      'dig',
      '+short',
      '@127.0.0.153',
      `${nodes[0]!.node.name}.mesh.blackroad.local`,
      'AAAA',
    ])
    assert.equal(aaaa.stdout.trim(), nodes[0]!.node.ipv6)
  }

  // The bus rides the same links: a subscriber on n3 receives what n1 publishes through its socket.
  const sub = new BlackroadClient({ socketPath: nodes[2]!.daemon!.socketPath })
  const pub = new BlackroadClient({ socketPath: nodes[0]!.daemon!.socketPath })
  const received: string[] = []
  const reading = (async () => {
    for await (const m of sub.subscribe('events.>')) {
      received.push(`${m.subject}:${m.data}:${m.from_node}`)
      if (received.length >= 3) break
    }
  })()
  // Interest travels to n1 asynchronously; publish until the subscriber has three messages (bounded).
  for (let i = 0; i < 100 && received.length < 3; i++) {
    await pub.publish({ subject: `events.deploy.${i}`, data: `v${i}` })
    await new Promise((r) => setTimeout(r, 50))
  }
  await Promise.race([reading, new Promise((r) => setTimeout(r, 5000))])
  sub.close()
  pub.close()
  assert.ok(received.length >= 3, `received ${received.length} messages`)
  assert.match(received[0]!, new RegExp(`^events\\.deploy\\.\\d+:v\\d+:${nodes[0]!.node.nodeId}$`))

  for (const n of nodes) await n.daemon!.stop()
  // What a log shipper reads: one JSON object per line, each naming one subsystem (a child logger of a child
  // once repeated the key: {"subsystem":"network","subsystem":"wireguard"}, which parsers resolve differently).
  for (const n of nodes) {
    const lines = n
      .daemon!.proc.logText()
      .split('\n')
      .filter((l) => l.startsWith('{'))
    assert.ok(lines.length > 10, `${n.node.name}: ${lines.length} log lines`)
    const repeated = lines.filter((l) => (l.match(/"subsystem":/g)?.length ?? 0) > 1)
    assert.deepEqual(repeated.slice(0, 3), [], `${n.node.name}: log lines repeating a key`)
    for (const l of lines) JSON.parse(l)
  }
})
