// The control plane's join and renewal decisions, over the single-replica registry: a token works once; forged,
// foreign, expired and not-yet-valid tokens are refused with their codes and spend nothing; the certificate
// carries the registry's IPv4 even when the key's candidate is taken; renewal needs a registered, unrevoked key.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { JoinMessage } from '../../src/control/join-messages.js'
import {
  DEFAULT_CERT_LIFETIME_MS,
  ISSUER_RENEWAL_GRACE_MS,
  JoinService,
} from '../../src/control/join-service.js'
import {
  CONTROL_PLANE_CLUSTER,
  candidateIpv4,
  decodeCertificate,
  encodeCertificate,
  generateKeyPair,
  type KeyPair,
  meshIpv6,
  type NodeCertificate,
  nodeIdFromPublicKey,
  signRevocation,
  verifyCertificate,
} from '../../src/identity/index.js'
import { parseIpv4 } from '../../src/protocols/registry/index.js'
import { type TestFed, testFederation } from './join-fixture.js'

const joinMsg = (token: string): JoinMessage => ({
  type: 'join',
  token,
  name: 'pi-1',
  addresses: ['192.168.1.9:49737'],
})

function refusedCode(m: JoinMessage): string {
  assert.equal(m.type, 'refused', `expected a refusal, got ${m.type}`)
  return (m as Extract<JoinMessage, { type: 'refused' }>).code
}

test('a token admits one node once: certificate, addresses, secret and hints come back; reuse is TOKEN_REUSED', async () => {
  const f = await testFederation()
  const token = f.token()
  const key = generateKeyPair()
  const { reply, outcome } = await f.service.handle(key.publicKey, joinMsg(token))
  assert.equal(reply.type, 'joined')
  assert.deepEqual(outcome, { kind: 'join', result: 'ok', nodeId: nodeIdFromPublicKey(key.publicKey) })
  const j = reply as Extract<JoinMessage, { type: 'joined' }>
  const cert = decodeCertificate(j.certificate)
  verifyCertificate(cert, { rootPublicKey: f.root.publicKey, federationId: f.federation.id, now: Date.now() })
  assert.deepEqual(cert.publicKey, Buffer.from(key.publicKey))
  assert.equal(cert.cluster, 'edge')
  assert.equal(cert.role, 'edge')
  assert.equal(j.ipv6, meshIpv6(f.federation.id, key.publicKey))
  assert.equal(cert.addresses.ipv4, j.ipv4)
  assert.equal(f.cp.local().nodes.get(cert.nodeId)?.ipv4, parseIpv4(j.ipv4))
  assert.equal(j.secret.length, 32)
  assert.deepEqual(j.bootstrap, ['10.0.0.1:49737'])

  const again = await f.service.handle(generateKeyPair().publicKey, joinMsg(token))
  assert.equal(refusedCode(again.reply), 'TOKEN_REUSED')
  assert.equal(again.outcome.result, 'TOKEN_REUSED')
  assert.equal(f.cp.local().nodes.size, 2, 'the control plane and the one node, nobody else')
})

test('the node a token admitted may repeat its join (a lost reply): joined again, same address, nothing more spent', async () => {
  const f = await testFederation()
  const token = f.token()
  const key = generateKeyPair()
  const first = (await f.service.handle(key.publicKey, joinMsg(token))).reply as Extract<
    JoinMessage,
    { type: 'joined' }
  >
  f.clock.now += 1000
  const { reply, outcome } = await f.service.handle(key.publicKey, joinMsg(token))
  assert.equal(reply.type, 'joined', JSON.stringify(reply))
  assert.equal(outcome.result, 'ok')
  const j = reply as Extract<JoinMessage, { type: 'joined' }>
  assert.equal(j.ipv4, first.ipv4)
  const cert = decodeCertificate(j.certificate)
  assert.ok(cert.serial > decodeCertificate(first.certificate).serial, 'a fresh certificate')
  assert.deepEqual(f.cp.local().nodes.get(cert.nodeId)?.certificate, j.certificate, 'the registry holds it')
  assert.equal(f.cp.local().nodes.size, 2)
  // Not for another node, and not with a token for another cluster.
  assert.equal(
    refusedCode((await f.service.handle(generateKeyPair().publicKey, joinMsg(token))).reply),
    'TOKEN_REUSED',
  )
  const other = f.token({ cluster: 'cluster_cp0001' })
  assert.equal(refusedCode((await f.service.handle(key.publicKey, joinMsg(other))).reply), 'NODE_EXISTS')
})

