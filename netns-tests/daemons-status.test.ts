// Three real daemons in three network namespaces on one bridge: each starts from its own config, answers
// `blackroad status` over its socket with its own identity, keeps serving after bad API requests, and stops
// cleanly on SIGTERM. Later network-core tests connect such daemons into a mesh.

import assert from 'node:assert/strict'
import http from 'node:http'
import { test } from 'node:test'
import { Lab } from './lib/index.js'
import { requireRoot } from './lib/mesh-inspect.js'

test('three daemons in three namespaces answer status', async (t) => {
  if (!requireRoot(t)) return
  const lab = await Lab.create(t)
  const lan = await lab.bridge('lan')
  const names = ['alpha', 'beta', 'gamma']
  const daemons = []
  for (const name of names) {
    const host = await lab.host(name)
    await lab.attach(host, lan)
    daemons.push(
      await lab.startDaemon(host, {
        node: { name },
        cluster: { name: 'edge-home', region: 'local', type: 'edge' },
        metrics: { enabled: false },
      }),
    )
  }
  const statuses = await Promise.all(daemons.map((d) => d.status()))
  const ids = new Set<string>()
  statuses.forEach((s, i) => {
    const st = s as {
      name: string
      node_id: string
      cluster: { name: string }
      version: string
      uptime_seconds: number
    }
    assert.equal(st.name, names[i])
    assert.equal(st.cluster.name, 'edge-home')
    assert.match(st.node_id, /^node_[a-z2-7]{16}$/)
    assert.ok(st.uptime_seconds >= 0)
    ids.add(st.node_id)
  })
  assert.equal(ids.size, 3, 'every node has its own identity')

  // The human form too, through the real CLI inside the namespace.
  const human = await daemons[1]!.cli(['status'])
  assert.equal(human.code, 0, human.stderr)
  assert.match(human.stdout, /Node:\s+beta \(node_/)

  // A bad request gets a 4xx JSON error and the daemon keeps answering. Unix sockets live in the shared
  // filesystem, so the test reaches the daemon's socket from outside its namespace.
  const bad = await postRaw(daemons[0]!.socketPath, '/v1/federation/init', '{"name":')
  assert.equal(bad.status, 400)
  assert.match(bad.body, /"code":"BAD_JSON"/)
  assert.equal((await daemons[0]!.cli(['status', '--json'])).code, 0)

  for (const d of daemons) await d.stop()
})

function postRaw(socketPath: string, path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = ''
        res.on('data', (d) => (text += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}
