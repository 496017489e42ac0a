// The config schema: an empty file is a complete config, the guide's YAML files are accepted as written,
// describeSchema() documents every field, and settings written in two places are reconciled.

import assert from 'node:assert/strict'
import { hostname } from 'node:os'
import { describe, it } from 'node:test'
import {
  ConfigError,
  DEFAULT_CONFIG_PATH,
  defaultConfig,
  describeSchema,
  parseConfig,
} from '../../src/config/index.js'

const parse = (text: string) => parseConfig(text, 'test.yaml')

describe('defaults', () => {
  it('an empty or comment-only file is a valid config with every default', () => {
    const empty = parse('')
    assert.deepEqual(parse('# nothing here\n\n---\n'), empty)
    assert.deepEqual(defaultConfig(), empty)
  })

  it('has the documented defaults', () => {
    const c = defaultConfig()
    assert.equal(DEFAULT_CONFIG_PATH, '/etc/blackroad/config.yaml')
    const host = (hostname().split('.')[0] ?? '').toLowerCase()
    if (/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(host)) assert.equal(c.node.name, host)
    assert.match(c.node.name, /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/)
    assert.equal(c.node.state_dir, '/var/lib/blackroad')
    assert.equal(c.node.control_plane, false)
    assert.equal(c.node.bootstrap, false)
    assert.equal(c.node.role, 'primary')
    assert.equal(c.cluster.network.mesh_port, 7946)
    assert.equal(c.cluster.federation.heartbeat_interval, 30_000)
    assert.equal(c.cluster.federation.sync_interval, 300_000)
    assert.equal(c.discovery.port, 49737)
    assert.deepEqual(c.discovery.bootstrap, [])
    assert.equal(c.discovery.federation_secret_file, '/var/lib/blackroad/federation.secret')
    assert.deepEqual(
      { ...c.wireguard },
      {
        interface: 'brmesh0',
        listen_port: 51820,
        backend: 'auto',
        key_rotation: 86_400_000,
        mtu: 1420,
        persistent_keepalive: 25_000,
      },
    )
    assert.deepEqual(c.network, {
      dead_link_timeout: 750,
      probe_interval: 200,
      watch_probe_interval: 2000,
      idle_probe_interval: 10_000,
      tcp_lane: true,
      tcp_lane_port: 51821,
      busy_poll_us: 'auto',
    })
    assert.equal(c.dns.domain, 'mesh.blackroad.local')
    assert.deepEqual(c.dns.listen, ['127.0.0.153:53'])
    assert.deepEqual(c.dns.ttl, { node: 60, agent: 30, negative: 30 })
    assert.equal(c.dns.upstream, undefined)
    assert.deepEqual(c.api, {
      socket: '/run/blackroad/blackroad.sock',
      group: 'blackroad',
      mode: 0o660,
      max_body_bytes: 1024 * 1024,
      request_timeout: 30_000,
      stream_max_pending_bytes: 8 * 1024 * 1024,
    })
    assert.deepEqual(c.metrics, { enabled: true, listen: '127.0.0.1:9464' })
    assert.deepEqual(c.logging, { level: 'info', format: 'auto' })
    assert.equal(c.mesh.encryption.key_rotation, 86_400_000)
    assert.equal(c.mesh.discovery.domain, 'mesh.blackroad.local')
    assert.equal(c.replication.memory.working.strategy, 'local_only')
    assert.equal(c.replication.memory.archival.consistency, 'strong')
    assert.equal(c.replication.agent_state.failover_timeout_ms, 5000)
    assert.equal(c.tls.rotation.check_interval, 86_400_000)
    assert.equal(c.tls.rotation.renew_before_expiry, 7 * 86_400_000)
    assert.deepEqual(c.federation.control_plane, [])
    assert.equal(c.federation.join_token_ttl, 86_400_000)
  })

  it("the DNS listener stays off systemd-resolved's stub addresses", () => {
    for (const addr of defaultConfig().dns.listen) assert.doesNotMatch(addr, /^127\.0\.0\.5[34]:/)
  })

  it('a partial section keeps the defaults of its other fields', () => {
    const c = parse('wireguard:\n  mtu: 1380\n')
    assert.equal(c.wireguard.mtu, 1380)
    assert.equal(c.wireguard.listen_port, 51820)
  })
})

