// The join service over the replicated registry: three in-process ControlReplicas (real durable logs, real
// timers, an in-memory transport that can cut nodes off). A token is spent through Raft, so it works once even
// when two voters receive it at the same moment and when the root holder is a follower; its nonce is spent on
// every replica; forged tokens spend nothing. The root holder records itself (federation, cluster, node at its
// certificate's address) once the registry can commit, and joins wait until then — also through ControlNode,
// whose start() must not wait for a quorum that only the mesh it is about to start can provide. The API's
// registry views show a spent nonce from a local copy.

import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import pino from 'pino'
import { Registry as PromRegistry } from 'prom-client'
import { parseConfig } from '../../src/config/index.js'
import type { JoinMessage } from '../../src/control/join-messages.js'
import { JoinService } from '../../src/control/join-service.js'
import { LocalControlPlane } from '../../src/control/local-control-plane.js'
import { ControlReplica } from '../../src/control/replica.js'
import { RootMemberError, RootRecorder, recordRootMember } from '../../src/control/root-member.js'
import type { ControlPlane } from '../../src/control/types.js'
import { ControlNode } from '../../src/daemon/control-node.js'
import { nonceView, registryView } from '../../src/daemon/registry-views.js'
import {
  candidateIpv4,
  createJoinToken,
  decodeCertificate,
  type Federation,
  federationIdFromRootKey,
  fingerprint,
  generateKeyPair,
  initFederation,
  issueCertificate,
  type KeyPair,
  meshIpv6,
  type NodeCertificate,
  newTokenNonce,
  nodeIdFromPublicKey,
  sign,
  verify,
  writeKeyFile,
} from '../../src/identity/index.js'
import { type Cluster, parseIpv4 } from '../../src/protocols/registry/index.js'
import { base64urlDecode, hexEncode } from '../../src/wire/index.js'

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'join-raft-'))
  dirs.push(d)
  return d
}

const RAFT = { heartbeatMs: 50, electionMinMs: 500, electionMaxMs: 1000 }

interface Member {
  id: string
  key: KeyPair
  dir: string
  replica: ControlReplica | null
}

/** Replicas connected in memory; `cut` nodes neither send nor receive. */
class Net {
  readonly members = new Map<string, Member>()
  readonly cut = new Set<string>()

  add(key = generateKeyPair()): Member {
    const m: Member = { id: nodeIdFromPublicKey(key.publicKey), key, dir: '', replica: null }
    this.members.set(m.id, m)
    return m
  }

  async open(m: Member, voters: string[], requestTimeoutMs = 3000): Promise<ControlReplica> {
    if (m.dir === '') m.dir = await tempDir()
    m.replica = await ControlReplica.open({
      id: m.id,
      voters,
      stateDir: m.dir,
      raft: RAFT,
      requestTimeoutMs,
      helloEveryMs: 100,
      signer: { sign: (msg) => sign(msg, m.key.secretKey) },
      verify: (from, msg, s) => {
        const pk = this.members.get(from)?.key.publicKey
        return pk !== undefined && verify(s, msg, pk)
      },
      send: (to, bytes) => {
        if (this.cut.has(m.id) || this.cut.has(to)) return
        const copy = bytes.slice()
        setImmediate(() => this.members.get(to)?.replica?.receive(m.id, copy))
      },
    })
    return m.replica
  }

  leader(): Member | undefined {
    return [...this.members.values()].find((m) => m.replica?.view().role === 'leader' && !this.cut.has(m.id))
  }

