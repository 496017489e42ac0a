// The example configs in config/ must stay valid: each is loaded from the repository as a user would load it.

import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../../src/config/index.js'

/** Tests run from test/unit (tsx) or dist/test/unit (built); the repo root holds package.json and config/. */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'config'))) return dir
    const parent = path.dirname(dir)
    if (parent === dir)
      throw new Error('repository root (package.json and config/) not found above the test file')
    dir = parent
  }
}

const example = (name: string) => loadConfig(path.join(repoRoot(), 'config', name))

describe('example configs', () => {
  it('control-plane.yaml: a voter in us-west-2 that runs a DHT bootstrap node', async () => {
    const c = await example('control-plane.yaml')
    assert.equal(c.node.control_plane, true)
    assert.equal(c.node.bootstrap, true)
    assert.equal(c.cluster.region, 'us-west-2')
    assert.equal(c.federation.name, 'blackroad-global')
    assert.ok(c.federation.control_plane.length > 0)
    assert.ok(c.discovery.bootstrap.length > 0)
    assert.equal(c.api.mode, 0o660)
    assert.equal(c.tls.ca.key, '/etc/blackroad/ca.key')
    assert.equal(c.dns.listen_mesh, true)
    assert.deepEqual(
      c.dns.zones[0]?.records[0]?.endpoints.map((e) => e.ip),
      ['10.100.1.1', '10.101.1.1'],
    )
  })

  it('primary-node.yaml: a node of the primary cluster us-west', async () => {
    const c = await example('primary-node.yaml')
    assert.equal(c.cluster.name, 'us-west')
    assert.equal(c.cluster.type, 'primary')
    assert.equal(c.node.control_plane, false)
    assert.equal(c.cluster.resources.max_gpu, 8)
    assert.deepEqual(c.cluster.taints, [{ key: 'gpu-only', value: 'true', effect: 'NoSchedule' }])
    assert.deepEqual(c.federation.control_plane, ['https://control.blackroad.io'])
    assert.equal(c.replication.memory.archival.strategy, 'geo_replicate')
  })

  it('edge-pi.yaml: a Raspberry Pi worker of edge-home, as in the guide', async () => {
    const c = await example('edge-pi.yaml')
    assert.equal(c.cluster.name, 'edge-home')
    assert.equal(c.cluster.type, 'edge')
    assert.equal(c.node.role, 'worker')
    assert.deepEqual(c.node.labels, { type: 'raspberry-pi', location: 'home' })
    assert.deepEqual(c.resources, { max_agents: 50, reserved_memory_mb: 512 })
    assert.ok(c.discovery.static_peers.length > 0)
  })
})
