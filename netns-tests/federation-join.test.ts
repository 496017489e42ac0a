// The federation lifecycle with real daemons and nothing pre-enrolled: a control-plane node runs `federation
// init` and `create-cluster` (the real CLI), fresh nodes run `federation join --token ... --control-plane
// <ip>:7443` and enter the mesh without a restart (finding the DHT through the hints the control plane gave
// them), a node renews its certificate by itself when it falls inside the renewal window, the same token used
// again is refused with TOKEN_REUSED, and after `node revoke` every router cuts
// the revoked node off: no ping either way, its re-dials refused as revoked, while the others keep working.

import assert from 'node:assert/strict'
import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { BlackroadClient } from '../src/client/index.js'
import { decodeCertificate } from '../src/identity/index.js'
import { canPing, type DaemonHandle, Lab, waitFor } from './lib/index.js'
import { DHT_PORT } from './lib/mesh.js'
import { fetchMetrics, METRICS_LISTEN, requireRoot, sampleValue } from './lib/mesh-inspect.js'

interface JoinedJson {
  node_id: string
  mesh_ipv4: string
  mesh_ipv6: string
  mesh: string
  certificate_expires_at: string
  cluster: { name: string }
}

async function meshIpv4(d: DaemonHandle): Promise<string> {
  const s = (await d.status()) as { mesh: { ipv4: string | null; state: string } }
  assert.equal(s.mesh.state, 'running', `${d.name} is not in the mesh`)
  return String(s.mesh.ipv4)
}

async function createCluster(cp: DaemonHandle, name: string): Promise<string> {
  const r = await cp.cli([
    'federation',
    'create-cluster',
    '--name',
    name,
    '--region',
    'local',
    '--capacity',
    '10',
    '--role',
    'edge',
    '--json',
  ])
  assert.equal(r.code, 0, r.stderr)
  return (JSON.parse(r.stdout) as { join_token: string }).join_token
}