  async close(): Promise<void> {
    for (const m of this.members.values()) await m.replica?.close()
  }
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = probe()
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const silent = { info() {}, warn() {}, error() {} }

interface Fed {
  root: KeyPair
  federation: Federation
  record: { id: string; name: string; createdAt: number }
}

function newFed(name = 'lab'): Fed {
  const root = generateKeyPair()
  const federation: Federation = {
    id: federationIdFromRootKey(root.publicKey),
    name,
    rootPublicKey: root.publicKey,
    createdAt: 1_700_000_000_000,
  }
  return { root, federation, record: { id: federation.id, name, createdAt: federation.createdAt } }
}

function token(f: Fed, clusterId: string, o: { jti?: string; signer?: KeyPair } = {}): string {
  const iat = Math.floor(Date.now() / 1000)
  return createJoinToken(
    {
      iss: f.federation.id,
      fed_name: f.federation.name,
      cluster: clusterId,
      cluster_name: 'edge',
      region: 'local',
      capacity: 10,
      role: 'edge',
      iat,
      nbf: iat,
      exp: iat + 3600,
      jti: o.jti ?? newTokenNonce(),
      cp: [],
      rfp: fingerprint((o.signer ?? f.root).publicKey),
    },
    o.signer ?? f.root,
  )
}

function service(f: Fed, cp: ControlPlane, notReady?: () => string | null): JoinService {
  return new JoinService({
    controlPlane: cp,
    signer: { root: f.root },
    federation: f.federation,
    certificate: () => new Uint8Array(),
    secret: Buffer.alloc(32, 7),
    revocations: () => [],
    controlPlaneEndpoints: () => [],
    bootstrap: () => [],
    staticPeers: () => [],
    ...(notReady ? { notReady } : {}),
  })
}

/** The root holder's certificate, issued locally as ControlNode does before its network starts. */
function rootCert(f: Fed, key: KeyPair, ipv4 = candidateIpv4(key.publicKey), serial = 1): NodeCertificate {
  const now = Date.now()
  return issueCertificate(
    {
      federationId: f.federation.id,
      publicKey: key.publicKey,
      name: 'cp',
      cluster: 'control-plane',
      region: 'local',
      role: 'primary',
      addresses: { ipv4, ipv6: meshIpv6(f.federation.id, key.publicKey) },
      labels: {},
      notBefore: now - 60_000,
      notAfter: now + 3600_000,
      serial,
    },
    f.root,
  )
}

function edge(id = 'cluster_edge01'): Cluster {
  return {
    id,
    name: 'edge',
    region: 'local',
    role: 'edge',
    capacity: { agents: 10, memoryMb: 0, gpu: 0 },
    labels: [],
    taints: [],
    cordoned: false,
  }
}

const join = (t: string): JoinMessage => ({ type: 'join', token: t, name: 'pi', addresses: [] })

function code(m: JoinMessage): string {
  return m.type === 'refused' ? m.code : m.type
}

const nonceHex = (t: string) =>
  hexEncode(
    base64urlDecode(
      (JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti,
    ),
  )

test('a token is spent through Raft: two voters receiving it at once admit one node, a follower root holder included; every replica holds the nonce', async () => {
  const f = newFed()
  const net = new Net()
  const voters = [net.add(), net.add(), net.add()]
  const ids = voters.map((v) => v.id)
  for (const v of voters) await net.open(v, ids)
  try {
    const leader = await until('a leader', () => net.leader())
    const followers = voters.filter((v) => v !== leader)
    const rootHolder = followers[0]!
    // The root holder, a follower, records the federation, its cluster and itself through the leader.
    const cert = rootCert(f, rootHolder.key)
    const member = {
      federation: f.record,
      clusters: [edge()],
      certificate: cert,
      capacity: 10,
      now: Date.now(),
    }
    assert.equal(await recordRootMember(rootHolder.replica!, member), 'recorded')
    assert.equal(
      await recordRootMember(rootHolder.replica!, member),
      'present',
      'a second attempt writes nothing',
    )
    const own = leader.replica!.local()!.nodes.get(cert.nodeId)
    assert.equal(own?.ipv4, parseIpv4(cert.addresses.ipv4!), "registered at its certificate's address")

    // The same token reaches the root holder (a follower) and another voter at the same moment.
    const t = token(f, 'cluster_edge01')
    const [a, b] = await Promise.all([
      service(f, rootHolder.replica!).handle(generateKeyPair().publicKey, join(t)),
      service(f, leader.replica!).handle(generateKeyPair().publicKey, join(t)),
    ])
    assert.deepEqual([code(a.reply), code(b.reply)].sort(), ['TOKEN_REUSED', 'joined'])
    const joined = (a.reply.type === 'joined' ? a.reply : b.reply) as Extract<JoinMessage, { type: 'joined' }>
    const joinedId = decodeCertificate(joined.certificate).nodeId
    for (const v of voters) {
      await until(`${v.id} applies the join`, () => v.replica!.local()?.nodes.has(joinedId))
      assert.ok(v.replica!.local()!.nonces.has(nonceHex(t)), `the nonce is spent on ${v.id}`)
    }
    // Used again later, through the other follower: refused.
    const again = await service(f, followers[1]!.replica!).handle(generateKeyPair().publicKey, join(t))
    assert.equal(code(again.reply), 'TOKEN_REUSED')

    // A forged token (claims changed after signing, fresh nonce) is refused and spends nothing.
    const parts = token(f, 'cluster_edge01').split('.')
    const jti = newTokenNonce()
    parts[1] = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()), jti }),
    ).toString('base64url')
    const forged = await service(f, rootHolder.replica!).handle(
      generateKeyPair().publicKey,
      join(parts.join('.')),
    )
    assert.equal(code(forged.reply), 'BAD_SIGNATURE')
    const other = await service(f, rootHolder.replica!).handle(
      generateKeyPair().publicKey,
      join(token(f, 'cluster_edge01', { signer: generateKeyPair() })),
    )
    assert.equal(code(other.reply), 'BAD_SIGNATURE')
    await rootHolder.replica!.query({ type: 'summary' })
    for (const v of voters) {
      assert.equal(v.replica!.local()!.nonces.has(hexEncode(base64urlDecode(jti))), false)
      assert.equal(v.replica!.local()!.nodes.size, 2, `${v.id}: the root holder and the one joined node`)
    }
  } finally {
    await net.close()
  }
})

