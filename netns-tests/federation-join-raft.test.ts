// `federation join` against a Raft control plane of three voters, the federation root holder among them. The
// root holder starts with no certificate: it certifies itself, enters the mesh, and records itself in the
// registry once the voters can commit. It is a follower when the join arrives (restarted if it led), so the
// join's proposal travels to the leader. A fresh node joins with a token (the real CLI) and enters the mesh;
// the token's nonce shows as spent in the registry copy of a voter that is not the root holder (its local API);
// the same token used again from another node is TOKEN_REUSED; a forged token is BAD_SIGNATURE and spends
// nothing.

import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import {
  decodeJoinTokenUnverified,
  generateKeyPair,
  newTokenNonce,
  nodeIdFromPublicKey,
  ROOT_KEY_FILE,
  revocationListCodec,
  writeFederationFile,
  writeKeyFile,
} from '../src/identity/index.js'
import { encodeWith } from '../src/wire/index.js'
import { agreedLeader, api, control, meshIpv4 } from './lib/control.js'
import { TestFederation } from './lib/federation.js'
import { canPing, Lab, waitFor } from './lib/index.js'
import { DHT_PORT } from './lib/mesh.js'
import { fetchMetrics, METRICS_LISTEN, requireRoot, sampleValue } from './lib/mesh-inspect.js'

