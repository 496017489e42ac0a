// Federation-wide network policies through the control-plane registry, with real daemons: a (cluster alpha),
// b (beta), c (gamma) on one bridge, all three Raft voters, no policies in any config.
//   - a's publish reaches c's subscriber;
//   - `blackroad policy apply` on b (any voter; the write goes to the leader) denies alpha -> gamma: a's own
//     router refuses its next publishes (POLICY_DENIED naming the policy) from its copy of the registry, and
//     `blackroad policy list` on c shows the policy in force, from the registry;
//   - a policy the routers could not enforce (a pattern with a space) is refused with 400 and a reason;
//   - `blackroad policy remove` lets a's messages through to c again.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  BlackroadClient,
  type BusMessage,
  ClientError,
  type PolicyListResponse,
} from '../src/client/index.js'
import { type Host, Lab, waitFor } from './lib/index.js'
import { DHT_PORT, Mesh, type MeshNode } from './lib/mesh.js'
import { requireRoot } from './lib/mesh-inspect.js'

const PLACES = [
  { name: 'a', cluster: 'alpha' },
  { name: 'b', cluster: 'beta' },
  { name: 'c', cluster: 'gamma' },
]

function listen(n: MeshNode, subject: string): { got: BusMessage[]; stop(): void } {
  const client = new BlackroadClient({ socketPath: n.daemon!.socketPath })
  const got: BusMessage[] = []
  void (async () => {
    try {
      for await (const m of client.subscribe(subject)) got.push(m)
    } catch {
      // ends with the test
    }
  })()
  return { got, stop: () => client.close() }
}

test('registry policies: applied on one voter, enforced by every router, removed again', async (t) => {
  if (!requireRoot(t)) return
  const lab = await Lab.create(t)
  const lan = await lab.bridge('lan')
  const hosts: Host[] = []
  for (const p of PLACES) {
    const h = await lab.host(p.name)
    await lab.attach(h, lan)
    hosts.push(h)
  }
  const mesh = new Mesh(lab)
  const nodes = await mesh.start(
    PLACES.map((p, i) => ({
      host: hosts[i]!,
      deferStart: true,
      enrol: { cluster: p.cluster, region: 'west' },
      config: { cluster: { name: p.cluster, region: 'west' }, logging: { level: 'info' } },
    })),
    [`${hosts[0]!.addr(lan)}:${DHT_PORT}`],
  )
  const ids = nodes.map((n) => n.node.nodeId)
  for (const n of nodes) {
    n.config.federation = { voters: ids }
    n.config.node = { ...n.config.node, control_plane: true }
  }
  await Promise.all(nodes.map((n) => mesh.startNode(n)))
  const [a, b, c] = nodes as [MeshNode, MeshNode, MeshNode]
  for (const n of nodes) {
    await waitFor(async () => (await mesh.routes(n)).length === 2, {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: `${n.node.name} routes to the two others`,
    })
  }
  const ca = new BlackroadClient({ socketPath: a.daemon!.socketPath })
  t.after(() => ca.close())
  const news = listen(c, 'news.>')
  t.after(() => news.stop())

  // Before: a's publish reaches c (once c's interest has reached a).
  await waitFor(
    async () => {
      await ca.publish({ subject: 'news.before', data: 'hello gamma' })
      return news.got.some((m) => m.subject === 'news.before')
    },
    { timeoutMs: 30_000, intervalMs: 300, what: "a's message reaches c" },
  )

  // Apply on b; the registry may still be electing its first leader or writing the federation record.
  const applied = await waitFor(
    async () => {
      const r = await b.daemon!.cli([
        'policy',
        'apply',
        'no-alpha-to-gamma',
        '--source-clusters',
        'alpha',
        '--destination-clusters',
        'gamma',
        '--policy',
        'deny',
      ])
      return r.code === 0 ? r : null
    },
    { timeoutMs: 30_000, intervalMs: 500, what: 'policy apply commits' },
  )
  assert.match(applied.stdout, /applied no-alpha-to-gamma: deny alpha -> gamma/)

  // a's router refuses from its own copy of the registry.
  const denied = await waitFor(
    async () => {
      try {
        await ca.publish({ subject: 'news.during', data: 'still there?' })
        return null
      } catch (e) {
        return e
      }
    },
    { timeoutMs: 15_000, intervalMs: 200, what: "a's router enforces the registry's policy" },
  )
  assert.ok(denied instanceof ClientError, String(denied))
  assert.equal(denied.code, 'POLICY_DENIED')
  assert.match(denied.message, /no-alpha-to-gamma/)
  // (A 'news.during' published before a's copy had the policy may legitimately have reached c: the one
  // checked below is published once the refusal is in force.)
  await assert.rejects(
    ca.publish({ subject: 'news.denied', data: 'refused' }),
    (e) => e instanceof ClientError && e.code === 'POLICY_DENIED',
  )
  // c applies the entry when the leader's next append or heartbeat tells it the commit index.
  const list = await waitFor(
    async () => {
      const listed = await c.daemon!.cli(['policy', 'list', '--json'])
      assert.equal(listed.code, 0, listed.stderr)
      const l = JSON.parse(listed.stdout) as PolicyListResponse
      return l.in_force.length > 0 ? l : null
    },
    { timeoutMs: 10_000, intervalMs: 200, what: 'c enforces the policy' },
  )
  assert.deepEqual(list.in_force, [{ name: 'no-alpha-to-gamma', from: 'registry' }])
  assert.equal(list.registry?.[0]?.policy, 'deny')

  // A pattern the routers could not match is refused before it reaches the registry.
  const bad = await b.daemon!.cli(['policy', 'apply', 'bad-one', '--source-clusters', 'us west'])
  assert.notEqual(bad.code, 0)
  assert.match(bad.stderr, /us west/)

  // Removed: a's messages reach c again.
  const removed = await a.daemon!.cli(['policy', 'remove', 'no-alpha-to-gamma'])
  assert.equal(removed.code, 0, removed.stderr)
  await waitFor(
    async () => {
      try {
        await ca.publish({ subject: 'news.after', data: 'back' })
      } catch {
        return false
      }
      return news.got.some((m) => m.subject === 'news.after')
    },
    { timeoutMs: 15_000, intervalMs: 300, what: "a's message reaches c after the removal" },
  )
  assert.ok(!news.got.some((m) => m.subject === 'news.denied'), 'nothing got through while denied')
})