describe('field forms', () => {
  it('reads the socket mode as octal however it is written', () => {
    for (const written of ['0660', '"0660"', '660', "'660'", '0o660']) {
      assert.equal(parse(`api:\n  mode: ${written}\n`).api.mode, 0o660, written)
    }
    assert.equal(parse('api:\n  mode: 0600\n').api.mode, 0o600)
    for (const bad of ['0999', '01777', '"rw-rw----"', '0x1b0']) {
      assert.throws(() => parse(`api:\n  mode: ${bad}\n`), ConfigError, bad)
    }
  })

  it('accepts IPv6 and host names in host:port, and rejects names where an IP is required', () => {
    const c = parse(
      'discovery:\n  bootstrap: ["[fd00::1]:49737", "cp-1.blackroad.io:49737", "10.0.0.1:49737"]\n',
    )
    assert.deepEqual(c.discovery.bootstrap, ['[fd00::1]:49737', 'cp-1.blackroad.io:49737', '10.0.0.1:49737'])
    assert.throws(() => parse('dns:\n  listen: ["localhost:53"]\n'), /expected an IP address/)
    assert.throws(() => parse('discovery:\n  bootstrap: ["[not-v6]:1"]\n'), /expected "host:port"/)
  })

  it('rejects bad names, CIDRs and mesh addresses', () => {
    assert.throws(() => parse('node:\n  name: Bad_Name\n'), /node\.name: expected a DNS label/)
    assert.throws(
      () => parse('cluster:\n  network:\n    pod_cidr: 10.0.0.0/33\n'),
      /cluster\.network\.pod_cidr/,
    )
    assert.throws(() => parse('network:\n  ipv4: 10.0.0.1\n'), /100\.64\.0\.0\/10/)
    assert.equal(parse('network:\n  ipv4: 100.64.0.7\n').network.ipv4, '100.64.0.7')
  })

  it('turns scalar label values into text', () => {
    const c = parse('cluster:\n  labels:\n    gpu: true\n    tier: 1\n')
    assert.deepEqual(c.cluster.labels, { gpu: 'true', tier: '1' })
  })

  it('requires whole seconds for the WireGuard keepalive', () => {
    assert.equal(parse('wireguard:\n  persistent_keepalive: 0s\n').wireguard.persistent_keepalive, 0)
    assert.throws(() => parse('wireguard:\n  persistent_keepalive: 1500ms\n'), /whole number of seconds/)
  })
})

describe('settings written in two places', () => {
  it('node.role follows cluster.type unless given', () => {
    assert.equal(parse('cluster:\n  type: edge\n').node.role, 'edge')
    assert.equal(parse('cluster:\n  type: edge\nnode:\n  role: worker\n').node.role, 'worker')
  })

  it('mesh.encryption.key_rotation and wireguard.key_rotation are one setting', () => {
    const fromMesh = parse('mesh:\n  encryption:\n    key_rotation: 12h\n')
    assert.equal(fromMesh.wireguard.key_rotation, 12 * 3_600_000)
    assert.equal(fromMesh.mesh.encryption.key_rotation, 12 * 3_600_000)
    const same = parse('wireguard:\n  key_rotation: 720m\nmesh:\n  encryption:\n    key_rotation: 12h\n')
    assert.equal(same.wireguard.key_rotation, 12 * 3_600_000)
  })

  it('mesh.discovery.domain and dns.domain are one setting', () => {
    assert.equal(parse('mesh:\n  discovery:\n    domain: mesh.example.org\n').dns.domain, 'mesh.example.org')
    assert.throws(
      () => parse('dns:\n  domain: a.example\nmesh:\n  discovery:\n    domain: b.example\n'),
      /conflicts with dns\.domain/,
    )
  })

  it("federation.control_plane falls back to the cluster's control plane", () => {
    const c = parse('cluster:\n  federation:\n    control_plane: https://control.blackroad.io\n')
    assert.deepEqual(c.federation.control_plane, ['https://control.blackroad.io'])
    assert.deepEqual(c.cluster.federation.control_plane, ['https://control.blackroad.io'])
  })

  it('discovery.federation_secret_file follows node.state_dir', () => {
    assert.equal(
      parse('node:\n  state_dir: /srv/br\n').discovery.federation_secret_file,
      '/srv/br/federation.secret',
    )
  })
})

