// The federation keeps working while the root holder is down. a creates the federation (it holds the root
// key); b and c join with control-plane tokens, so the root signs their certificates for the control-plane
// cluster and they become voters and issuers. With a stopped: b creates a cluster and its join token (signed as
// an issuer); a fresh node d joins through b with it (the nonce spent through Raft by b and c alone; b signs d's
// certificate as an issuer, version 2 with b's certificate inside); d enters the mesh and reaches c over
// WireGuard; a, restarted, accepts d as a peer too; and with a down again, `node revoke` on b (signed by b as an
// issuer) cuts d off. All three control-plane nodes run DHT bootstrap nodes (a private DHT needs more than one
// that is always on); d is told nothing but the token and b's address.

import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { decodeCertificate, decodeJoinTokenUnverified } from '../src/identity/index.js'
import { agreedLeader, clusterToken, control, joinThrough, meshIpv4, nodeId } from './lib/control.js'
import { type DaemonHandle, Lab, waitFor } from './lib/index.js'
import { DHT_PORT } from './lib/mesh.js'
import { METRICS_LISTEN, requireRoot } from './lib/mesh-inspect.js'
import { canPing } from './lib/probes.js'

test('with the root holder down, a voter makes tokens, admits and certifies a node, and revokes it', async (t) => {
  if (!requireRoot(t)) return
  const lab = await Lab.create(t)
  const lan = await lab.bridge('lan')
  const hosts = []
  for (const name of ['a', 'b', 'c', 'd']) {
    const h = await lab.host(name)
    await lab.attach(h, lan)
    hosts.push(h)
  }
  const [aHost, bHost, cHost, dHost] = hosts as [
    (typeof hosts)[0],
    (typeof hosts)[0],
    (typeof hosts)[0],
    (typeof hosts)[0],
  ]
  const bootstrap = [aHost, bHost, cHost].map((h) => `${h.addr(lan)}:${DHT_PORT}`)
  const cpNode = (name: string) => ({
    node: { name, control_plane: true, bootstrap: true },
    discovery: { bootstrap },
    metrics: { enabled: true, listen: METRICS_LISTEN },
  })
  const [a, b, c, d] = await Promise.all([
    lab.startDaemon(aHost, { ...cpNode('a'), federation: { control_plane: [`${aHost.addr(lan)}:7443`] } }),
    lab.startDaemon(bHost, cpNode('b')),
    lab.startDaemon(cHost, cpNode('c')),
    lab.startDaemon(dHost, { node: { name: 'd' } }),
  ])
  const init = await a.cli(['federation', 'init', '--name', 'issuer-fed'])
  assert.equal(init.code, 0, init.stderr)
  await waitFor(() => meshIpv4(a), { timeoutMs: 20_000, intervalMs: 300, what: 'a in the mesh' })
  for (const v of [b, c]) {
    await joinThrough(v, await clusterToken(a, 'control-plane'), `${aHost.addr(lan)}:7443`, 'control-plane')
  }
  await waitFor(
    async () => {
      const st = await control(a)
      return st.voters.length === 3 && st.learners === 0 ? st : null
    },
    { timeoutMs: 60_000, intervalMs: 500, what: 'three voters' },
  )
  const [aId, bId] = [await nodeId(a), await nodeId(b)]

  // The root holder goes away; b and c are a majority of the three voters and elect one of themselves.
  await a.stop()
  await waitFor(
    async () => {
      const l = await agreedLeader([b, c])
      return l !== null && l !== aId ? l : null
    },
    { timeoutMs: 30_000, intervalMs: 300, what: 'b and c agree on a leader other than a' },
  )
  // b makes the cluster and its token: the cluster through Raft, the token signed by b as an issuer.
  const edgeToken = await clusterToken(b, 'edge')
  assert.ok(decodeJoinTokenUnverified(edgeToken).header.crt, "the token carries b's certificate")

  const joined = await joinThrough(d, edgeToken, `${bHost.addr(lan)}:7443`, 'edge')
  assert.equal(joined.mesh, 'running')
  const cert = decodeCertificate(await readFile(path.join(d.stateDir, 'node.cert')))
  assert.equal(cert.version, 2, 'a certificate signed by an issuer, not by the root key')
  assert.equal(cert.issuer?.nodeId, bId, "b's certificate travels inside d's")
  assert.equal(cert.cluster, 'edge')

  // d is a member for everyone: c routes to it over WireGuard, and so does a once it is back.
  const dIp = await waitFor(() => meshIpv4(d), { timeoutMs: 20_000, intervalMs: 300, what: 'd in the mesh' })
  const reach = (from: DaemonHandle, to: string, what: string) =>
    waitFor(async () => (await canPing(from.host, to)) || null, { timeoutMs: 45_000, intervalMs: 500, what })
  const cIp = (await meshIpv4(c))!
  await reach(d, cIp, 'd pings c over the mesh')
  await reach(c, dIp, 'c pings d over the mesh')
  await a.start()
  await reach(a, dIp, 'a (restarted root holder) pings d over the mesh')
  t.diagnostic(`d joined through b while a was down: certificate serial ${cert.serial}, issuer ${bId}`)

  // Revocation without the root holder too: b revokes d, signing as an issuer, and c cuts d off both ways.
  await a.stop()
  const revoke = await b.cli(['node', 'revoke', cert.nodeId, '--reason', 'lost', '--json'])
  assert.equal(revoke.code, 0, revoke.stderr)
  await waitFor(
    async () => {
      const both = await Promise.all([canPing(cHost, dIp), canPing(dHost, cIp)])
      return both.every((r) => !r) || null
    },
    { timeoutMs: 20_000, intervalMs: 500, what: 'd unreachable from c, and c from d' },
  )
  assert.equal(await canPing(cHost, (await meshIpv4(b))!), true, 'b and c still reach each other')
})
