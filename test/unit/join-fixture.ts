// A federation with a single-replica control plane for join tests: root key, registry with the federation and
// one cluster, a certified control-plane node, and token minting (valid, expired, forged, foreign).

import { JoinService } from '../../src/control/join-service.js'
import { LocalControlPlane } from '../../src/control/local-control-plane.js'
import {
  createJoinToken,
  encodeCertificate,
  type Federation,
  federationIdFromRootKey,
  fingerprint,
  generateKeyPair,
  type KeyPair,
  type NodeCertificate,
  newTokenNonce,
  RevocationSet,
} from '../../src/identity/index.js'

export interface TestFed {
  root: KeyPair
  federation: Federation
  cp: LocalControlPlane
  service: JoinService
  serverKey: KeyPair
  revocations: RevocationSet
  clusterId: string
  /** A join token; `issuer`: signed as that issuer (its certificate; `signer` is its key). */
  token(opts?: {
    exp?: number
    nbf?: number
    cluster?: string
    signer?: KeyPair
    issuer?: NodeCertificate
    fedOf?: TestFed
  }): string
  clock: { now: number }
}

export async function testFederation(name = 'lab', opts: { certLifetimeMs?: number } = {}): Promise<TestFed> {
  const root = generateKeyPair()
  const federation: Federation = {
    id: federationIdFromRootKey(root.publicKey),
    name,
    rootPublicKey: root.publicKey,
    createdAt: 1_700_000_000_000,
  }
  const cp = LocalControlPlane.inMemory()
  const clock = { now: Date.now() }
  await cp.propose({
    type: 'initFederation',
    federation: { id: federation.id, name, createdAt: federation.createdAt },
  })
  const clusterId = 'cluster_abc123'
  await cp.propose({
    type: 'addCluster',
    cluster: {
      id: clusterId,
      name: 'edge',
      region: 'local',
      role: 'edge',
      capacity: { agents: 10, memoryMb: 0, gpu: 0 },
      labels: [],
      taints: [],
      cordoned: false,
    },
  })
  const revocations = new RevocationSet(root.publicKey)
  const serverKey = generateKeyPair()
  let serverCert: Uint8Array = new Uint8Array()
  const service = new JoinService({
    controlPlane: cp,
    signer: { root },
    federation,
    certificate: () => serverCert,
    secret: Buffer.alloc(32, 7),
    revocations: () => revocations.entries(),
    isRevoked: (c) => revocations.isRevoked(c),
    controlPlaneEndpoints: () => ['127.0.0.1:7443'],
    bootstrap: () => ['10.0.0.1:49737'],
    staticPeers: () => [],
    now: () => clock.now,
    ...(opts.certLifetimeMs ? { certLifetimeMs: opts.certLifetimeMs } : {}),
  })
  // The control plane's own node is a member like any other.
  await cp.propose({
    type: 'addCluster',
    cluster: {
      id: 'cluster_cp0001',
      name: 'control',
      region: 'local',
      role: 'primary',
      capacity: { agents: 1, memoryMb: 0, gpu: 0 },
      labels: [],
      taints: [],
      cordoned: false,
    },
  })
  const own = await service.enrolSelf(serverKey.publicKey, {
    name: 'cp',
    clusterId: 'cluster_cp0001',
    clusterName: 'control',
    region: 'local',
    role: 'primary',
  })
  serverCert = own.certificate
  const fed: TestFed = {
    root,
    federation,
    cp,
    service,
    serverKey,
    revocations,
    clusterId,
    clock,
    token(o = {}) {
      const f = o.fedOf ?? fed
      const iat = Math.floor(clock.now / 1000)
      const signer = o.signer ?? f.root
      return createJoinToken(
        {
          iss: f.federation.id,
          fed_name: f.federation.name,
          cluster: o.cluster ?? f.clusterId,
          cluster_name: 'edge',
          region: 'local',
          capacity: 10,
          role: 'edge',
          iat,
          nbf: o.nbf ?? iat,
          exp: o.exp ?? iat + 3600,
          jti: newTokenNonce(),
          cp: [],
          // An issuer's token still pins the root; a root-signed one names its signer.
          rfp: fingerprint((o.issuer ? f.root : signer).publicKey),
        },
        signer,
        o.issuer,
      )
    },
  }
  return fed
}

export { encodeCertificate }