test('joins wait (NO_LEADER, nothing spent) until the root holder is recorded, which happens once a quorum is back', async () => {
  const f = newFed()
  const net = new Net()
  const voters = [net.add(), net.add(), net.add()]
  const ids = voters.map((v) => v.id)
  const [rootHolder, b, c] = voters as [Member, Member, Member]
  net.cut.add(b.id)
  net.cut.add(c.id)
  for (const v of voters) await net.open(v, ids, 600)
  try {
    const cert = rootCert(f, rootHolder.key)
    const recorder = new RootRecorder({
      attempt: () =>
        recordRootMember(rootHolder.replica!, {
          federation: f.record,
          clusters: [edge()],
          certificate: cert,
          capacity: 10,
          now: Date.now(),
        }),
      log: silent,
      minDelayMs: 50,
      maxDelayMs: 200,
    })
    const svc = service(f, rootHolder.replica!, () => recorder.notReady())
    await recorder.start()
    assert.equal(recorder.done, false, 'no quorum: the first attempt cannot commit')
    const t = token(f, 'cluster_edge01')
    const early = await svc.handle(generateKeyPair().publicKey, join(t))
    assert.equal(code(early.reply), 'NO_LEADER')
    assert.match((early.reply as { message: string }).message, /not ready/)
    await until('a second attempt', () => recorder.attempts >= 2, 10_000)

    net.cut.clear()
    await until('the root holder is recorded', () => recorder.done, 20_000)
    assert.equal(recorder.notReady(), null)
    const ok = await svc.handle(generateKeyPair().publicKey, join(t))
    assert.equal(code(ok.reply), 'joined', 'the token was not spent by the refused attempt')
    for (const v of voters) {
      await until(`${v.id} holds the root holder`, () => v.replica!.local()?.nodes.has(cert.nodeId))
    }
    recorder.stop()
  } finally {
    await net.close()
  }
})

test('recordRootMember: idempotent, follows a renewed certificate, and stops on what a retry cannot fix', async () => {
  const f = newFed()
  const key = generateKeyPair()
  const cp = LocalControlPlane.inMemory()
  const cert = rootCert(f, key)
  const m = { federation: f.record, clusters: [edge()], certificate: cert, capacity: 7, now: Date.now() }
  assert.equal(await recordRootMember(cp, m), 'recorded')
  const s = cp.local()
  assert.equal(s.federation?.id, f.federation.id)
  assert.ok(s.clusterByName.has('edge'), 'clusters.json clusters are recorded')
  const own = s.clusters.get(s.clusterByName.get('control-plane')!)
  assert.equal(own?.capacity.agents, 7)
  assert.equal(s.nodes.get(cert.nodeId)?.ipv4, parseIpv4(cert.addresses.ipv4!))
  assert.equal(s.nodes.get(cert.nodeId)?.cluster, own?.id)
  assert.equal(await recordRootMember(cp, { ...m, now: Date.now() }), 'present')

  // Renewed locally while the registry was out of reach: the record follows.
  const renewed = rootCert(f, key, cert.addresses.ipv4, 2)
  assert.equal(await recordRootMember(cp, { ...m, certificate: renewed }), 'recorded')
  assert.equal(decodeCertificate(cp.local().nodes.get(cert.nodeId)!.certificate).serial, renewed.serial)

  // Another node already holds the address this certificate carries.
  const other = generateKeyPair()
  const clash = rootCert(f, other, cert.addresses.ipv4)
  await assert.rejects(
    recordRootMember(cp, { ...m, certificate: clash }),
    (e: unknown) => e instanceof RootMemberError && e.code === 'ADDRESS_IN_USE',
  )
  assert.equal(cp.local().nodes.has(clash.nodeId), false)

  // A registry of another federation.
  const foreign = LocalControlPlane.inMemory()
  await foreign.propose({ type: 'initFederation', federation: newFed('other').record })
  await assert.rejects(
    recordRootMember(foreign, m),
    (e: unknown) => e instanceof RootMemberError && e.code === 'OTHER_FEDERATION',
  )
  // A revoked root holder.
  const revoked = LocalControlPlane.inMemory()
  await recordRootMember(revoked, m)
  await revoked.propose({ type: 'revoke', revocation: { subject: cert.nodeId, reason: 'lost', at: 1 } })
  await assert.rejects(
    recordRootMember(revoked, m),
    (e: unknown) => e instanceof RootMemberError && e.code === 'REVOKED',
  )
})