test('forged, foreign, expired and early tokens are refused with their codes and spend nothing', async () => {
  const f = await testFederation()
  const other = await testFederation('other')
  const now = Math.floor(f.clock.now / 1000)
  const forged = f.token().split('.')
  forged[1] = Buffer.from(
    JSON.stringify({ ...JSON.parse(Buffer.from(forged[1]!, 'base64url').toString()), cluster_name: 'x' }),
  ).toString('base64url')
  const cases: Array<[string, string]> = [
    [forged.join('.'), 'BAD_SIGNATURE'],
    [f.token({ signer: generateKeyPair() }), 'BAD_SIGNATURE'],
    [f.token({ fedOf: other }), 'OTHER_FEDERATION'],
    [f.token({ nbf: now - 7200, exp: now - 3600 }), 'EXPIRED'],
    [f.token({ nbf: now + 3600, exp: now + 7200 }), 'NOT_YET_VALID'],
    ['not.a.token', 'TOKEN_MALFORMED'],
    [f.token({ cluster: 'cluster_nosuch' }), 'CLUSTER_NOT_FOUND'],
  ]
  for (const [token, code] of cases) {
    const { reply } = await f.service.handle(generateKeyPair().publicKey, joinMsg(token))
    assert.equal(refusedCode(reply), code, token.slice(0, 30))
  }
  assert.equal(f.cp.local().nonces.size, 1, "only the control plane's own enrolment spent a nonce")
  assert.equal(f.cp.local().nodes.size, 1)
})

test("when the key's candidate IPv4 is taken, the certificate carries the address the registry allocated", async () => {
  const f = await testFederation()
  const key = generateKeyPair()
  const candidate = parseIpv4(candidateIpv4(key.publicKey))!
  // Another node already sits on the candidate.
  const squatter = generateKeyPair()
  const res = await f.cp.propose({
    type: 'joinNode',
    nonce: new Uint8Array(16).fill(9),
    nonceExpiresAt: Date.now() + 3600_000,
    node: {
      id: nodeIdFromPublicKey(squatter.publicKey),
      cluster: f.clusterId,
      certificate: new Uint8Array(),
      addresses: [],
      resources: { cpuMillis: 0, memoryMb: 0, gpu: 0 },
    },
    preferredIpv4: candidate,
    at: Date.now(),
  })
  assert.equal(res.ok && res.ipv4, candidate)
  const { reply } = await f.service.handle(key.publicKey, joinMsg(f.token()))
  const j = reply as Extract<JoinMessage, { type: 'joined' }>
  assert.equal(j.type, 'joined')
  assert.notEqual(parseIpv4(j.ipv4), candidate)
  const record = f.cp.local().nodes.get(nodeIdFromPublicKey(key.publicKey))!
  assert.equal(record.ipv4, parseIpv4(j.ipv4))
  assert.equal(
    decodeCertificate(record.certificate).addresses.ipv4,
    j.ipv4,
    'the registry holds the certificate as issued',
  )
})

test('renewal: a registered key gets a later certificate; unknown and revoked keys are refused', async () => {
  const f = await testFederation()
  const key = generateKeyPair()
  const joined = (await f.service.handle(key.publicKey, joinMsg(f.token()))).reply as Extract<
    JoinMessage,
    { type: 'joined' }
  >
  const first = decodeCertificate(joined.certificate)
  f.clock.now += 20 * 24 * 3600_000
  const { reply } = await f.service.handle(key.publicKey, { type: 'renew' })
  assert.equal(reply.type, 'renewed')
  const renewed = decodeCertificate((reply as Extract<JoinMessage, { type: 'renewed' }>).certificate)
  assert.ok(renewed.notAfter > first.notAfter)
  assert.ok(renewed.serial > first.serial)
  assert.deepEqual(renewed.addresses, first.addresses)
  assert.equal(renewed.name, first.name)
  assert.deepEqual(
    f.cp.local().nodes.get(first.nodeId)?.certificate,
    (reply as Extract<JoinMessage, { type: 'renewed' }>).certificate,
  )

  assert.equal(
    refusedCode((await f.service.handle(generateKeyPair().publicKey, { type: 'renew' })).reply),
    'NOT_REGISTERED',
  )
  await f.cp.propose({
    type: 'revoke',
    revocation: { subject: first.nodeId, reason: 'stolen', at: f.clock.now },
  })
  assert.equal(refusedCode((await f.service.handle(key.publicKey, { type: 'renew' })).reply), 'REVOKED')
  assert.equal(
    refusedCode((await f.service.handle(key.publicKey, joinMsg(f.token()))).reply),
    'REVOKED',
    'a revoked key cannot rejoin',
  )
})

test('a reply message sent as a request is a PROTOCOL refusal', async () => {
  const f = await testFederation()
  const { reply, outcome } = await f.service.handle(generateKeyPair().publicKey, {
    type: 'renewed',
    certificate: new Uint8Array(),
  })
  assert.equal(refusedCode(reply), 'PROTOCOL')
  assert.equal(outcome.kind, 'invalid')
})