describe("the guide's YAML files", () => {
  // Copied verbatim from FEDERATION.md: cluster.yaml, mesh.yaml, dns.yaml, replication.yaml, mtls.yaml.
  const guide: Record<string, string> = {
    cluster: `cluster:
  name: us-west
  id: cluster_abc123
  region: us-west-2
  network:
    pod_cidr: 10.100.0.0/16
    service_cidr: 10.101.0.0/16
    mesh_port: 7946
  resources:
    max_agents: 5000
    max_memory_gb: 256
    max_gpu: 8
  labels:
    tier: production
    gpu: nvidia-a100
    compliance: soc2
  taints:
    - key: gpu-only
      value: "true"
      effect: NoSchedule
  federation:
    control_plane: https://control.blackroad.io
    heartbeat_interval: 30s
    sync_interval: 5m
`,
    mesh: `mesh:
  name: blackroad-mesh
  encryption:
    type: wireguard
    key_rotation: 24h
  discovery:
    type: dns
    domain: mesh.blackroad.local
  load_balancing:
    algorithm: least_connections
    health_check_interval: 10s
  policies:
    - name: agent-to-agent
      source: agent/*
      destination: agent/*
      allow: true
      encrypt: true
    - name: cross-cluster
      source: cluster/*
      destination: cluster/*
      allow: true
      encrypt: true
      max_latency_ms: 100
`,
    dns: `dns:
  zones:
    - name: blackroad.mesh
      type: federation
      records:
        - name: control
          type: A
          ttl: 60
          endpoints:
            - cluster: us-west
              ip: 10.100.1.1
              priority: 1
            - cluster: us-east
              ip: 10.101.1.1
              priority: 2
        - name: "*.agents"
          type: SRV
          ttl: 30
  local_zones:
    - name: us-west.blackroad.mesh
      type: cluster
`,
    replication: `replication:
  memory:
    working:
      strategy: local_only
    episodic:
      strategy: async_replicate
      replicas: 2
      regions:
        - same_region: 1
        - any_region: 1
      max_lag_seconds: 60
    semantic:
      strategy: sync_replicate
      replicas: 3
      consistency: eventual
      conflict_resolution: last_write_wins
    archival:
      strategy: geo_replicate
      replicas: 3
      regions:
        - us-west
        - eu-west
        - asia-pacific
      consistency: strong
  agent_state:
    strategy: leader_follower
    replicas: 2
    failover_timeout_ms: 5000
`,
    mtls: `tls:
  ca:
    cert: /etc/blackroad/ca.crt
    key: /etc/blackroad/ca.key
  cluster:
    cert: /etc/blackroad/cluster.crt
    key: /etc/blackroad/cluster.key
  verify_peer: true
  verify_hostname: true
  rotation:
    enabled: true
    check_interval: 24h
    renew_before_expiry: 7d
`,
  }

  for (const [name, text] of Object.entries(guide)) {
    it(`accepts ${name}.yaml as written`, () => assert.doesNotThrow(() => parse(text)))
  }

  it('keeps what they say', () => {
    const all = parse(Object.values(guide).join(''))
    assert.equal(all.cluster.id, 'cluster_abc123')
    assert.deepEqual(all.cluster.taints, [{ key: 'gpu-only', value: 'true', effect: 'NoSchedule' }])
    assert.equal(all.mesh.policies[1]?.max_latency_ms, 100)
    assert.equal(all.dns.zones[0]?.records[0]?.endpoints[1]?.ip, '10.101.1.1')
    assert.deepEqual(all.replication.memory.episodic.regions, [{ same_region: 1 }, { any_region: 1 }])
    assert.deepEqual(all.replication.memory.archival.regions, ['us-west', 'eu-west', 'asia-pacific'])
    assert.equal(all.tls.ca.key, '/etc/blackroad/ca.key')
  })
})

describe('describeSchema', () => {
  const fields = describeSchema()

  it('describes every field, leaves included', () => {
    const undocumented = fields.filter((f) => f.description.trim().length < 8).map((f) => f.path)
    assert.deepEqual(undocumented, [])
    assert.ok(fields.filter((f) => f.leaf).length > 100)
  })

  it('covers every section and nested list items', () => {
    const paths = new Set(fields.map((f) => f.path))
    for (const p of [
      'node',
      'cluster',
      'network',
      'discovery',
      'wireguard',
      'dns',
      'api',
      'metrics',
      'replication',
      'tls',
      'federation',
      'logging',
      'mesh',
      'resources',
      'cluster.taints[].effect',
      'mesh.policies[].max_latency_ms',
      'dns.zones[].records[].endpoints[].priority',
      'replication.memory.episodic.regions[].same_region',
    ]) {
      assert.ok(paths.has(p), p)
    }
  })

  it('gives types and defaults as they are written in YAML', () => {
    const byPath = new Map(fields.map((f) => [f.path, f]))
    assert.equal(byPath.get('wireguard.listen_port')?.default, '51820')
    assert.equal(byPath.get('wireguard.key_rotation')?.default, '24h')
    assert.match(byPath.get('wireguard.key_rotation')?.type ?? '', /^duration/)
    assert.equal(byPath.get('api.mode')?.default, '0660')
    assert.equal(byPath.get('logging.level')?.type, 'trace | debug | info | warn | error | fatal')
    assert.equal(byPath.get('cluster.taints[].key')?.required, true)
    assert.equal(byPath.get('network.ipv4')?.required, false)
    assert.match(byPath.get('dns.listen')?.description ?? '', /systemd-resolved/)
  })
})

it('discovery.static_peers takes "host:port" and "<node key>@host:port", and names a bad key', () => {
  const key = 'ab'.repeat(32)
  const ok = parseConfig(
    `discovery:\n  static_peers:\n    - 10.0.0.1:49737\n    - ${key}@10.0.0.2:49737\n`,
    'c.yaml',
  )
  assert.deepEqual(ok.discovery.static_peers, ['10.0.0.1:49737', `${key}@10.0.0.2:49737`])
  assert.throws(
    () => parseConfig('discovery:\n  static_peers:\n    - nothex@10.0.0.2:49737\n', 'c.yaml'),
    (err: Error) => /c\.yaml:3:\d+: discovery\.static_peers\.0: .*node key/.test(err.message),
  )
})