test('a token is spent through the Raft registry: one join, seen by every voter; reuse and forgery refused', async (t) => {
  if (!requireRoot(t)) return
  const started = Date.now()
  const lab = await Lab.create(t)
  const lan = await lab.bridge('lan')
  const hosts = []
  for (const name of ['cp', 'v2', 'v3', 'n1', 'n2']) {
    const h = await lab.host(name)
    await lab.attach(h, lan)
    hosts.push(h)
  }
  const [cpHost, v2Host, v3Host, n1Host, n2Host] = hosts as [
    (typeof hosts)[0],
    (typeof hosts)[0],
    (typeof hosts)[0],
    (typeof hosts)[0],
    (typeof hosts)[0],
  ]
  const cpAddr = cpHost.addr(lan)
  const stateOf = (name: string) => path.join(lab.scratchDir, name, 'state')

  // The root holder: node key, federation record, root key and secret, and no certificate.
  const fed = new TestFederation('lab-fed')
  const cpKey = generateKeyPair()
  const cpState = stateOf('cp')
  await fs.mkdir(cpState, { recursive: true, mode: 0o700 })
  await writeKeyFile(path.join(cpState, 'node.key'), cpKey)
  await writeKeyFile(path.join(cpState, ROOT_KEY_FILE), fed.root)
  await writeFederationFile(cpState, fed.federation)
  await fs.writeFile(path.join(cpState, 'federation.secret'), fed.secret, { mode: 0o600 })
  await fs.writeFile(path.join(cpState, 'revocations.bin'), encodeWith(revocationListCodec, []), {
    mode: 0o600,
  })
  // The other voters were provisioned with certificates of the same root.
  const v2Node = await fed.enrol(stateOf('v2'), { name: 'v2', cluster: 'control-plane' })
  const v3Node = await fed.enrol(stateOf('v3'), { name: 'v3', cluster: 'control-plane' })
  const cpId = nodeIdFromPublicKey(cpKey.publicKey)
  const voterIds = [cpId, v2Node.nodeId, v3Node.nodeId]

  const base = (name: string) => ({
    node: { name, state_dir: stateOf(name) },
    metrics: { enabled: true, listen: METRICS_LISTEN },
    logging: { level: 'debug' },
  })
  const voter = (name: string) => ({
    ...base(name),
    node: { name, state_dir: stateOf(name), control_plane: true, bootstrap: name === 'cp' },
    discovery: { bootstrap: [`${cpAddr}:${DHT_PORT}`] },
    federation: { voters: voterIds, control_plane: [`${cpAddr}:7443`] },
  })
  const [cp, v2, v3, n1, n2] = await Promise.all([
    lab.startDaemon(cpHost, voter('cp')),
    lab.startDaemon(v2Host, voter('v2')),
    lab.startDaemon(v3Host, voter('v3')),
    lab.startDaemon(n1Host, base('n1')),
    lab.startDaemon(n2Host, base('n2')),
  ])
  const voters = [cp, v2, v3]

  // The root holder certified itself and is in the mesh; the voters elect; the registry learns the root holder.
  const cpIp = await waitFor(() => meshIpv4(cp), {
    timeoutMs: 20_000,
    intervalMs: 300,
    what: 'cp in the mesh',
  })
  const leader = await waitFor(() => agreedLeader(voters), {
    timeoutMs: 90_000,
    intervalMs: 500,
    what: 'the three voters agree on a leader',
  })
  await waitFor(
    async () => (await api(v2, (c) => c.controlRegistry())).nodes.some((n) => n.node_id === cpId),
    {
      timeoutMs: 60_000,
      intervalMs: 500,
      what: "v2's copy of the registry holds the root holder",
    },
  )
  t.diagnostic(
    `leader ${leader === cpId ? 'cp' : leader}, root holder recorded after ${Date.now() - started} ms`,
  )

  // The root holder must be a follower when the join arrives: if it leads, it hands leadership to v2 (a
  // restart, as before, could elect it again: its log is as up to date as anyone's).
  if (leader === cpId) {
    await waitFor(
      async () => {
        const x = await agreedLeader(voters)
        if (x !== null && x !== cpId) return x
        if (x === cpId) await cp.cli(['federation', 'transfer-leader', v2Node.nodeId])
        return null
      },
      { timeoutMs: 60_000, intervalMs: 1000, what: 'a leader other than the root holder' },
    )
  }
  assert.equal((await control(cp)).role, 'follower')

  // A cluster in the registry (through the follower, forwarded), and its token.
  await waitFor(async () => !(await api(cp, (c) => c.listClusters())).stale, {
    timeoutMs: 30_000,
    intervalMs: 500,
    what: 'the root holder reads the registry through the leader',
  })
  const created = await cp.cli([
    'federation',
    'create-cluster',
    '--name',
    'edge',
    '--region',
    'local',
    '--capacity',
    '10',
    '--role',
    'edge',
    '--json',
  ])
  assert.equal(created.code, 0, created.stderr)
  const token = (JSON.parse(created.stdout) as { join_token: string }).join_token
  const jti = decodeJoinTokenUnverified(token).claims.jti

  // n1 joins. Refusals that spend nothing (the join service still waiting for the registry) are retried.
  const joinArgs = (tok: string) => [
    'federation',
    'join',
    '--token',
    tok,
    '--control-plane',
    `${cpAddr}:7443`,
    '--cluster-name',
    'edge',
    '--json',
  ]
  const outcome = await waitFor(
    async () => {
      const r = await n1.cli(joinArgs(token))
      if (r.code === 0)
        return { ok: JSON.parse(r.stdout) as { node_id: string; mesh_ipv4: string; mesh: string } }
      if (/NO_LEADER|UNREACHABLE/.test(r.stderr)) return null
      return { refused: r.stderr }
    },
    { timeoutMs: 60_000, intervalMs: 1000, what: 'n1 joins' },
  )
  assert.ok(outcome.ok, `join refused: ${outcome.refused}`)
  const joined = outcome.ok
  t.diagnostic(`joined after ${Date.now() - started} ms; root holder role then: ${(await control(cp)).role}`)
  assert.equal(joined.mesh, 'running', 'n1 entered the mesh without a restart')
  await waitFor(async () => (await canPing(n1Host, cpIp)) && (await canPing(n1Host, v2Node.ipv4)), {
    timeoutMs: 45_000,
    intervalMs: 500,
    what: 'n1 -> cp and n1 -> v2 over the mesh',
  })

  // The nonce is spent in the registry copies of the voters that are not the root holder, and n1 is registered.
  for (const d of [v2, v3]) {
    await waitFor(async () => (await api(d, (c) => c.tokenNonce(jti))).spent, {
      timeoutMs: 10_000,
      intervalMs: 300,
      what: `${d.name} sees the token's nonce spent`,
    })
    const reg = await api(d, (c) => c.controlRegistry())
    const n1Record = reg.nodes.find((n) => n.node_id === joined.node_id)
    assert.equal(n1Record?.mesh_ipv4, joined.mesh_ipv4, `${d.name} holds n1 at its address`)
    assert.equal(n1Record?.cluster, 'edge')
  }

  // The same token from another node: refused, and n2 stays out.
  const reused = await n2.cli(joinArgs(token))
  assert.equal(reused.code, 1, reused.stdout)
  assert.match(reused.stderr, /TOKEN_REUSED/)
  assert.equal(await meshIpv4(n2), null)

  // A forged token: the claims of a real one with a fresh nonce, the signature left as it was.
  const parts = token.split('.')
  const forgedJti = newTokenNonce()
  parts[1] = Buffer.from(
    JSON.stringify({ ...JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()), jti: forgedJti }),
  ).toString('base64url')
  const forged = await n2.cli(joinArgs(parts.join('.')))
  assert.equal(forged.code, 1, forged.stdout)
  assert.match(forged.stderr, /BAD_SIGNATURE/)
  assert.equal((await api(v2, (c) => c.tokenNonce(forgedJti))).spent, false)
  const m = await fetchMetrics(cp)
  assert.ok(sampleValue(m, 'blackroad_join_requests_total', { kind: 'join', result: 'TOKEN_REUSED' }) >= 1)
  assert.ok(sampleValue(m, 'blackroad_join_requests_total', { kind: 'join', result: 'BAD_SIGNATURE' }) >= 1)
  const reg = await api(v3, (c) => c.controlRegistry())
  assert.equal(reg.nodes.filter((n) => n.cluster === 'edge').length, 1, 'one node joined with the token')

  await Promise.all([n1.stop(), n2.stop(), v2.stop(), v3.stop()])
  await cp.stop()
  t.diagnostic(`runtime ${Date.now() - started} ms`)
})
