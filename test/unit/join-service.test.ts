// The control plane's join and renewal decisions, over the single-replica registry: a token works once; forged,
// foreign, expired and not-yet-valid tokens are refused with their codes and spend nothing; the certificate
// carries the registry's IPv4 even when the key's candidate is taken; renewal needs a registered, unrevoked key.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { JoinMessage } from '../../src/control/join-messages.js'
import {
  candidateIpv4,
  decodeCertificate,
  generateKeyPair,
  meshIpv6,
  nodeIdFromPublicKey,
  verifyCertificate,
} from '../../src/identity/index.js'
import { parseIpv4 } from '../../src/protocols/registry/index.js'
import { testFederation } from './join-fixture.js'

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
