// A federation for end-to-end tests: a root key, the federation secret, and enrolment of nodes by writing
// what `federation join` will leave in a node's state directory (node key, certificate signed by the root,
// federation record, secret, revocations). Tests can also issue the bad certificates a mesh must refuse:
// another federation's, expired, revoked.

import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import {
  encodeCertificate,
  type Federation,
  federationIdFromRootKey,
  generateKeyPair,
  issueCertificate,
  type KeyPair,
  meshIpv6,
  nodeIdFromPublicKey,
  revocationListCodec,
  type SignedRevocation,
  signRevocation,
  writeFederationFile,
  writeKeyFile,
} from '../../src/identity/index.js'
import { encodeWith } from '../../src/wire/index.js'

export interface EnrolOptions {
  name: string
  cluster?: string
  region?: string
  role?: 'primary' | 'secondary' | 'edge'
  /** Host part of the mesh IPv4 under 100.64.0.0/16; default: the next free one. */
  ipv4?: string
  notBefore?: number
  notAfter?: number
  /** Sign the certificate with this federation instead (a foreign certificate). */
  issuer?: TestFederation
}

export interface EnrolledNode {
  name: string
  nodeId: string
  key: KeyPair
  ipv4: string
  ipv6: string
  serial: number
}

export class TestFederation {
  readonly root: KeyPair
  readonly federation: Federation
  readonly secret: Buffer
  private nextHost = 1
  private serial = 1
  readonly revocations: SignedRevocation[] = []

  constructor(name = 'lab-federation') {
    this.root = generateKeyPair()
    this.federation = {
      id: federationIdFromRootKey(this.root.publicKey),
      name,
      rootPublicKey: this.root.publicKey,
      createdAt: Date.now(),
    }
    this.secret = randomBytes(32)
  }

  /** Writes a node's identity and membership into `stateDir` (created 0700) before its daemon starts. */
  async enrol(stateDir: string, o: EnrolOptions): Promise<EnrolledNode> {
    const key = generateKeyPair()
    const issuer = o.issuer ?? this
    const host = this.nextHost++
    const ipv4 = o.ipv4 ?? `100.64.${host >> 8}.${host & 0xff}`
    const ipv6 = meshIpv6(this.federation.id, key.publicKey)
    const serial = this.serial++
    const now = Date.now()
    const cert = issueCertificate(
      {
        federationId: issuer.federation.id,
        publicKey: key.publicKey,
        name: o.name,
        cluster: o.cluster ?? 'lab',
        region: o.region ?? 'local',
        role: o.role ?? 'primary',
        addresses: { ipv4, ipv6 },
        labels: {},
        notBefore: o.notBefore ?? now - 60_000,
        notAfter: o.notAfter ?? now + 24 * 3600_000,
        serial,
      },
      issuer.root,
    )
    await fs.mkdir(stateDir, { recursive: true, mode: 0o700 })
    await writeKeyFile(path.join(stateDir, 'node.key'), key)
    await writeFederationFile(stateDir, this.federation)
    await fs.writeFile(path.join(stateDir, 'node.cert'), encodeCertificate(cert), { mode: 0o600 })
    await fs.writeFile(path.join(stateDir, 'federation.secret'), this.secret, { mode: 0o600 })
    await this.writeRevocations(stateDir)
    return { name: o.name, nodeId: nodeIdFromPublicKey(key.publicKey), key, ipv4, ipv6, serial }
  }

  revoke(node: EnrolledNode, reason = 'compromised'): void {
    this.revocations.push(signRevocation({ nodeId: node.nodeId, reason, revokedAt: Date.now() }, this.root))
  }

  async writeRevocations(stateDir: string): Promise<void> {
    await fs.writeFile(
      path.join(stateDir, 'revocations.bin'),
      encodeWith(revocationListCodec, this.revocations),
      { mode: 0o600 },
    )
  }
}
