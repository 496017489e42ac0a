// The join channel over real TLS 1.3 sockets on loopback, client and server in this process, the registry a
// single replica: a token joins once, reuse and forgeries are refused with their codes, a control plane of
// another root (or one replaying a real certificate without its key) is refused by the client before the
// token leaves it, renewal works for a member and not for a revoked one, and garbage never stops the server.

import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import tls from 'node:tls'
import { Registry } from 'prom-client'
import { JoinError, parseEndpoint, requestJoin, requestRenewal } from '../../src/control/join-client.js'
import { frameJoinMessage, JoinFrameReader, type JoinMessage } from '../../src/control/join-messages.js'
import { JoinServer } from '../../src/control/join-server.js'
import type { JoinService } from '../../src/control/join-service.js'
import { tlsIdentity } from '../../src/control/tls-identity.js'
import { generateKeyPair, type KeyPair, nodeIdFromPublicKey } from '../../src/identity/index.js'
import { testFederation } from './join-fixture.js'

async function serve(t: { after(fn: () => Promise<void>): void }, service: JoinService, nodeKey: KeyPair) {
  const registry = new Registry()
  const server = new JoinServer({
    service,
    nodeKey,
    host: '127.0.0.1',
    port: 0,
    registry,
    requestTimeoutMs: 2000,
  })
  const addr: AddressInfo = await server.listen()
  t.after(() => server.close())
  const count = async (kind: string, result: string) => {
    const m = await registry.getSingleMetric('blackroad_join_requests_total')!.get()
    return m.values.find((v) => v.labels.kind === kind && v.labels.result === result)?.value ?? 0
  }
  return { endpoint: `127.0.0.1:${addr.port}`, port: addr.port, count }
}

const join = (endpoint: string, token: string, key = generateKeyPair()) =>
  requestJoin({ endpoint, token, clusterName: 'edge', name: 'pi-1', nodeKey: key, timeoutMs: 5000 })

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    assert.ok(err instanceof JoinError, String(err))
    return err.code
  }
  assert.fail('expected a JoinError')
}

test('join over TLS: succeeds once, then TOKEN_REUSED; a forged token is BAD_SIGNATURE', async (t) => {
  const f = await testFederation()
  const s = await serve(t, f.service, f.serverKey)
  const token = f.token()
  const key = generateKeyPair()
  const res = await join(s.endpoint, token, key)
  assert.equal(res.cert.nodeId, nodeIdFromPublicKey(key.publicKey))
  assert.equal(res.federation.id, f.federation.id)
  assert.deepEqual(Buffer.from(res.rootPublicKey), Buffer.from(f.root.publicKey))
  assert.ok(f.cp.local().nodes.has(res.cert.nodeId))
  assert.equal(await s.count('join', 'ok'), 1)

  assert.equal(await code(join(s.endpoint, token)), 'TOKEN_REUSED')
  assert.equal(await s.count('join', 'TOKEN_REUSED'), 1)

  const parts = f.token().split('.')
  const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString())
  parts[1] = Buffer.from(JSON.stringify({ ...claims, capacity: 1_000_000 })).toString('base64url')
  assert.equal(await code(join(s.endpoint, parts.join('.'))), 'BAD_SIGNATURE')
  assert.equal(
    await code(
      join(
        s.endpoint,
        f.token({ exp: Math.floor(Date.now() / 1000) - 600, nbf: Math.floor(Date.now() / 1000) - 7200 }),
      ),
    ),
    'EXPIRED',
  )
})

test('a control plane of another root is refused by the client, and never sees the token', async (t) => {
  const f = await testFederation()
  const other = await testFederation('other')
  const s = await serve(t, other.service, other.serverKey)
  const err = await join(s.endpoint, f.token()).catch((e: unknown) => e)
  assert.ok(err instanceof JoinError)
  assert.equal(err.code, 'UNTRUSTED_CONTROL_PLANE')
  assert.match(err.message, /pins/)
  assert.equal(await s.count('join', 'OTHER_FEDERATION'), 0, 'the token was not sent')
  assert.equal(other.cp.local().nonces.size, 1)
})

test("an impostor replaying the control plane's real certificate without its key is refused", async (t) => {
  const f = await testFederation()
  const s = await serve(t, f.service, generateKeyPair())
  assert.equal(await code(join(s.endpoint, f.token())), 'UNTRUSTED_CONTROL_PLANE')
  assert.equal(f.cp.local().nodes.size, 1)
})