test('ControlNode: a root holder with a three-voter replica certifies itself without a quorum, then records itself', async () => {
  const net = new Net()
  const nodeKey = generateKeyPair()
  const rootHolder = net.add(nodeKey)
  const others = [net.add(), net.add()]
  const ids = [rootHolder.id, ...others.map((o) => o.id)]
  const dir = await tempDir()
  const stateDir = path.join(dir, 'state')
  const fed = await initFederation(stateDir, 'lab', Date.now())
  await writeKeyFile(path.join(stateDir, 'node.key'), nodeKey)
  const config = parseConfig(
    [
      'node:',
      '  name: cp',
      `  state_dir: ${stateDir}`,
      '  control_plane: true',
      'federation:',
      '  voters:',
      ...ids.map((id) => `    - ${id}`),
    ].join('\n'),
    'test.yaml',
  )
  rootHolder.dir = stateDir
  const replica = await net.open(rootHolder, ids, 3000)
  const control = new ControlNode({
    config,
    logger: pino({ level: 'silent' }),
    registry: new PromRegistry(),
    nodeKey,
    nodeId: rootHolder.id,
    controlPlane: replica,
  })
  try {
    // The other voters are not running: nothing can commit, yet start() returns with a certificate.
    const started = Date.now()
    assert.equal(await control.start(), true)
    assert.ok(Date.now() - started < 1500, `start() waited ${Date.now() - started} ms for a quorum`)
    const cert = decodeCertificate(await readFile(path.join(stateDir, 'node.cert')))
    assert.equal(cert.nodeId, rootHolder.id)
    assert.equal(cert.federationId, fed.id)
    assert.equal(cert.cluster, 'control-plane')
    assert.equal(cert.addresses.ipv4, candidateIpv4(nodeKey.publicKey))
    assert.equal(replica.local()?.nodes.has(rootHolder.id) ?? false, false)
    assert.match(control.joinsWait() ?? '', /not ready/, 'joins wait for the registry')

    for (const o of others) await net.open(o, ids)
    const b = others[0]!
    await until(
      'another voter holds the root holder',
      () => b.replica!.local()?.nodes.has(rootHolder.id),
      30_000,
    )
    const s = b.replica!.local()!
    assert.equal(s.federation?.id, fed.id)
    assert.equal(s.nodes.get(rootHolder.id)!.ipv4, parseIpv4(cert.addresses.ipv4!))
    assert.equal(s.clusters.get(s.nodes.get(rootHolder.id)!.cluster)?.name, 'control-plane')
    await until('joins are admitted', () => control.joinsWait() === null, 5000)
  } finally {
    await control.stop()
    await net.close()
  }
})

test("the registry views answer from a copy: a spent token's nonce, the nodes with their names and addresses", async () => {
  const f = newFed()
  const cp = LocalControlPlane.inMemory()
  const cert = rootCert(f, generateKeyPair())
  await recordRootMember(cp, {
    federation: f.record,
    clusters: [edge()],
    certificate: cert,
    capacity: 1,
    now: Date.now(),
  })
  const jti = newTokenNonce()
  const res = await service(f, cp).handle(
    generateKeyPair().publicKey,
    join(token(f, 'cluster_edge01', { jti })),
  )
  assert.equal(code(res.reply), 'joined')
  const spent = nonceView(cp.local(), 9, jti)
  assert.equal(spent?.spent, true)
  assert.ok(spent?.expires_at !== null && Date.parse(spent!.expires_at!) > Date.now())
  assert.equal(nonceView(cp.local(), 9, newTokenNonce())?.spent, false)
  assert.equal(nonceView(cp.local(), 9, '!'), null, 'not base64url')
  const view = registryView(cp.local(), 9)
  assert.equal(view.federation?.id, f.federation.id)
  assert.equal(view.spent_nonces, 2, "the root holder's own and the token's")
  assert.deepEqual(view.nodes.map((n) => [n.name, n.cluster]).sort(), [
    ['cp', 'control-plane'],
    ['pi', 'edge'],
  ])
  assert.equal(view.nodes.find((n) => n.name === 'cp')?.mesh_ipv4, cert.addresses.ipv4)
  assert.equal(registryView(null, 0).nodes.length, 0)
})