/** A second control-plane node of f: enrolled by the root into the control-plane cluster, so an issuer. */
async function issuerNode(
  f: TestFed,
  name: string,
): Promise<{ key: KeyPair; service: JoinService; held: { cert: NodeCertificate } }> {
  const key = generateKeyPair()
  if (!f.cp.local().clusterByName.has(CONTROL_PLANE_CLUSTER)) {
    await f.cp.propose({
      type: 'addCluster',
      cluster: {
        id: 'cluster_cpcp01',
        name: CONTROL_PLANE_CLUSTER,
        region: 'local',
        role: 'primary',
        capacity: { agents: 3, memoryMb: 0, gpu: 0 },
        labels: [],
        taints: [],
        cordoned: false,
      },
    })
  }
  const own = await f.service.enrolSelf(key.publicKey, {
    name,
    clusterId: 'cluster_cpcp01',
    clusterName: CONTROL_PLANE_CLUSTER,
    region: 'local',
    role: 'primary',
  })
  const held = { cert: decodeCertificate(own.certificate) }
  assert.equal(held.cert.version, 1, 'the root signs control-plane nodes itself')
  const service = new JoinService({
    controlPlane: f.cp,
    signer: { issuerKey: key, issuerCertificate: () => held.cert },
    federation: f.federation,
    certificate: () => encodeCertificate(held.cert),
    secret: Buffer.alloc(32, 7),
    revocations: () => f.revocations.entries(),
    isRevoked: (c) => f.revocations.isRevoked(c),
    controlPlaneEndpoints: () => [],
    bootstrap: () => [],
    staticPeers: () => [],
    now: () => f.clock.now,
  })
  return { key, service, held }
}

const renewedCert = (m: JoinMessage) =>
  decodeCertificate((m as Extract<JoinMessage, { type: 'renewed' }>).certificate)

test('an issuer (another control-plane node) admits and renews without the root key', async () => {
  const f = await testFederation()
  const a = await issuerNode(f, 'cp-a')
  assert.equal(a.service.signsWithRoot, false)
  const key = generateKeyPair()
  const token = f.token()
  const { reply } = await a.service.handle(key.publicKey, joinMsg(token))
  assert.equal(reply.type, 'joined')
  const cert = decodeCertificate((reply as Extract<JoinMessage, { type: 'joined' }>).certificate)
  assert.equal(cert.version, 2)
  assert.equal(cert.issuer?.nodeId, nodeIdFromPublicKey(a.key.publicKey))
  verifyCertificate(cert, {
    rootPublicKey: f.root.publicKey,
    federationId: f.federation.id,
    now: f.clock.now,
  })
  // One registry: the nonce the issuer spent is spent for the root holder too.
  assert.equal(
    refusedCode((await f.service.handle(generateKeyPair().publicKey, joinMsg(token))).reply),
    'TOKEN_REUSED',
  )

  f.clock.now += 25 * 24 * 3600_000
  // Its own certificate ends when the node's does: it cannot extend it, and says so (ask elsewhere).
  assert.equal(refusedCode((await a.service.handle(key.publicKey, { type: 'renew' })).reply), 'NO_LEADER')
  // Renewed at the root holder meanwhile (as issuers are), it can.
  a.held.cert = renewedCert((await f.service.handle(a.key.publicKey, { type: 'renew' })).reply)
  const renewed = await a.service.handle(key.publicKey, { type: 'renew' })
  assert.equal(renewed.reply.type, 'renewed')
  const next = renewedCert(renewed.reply)
  assert.ok(next.notAfter > cert.notAfter)
  verifyCertificate(next, {
    rootPublicKey: f.root.publicKey,
    federationId: f.federation.id,
    now: f.clock.now,
  })
})

test("an issuer leaves its own renewal, and other issuers' while they have time, to the root holder", async () => {
  const f = await testFederation()
  const a = await issuerNode(f, 'cp-a')
  const b = await issuerNode(f, 'cp-b')
  assert.equal(refusedCode((await a.service.handle(a.key.publicKey, { type: 'renew' })).reply), 'NO_LEADER')
  assert.equal(refusedCode((await a.service.handle(b.key.publicKey, { type: 'renew' })).reply), 'NO_LEADER')
  // Close to expiry (the root holder has been away): renewed, as a delegated certificate.
  f.clock.now += DEFAULT_CERT_LIFETIME_MS - ISSUER_RENEWAL_GRACE_MS + 3600_000
  // (a itself was renewed at the root holder, or its certificate could not extend b's.)
  a.held.cert = renewedCert((await f.service.handle(a.key.publicKey, { type: 'renew' })).reply)
  assert.equal(a.held.cert.version, 1, 'the root holder renews an issuer keeping it root-signed')
  const { reply } = await a.service.handle(b.key.publicKey, { type: 'renew' })
  assert.equal(reply.type, 'renewed')
  assert.equal(renewedCert(reply).version, 2)
})

test('a token signed by an issuer this router has revoked is refused BAD_SIGNATURE and spends nothing', async () => {
  const f = await testFederation()
  const a = await issuerNode(f, 'cp-a')
  const token = f.token({ signer: a.key, issuer: a.held.cert })
  const key = generateKeyPair()
  f.revocations.add(
    signRevocation({ nodeId: a.held.cert.nodeId, reason: 'lost', revokedAt: f.clock.now }, f.root),
  )
  const { reply } = await f.service.handle(key.publicKey, joinMsg(token))
  assert.equal(refusedCode(reply), 'BAD_SIGNATURE')
  assert.equal(f.cp.local().nodes.has(nodeIdFromPublicKey(key.publicKey)), false)
})