test('a node joins with a token, the token works once, and a revoked node is cut off everywhere', async (t) => {
  if (!requireRoot(t)) return
  const lab = await Lab.create(t)
  const lan = await lab.bridge('lan')
  const hosts = []
  for (const name of ['cp', 'n1', 'n2']) {
    const h = await lab.host(name)
    await lab.attach(h, lan)
    hosts.push(h)
  }
  const [cpHost, n1Host, n2Host] = hosts as [(typeof hosts)[0], (typeof hosts)[0], (typeof hosts)[0]]
  const cpAddr = cpHost.addr(lan)
  const base = (name: string) => ({
    node: { name },
    metrics: { enabled: true, listen: METRICS_LISTEN },
    logging: { level: 'debug' },
  })
  // The control-plane node runs the federation's DHT bootstrap; the joiners are told nothing but the token and
  // the control plane's address.
  const cp = await lab.startDaemon(cpHost, {
    ...base('cp'),
    node: { name: 'cp', bootstrap: true, control_plane: true },
    discovery: { bootstrap: [`${cpAddr}:${DHT_PORT}`] },
    federation: { control_plane: [`${cpAddr}:7443`] },
  })
  // n2 renews 30 days before expiry, checking every minute: the control plane issues 30-day certificates, so
  // n2's is due the moment it arrives and n2 renews it with no person involved (then at most once a minute).
  const [n1, n2] = await Promise.all([
    lab.startDaemon(n1Host, base('n1')),
    lab.startDaemon(n2Host, {
      ...base('n2'),
      tls: { rotation: { renew_before_expiry: '30d', check_interval: '1m' } },
    }),
  ])
  const n2Started = Date.now()

  const init = await cp.cli(['federation', 'init', '--name', 'lab-fed'])
  assert.equal(init.code, 0, init.stderr)
  const cpIp = await meshIpv4(cp)
  const token = await createCluster(cp, 'edge')

  const joined = await n1.cli([
    'federation',
    'join',
    '--token',
    token,
    '--control-plane',
    `${cpAddr}:7443`,
    '--cluster-name',
    'edge',
    '--json',
  ])
  assert.equal(joined.code, 0, joined.stderr)
  const j1 = JSON.parse(joined.stdout) as JoinedJson
  assert.equal(j1.mesh, 'running', 'entered the mesh without a restart')
  assert.equal(j1.cluster.name, 'edge')
  assert.equal(await meshIpv4(n1), j1.mesh_ipv4)
  for (const f of ['node.cert', 'federation.secret', 'revocations.bin', 'federation.json']) {
    const mode = (await stat(path.join(n1.stateDir, f))).mode & 0o777
    assert.equal(mode, 0o600, `${f} mode ${mode.toString(8)}`)
  }
  await waitFor(async () => (await canPing(n1Host, cpIp)) && (await canPing(cpHost, j1.mesh_ipv4)), {
    timeoutMs: 45_000,
    intervalMs: 500,
    what: 'n1 <-> cp over the mesh after join',
  })

  // The same token again, from another node: refused, with its code, exit status 1.
  const reused = await n2.cli([
    'federation',
    'join',
    '--token',
    token,
    '--control-plane',
    `${cpAddr}:7443`,
    '--cluster-name',
    'edge',
  ])
  assert.equal(reused.code, 1, reused.stdout)
  assert.match(reused.stderr, /TOKEN_REUSED/)
  assert.equal(((await n2.status()) as { mesh: { state: string } }).mesh.state, 'standalone')
  assert.equal(
    sampleValue(await fetchMetrics(cp), 'blackroad_join_requests_total', {
      kind: 'join',
      result: 'TOKEN_REUSED',
    }),
    1,
  )

  // n2 joins with a token of its own.
  const token2 = await createCluster(cp, 'edge2')
  const joined2 = await n2.cli([
    'federation',
    'join',
    '--token',
    token2,
    '--control-plane',
    `${cpAddr}:7443`,
    '--cluster-name',
    'edge2',
    '--json',
  ])
  assert.equal(joined2.code, 0, joined2.stderr)
  const j2 = JSON.parse(joined2.stdout) as JoinedJson
  assert.notEqual(j2.mesh_ipv4, j1.mesh_ipv4)
  await waitFor(async () => (await canPing(n2Host, j1.mesh_ipv4)) && (await canPing(n2Host, cpIp)), {
    timeoutMs: 45_000,
    intervalMs: 500,
    what: 'n2 <-> n1 and n2 <-> cp',
  })

  // n2 renewed its certificate over the join channel, authenticated by its node key, and kept its links.
  await waitFor(
    async () =>
      sampleValue(await fetchMetrics(n2), 'blackroad_certificate_renewals_total', { result: 'ok' }) >= 1,
    { timeoutMs: 30_000, intervalMs: 500, what: 'n2 renewing its certificate' },
  )
  const renewed = decodeCertificate(await readFile(path.join(n2.stateDir, 'node.cert')))
  assert.ok(
    renewed.notAfter > Date.parse(j2.certificate_expires_at),
    'node.cert holds the renewed certificate',
  )
  assert.equal(renewed.addresses.ipv4, j2.mesh_ipv4)
  assert.ok(
    sampleValue(await fetchMetrics(cp), 'blackroad_join_requests_total', { kind: 'renew', result: 'ok' }) >=
      1,
  )
  assert.ok(await canPing(n2Host, j1.mesh_ipv4), 'n2 -> n1 after the renewal')
  assert.ok(await canPing(n1Host, j2.mesh_ipv4), 'n1 -> n2 after the renewal')
  const renewals = sampleValue(await fetchMetrics(n2), 'blackroad_certificate_renewals_total', {
    result: 'ok',
  })
  assert.ok(
    renewals <= 1 + Math.ceil((Date.now() - n2Started) / 60_000),
    `${renewals} renewals: a loop, not a schedule`,
  )

  // Revoke n1 on the control plane: every router cuts it off.
  // Both joined nodes keep a learner copy of the registry (cp is its single voter).
  const cpClient = new BlackroadClient({ socketPath: cp.socketPath })
  t.after(() => cpClient.close())
  const learners = async () => (await cpClient.controlStatus()).learners
  await waitFor(async () => (await learners()) === 2, {
    timeoutMs: 30_000,
    intervalMs: 500,
    what: 'n1 and n2 are learners',
  })
  const revoke = await cp.cli(['node', 'revoke', j1.node_id, '--reason', 'stolen', '--json'])
  assert.equal(revoke.code, 0, revoke.stderr)
  assert.equal((JSON.parse(revoke.stdout) as { was_registered: boolean }).was_registered, true)
  await waitFor(
    async () => {
      const reach = await Promise.all([
        canPing(cpHost, j1.mesh_ipv4),
        canPing(n2Host, j1.mesh_ipv4),
        canPing(n1Host, cpIp),
      ])
      return reach.every((r) => !r)
    },
    { timeoutMs: 20_000, intervalMs: 500, what: 'n1 unreachable from cp and n2, and cp from n1' },
  )
  // The leader took the revoked node out of the Raft membership: it no longer receives the registry.
  await waitFor(async () => (await learners()) === 1, {
    timeoutMs: 15_000,
    intervalMs: 300,
    what: 'the revoked learner removed from the membership',
  })
  // n2 learned the revocation from the control plane over the mesh, and wrote it down.
  const n2Metrics = await fetchMetrics(n2)
  assert.ok(sampleValue(n2Metrics, 'blackroad_revocation_frames_total', { result: 'accepted' }) >= 1)
  assert.ok((await stat(path.join(n2.stateDir, 'revocations.bin'))).size > 0)
  // n1 keeps dialling; each attempt is refused as revoked.
  await waitFor(
    async () => {
      const texts = await Promise.all([fetchMetrics(cp), fetchMetrics(n2)])
      return texts.some(
        (x) => sampleValue(x, 'blackroad_peer_links_rejected_total', { reason: 'revoked' }) >= 1,
      )
    },
    { timeoutMs: 60_000, intervalMs: 1000, what: "n1's new links refused as revoked" },
  )
  // Still cut off, and the others still talk.
  assert.equal(await canPing(n2Host, j1.mesh_ipv4), false)
  assert.ok(await canPing(n2Host, cpIp), 'n2 -> cp still works')
  assert.ok(await canPing(cpHost, j2.mesh_ipv4), 'cp -> n2 still works')

  await Promise.all([n1.stop(), n2.stop()])
  await cp.stop()
})
