// Test fixtures for code that runs over peer links (transport, bus, routing tests): a throwaway federation
// root that issues node certificates on demand, link managers wired to it, and a metric reader. Real keys and
// real signatures, so what passes here passes the same checks in production.

import { once } from 'node:events'
import { type Counter, Registry } from 'prom-client'
import type { LocalTestnet } from '../discovery/testnet.js'
import {
  encodeCertificate,
  federationIdFromRootKey,
  generateKeyPair,
  issueCertificate,
  type KeyPair,
  type NodeCertificate,
} from '../identity/index.js'
import type { PeerLink } from './link.js'
import { LinkManager, type LinkManagerOptions } from './manager.js'
import type { TrustOptions } from './types.js'

export interface TestNode {
  name: string
  keyPair: KeyPair
  certificate: NodeCertificate
  /** encodeCertificate(certificate): what the node sends in its HELLO. */
  certificateBytes: Uint8Array
  nodeId: string
}

export interface TestCertificateOptions {
  /** Certify this key (default: a new one). Pair with a different keyPair to forge a key mismatch. */
  keyPair?: KeyPair
  /** Key the certificate names, if not keyPair's (a certificate for someone else's key). */
  certifiedKey?: Buffer
  notBefore?: number
  notAfter?: number
  serial?: number
  /** Claim this federation id (default this federation's). */
  federationId?: string
  /** Sign with this root instead of the federation's (a forgery, or another federation's root). */
  signer?: KeyPair
}

const HOUR = 3_600_000

export class TestFederation {
  readonly id: string

  constructor(readonly root: KeyPair = generateKeyPair()) {
    this.id = federationIdFromRootKey(root.publicKey)
  }

  trust(extra: Partial<TrustOptions> = {}): TrustOptions {
    return { rootPublicKey: this.root.publicKey, federationId: this.id, ...extra }
  }

  /** A node of this federation with a certificate valid from an hour ago to an hour ahead (by default). */
  node(name: string, opts: TestCertificateOptions = {}): TestNode {
    const keyPair = opts.keyPair ?? generateKeyPair()
    const now = Date.now()
    const certificate = issueCertificate(
      {
        federationId: opts.federationId ?? this.id,
        publicKey: opts.certifiedKey ?? keyPair.publicKey,
        name,
        cluster: 'cluster_testabcdef',
        region: 'test-region',
        role: 'primary',
        addresses: {},
        labels: {},
        notBefore: opts.notBefore ?? now - HOUR,
        notAfter: opts.notAfter ?? now + HOUR,
        serial: opts.serial ?? 1,
      },
      opts.signer ?? this.root,
    )
    return {
      name,
      keyPair,
      certificate,
      certificateBytes: encodeCertificate(certificate),
      nodeId: certificate.nodeId,
    }
  }

  /** A LinkManager for `node` trusting this federation, on its own Registry; close it when done. */
  linkManager(node: TestNode, opts: Partial<LinkManagerOptions> = {}): LinkManager {
    return new LinkManager({
      localPublicKey: node.keyPair.publicKey,
      certificate: node.certificateBytes,
      trust: this.trust(),
      registry: new Registry(),
      recheckIntervalMs: 0,
      ...opts,
    })
  }
}

/** Current value of a counter for one label set (0 if never incremented), e.g. links.metrics.rejected. */
export async function counterValue(metric: Counter<string>, labels: Record<string, string>): Promise<number> {
  const { values } = await metric.get()
  const hit = values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
  return hit?.value ?? 0
}

/** Connects two managed nodes over a new connection on `net` and waits for both ends' link-up. */
export async function linkManagers(
  net: LocalTestnet,
  [a, la]: [TestNode, LinkManager],
  [b, lb]: [TestNode, LinkManager],
  timeoutMs = 5000,
): Promise<[PeerLink, PeerLink]> {
  const [ca, cb] = await net.connectionPair(a.keyPair, b.keyPair)
  const signal = AbortSignal.timeout(timeoutMs)
  const up = Promise.all([once(la, 'link-up', { signal }), once(lb, 'link-up', { signal })])
  la.accept(ca)
  lb.accept(cb)
  const [[, linkA], [, linkB]] = await up
  return [linkA as PeerLink, linkB as PeerLink]
}