/** A client that skips the root check and sends whatever it is given (what a broken or hostile client does). */
function rawRequest(
  port: number,
  request: Uint8Array | JoinMessage,
  withCert = true,
): Promise<JoinMessage[]> {
  const id = withCert ? tlsIdentity(generateKeyPair(), 'raw') : {}
  return new Promise((resolve, reject) => {
    const got: JoinMessage[] = []
    const frames = new JoinFrameReader()
    const sock = tls.connect({
      host: '127.0.0.1',
      port,
      ...id,
      minVersion: 'TLSv1.3',
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    })
    sock.on('error', reject)
    sock.on('data', (chunk: Buffer) => {
      got.push(...frames.push(chunk))
      if (got.length === 1) sock.write(request instanceof Uint8Array ? request : frameJoinMessage(request))
    })
    sock.on('close', () => resolve(got))
  })
}

test('the server refuses a foreign token (OTHER_FEDERATION) and garbage (PROTOCOL), and keeps serving', async (t) => {
  const f = await testFederation()
  const other = await testFederation('other')
  const s = await serve(t, f.service, f.serverKey)
  const foreign = await rawRequest(s.port, { type: 'join', token: other.token(), name: 'x', addresses: [] })
  assert.equal(foreign[0]?.type, 'hello')
  assert.deepEqual(foreign[1] && foreign[1].type === 'refused' && foreign[1].code, 'OTHER_FEDERATION')
  const garbage = Buffer.from([0, 0, 0, 3, 9, 9, 9])
  const g = await rawRequest(s.port, garbage)
  assert.equal(g[1]?.type === 'refused' && g[1].code, 'PROTOCOL')
  assert.equal(await s.count('invalid', 'PROTOCOL'), 1)
  assert.equal(await s.count('join', 'OTHER_FEDERATION'), 1)
  // No client certificate: no node key to certify, refused before anything else.
  const anonymous = await rawRequest(s.port, { type: 'renew' }, false)
  assert.equal(anonymous[0]?.type === 'refused' && anonymous[0].code, 'PROTOCOL')
  assert.equal(await s.count('invalid', 'PROTOCOL'), 2)
  const ok = await join(s.endpoint, f.token())
  assert.ok(ok.cert.nodeId)
})

test('renewal over TLS: a member gets a later certificate; a revoked one is refused', async (t) => {
  const f = await testFederation()
  const s = await serve(t, f.service, f.serverKey)
  const key = generateKeyPair()
  const joined = await join(s.endpoint, f.token(), key)
  const opts = {
    endpoint: s.endpoint,
    nodeKey: key,
    rootPublicKey: f.root.publicKey,
    federationId: f.federation.id,
    timeoutMs: 5000,
  }
  f.clock.now += 1000
  const renewed = await requestRenewal(opts)
  assert.ok(renewed.cert.notAfter > joined.cert.notAfter)
  assert.equal(renewed.cert.nodeId, joined.cert.nodeId)
  await f.cp.propose({
    type: 'revoke',
    revocation: { subject: joined.cert.nodeId, reason: 'test', at: Date.now() },
  })
  assert.equal(await code(requestRenewal(opts)), 'REVOKED')
  // The renewing node checks the server too: a server of another root is refused.
  const other = await testFederation('other')
  const o = await serve(t, other.service, other.serverKey)
  assert.equal(await code(requestRenewal({ ...opts, endpoint: o.endpoint })), 'UNTRUSTED_CONTROL_PLANE')
})

test('client-side checks: cluster name must match the token; endpoints parse; nothing listening is UNREACHABLE', async () => {
  const f = await testFederation()
  await assert.rejects(
    requestJoin({
      endpoint: '127.0.0.1:1',
      token: f.token(),
      clusterName: 'other',
      name: 'x',
      nodeKey: generateKeyPair(),
    }),
    (e: unknown) => e instanceof JoinError && e.code === 'CLUSTER_MISMATCH',
  )
  assert.deepEqual(parseEndpoint('10.0.0.1'), { host: '10.0.0.1', port: 7443 })
  assert.deepEqual(parseEndpoint('https://control.example:8443/x'), { host: 'control.example', port: 8443 })
  assert.deepEqual(parseEndpoint('[fd00::1]:9000'), { host: 'fd00::1', port: 9000 })
  assert.throws(
    () => parseEndpoint('a b:1'),
    (e: unknown) => e instanceof JoinError && e.code === 'BAD_ENDPOINT',
  )
  // Port 1 on loopback: nothing listens there.
  assert.equal(await code(join('127.0.0.1:1', f.token())), 'UNREACHABLE')
})
