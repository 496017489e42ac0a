// The control plane's side of `federation join` and certificate renewal, without sockets: given the joining
// node's TLS-proven key and its request, check the token, commit through the ControlPlane and answer. A token
// is spent by the registry's joinNode command, which marks its nonce and allocates the IPv4 in one Raft entry,
// so the same token cannot work twice even when two control-plane nodes receive it at the same moment.
// join-server.ts puts this behind TLS; tests call it directly.

import type { Federation } from '../identity/index.js'
import {
  candidateIpv4,
  decodeCertificate,
  encodeCertificate,
  fingerprint,
  isIssuerCertificate,
  issueCertificate,
  issueDelegatedCertificate,
  type KeyPair,
  meshIpv6,
  type NodeCertificate,
  nodeIdFromPublicKey,
  randomBytes,
  type SignedRevocation,
  TokenError,
  TrustError,
  verifyJoinToken,
} from '../identity/index.js'
import { type CommandResult, formatIpv4, parseIpv4 } from '../protocols/registry/index.js'
import { base64urlDecode } from '../wire/index.js'
import type { JoinMessage, RefusalCode } from './join-messages.js'
import { type ControlPlane, ControlPlaneError } from './types.js'

export const DEFAULT_CERT_LIFETIME_MS = 30 * 24 * 3600_000
/** Below this much validity left, an issuer renews another issuer's certificate (see checkIssuerRenews). */
export const ISSUER_RENEWAL_GRACE_MS = 2 * 24 * 3600_000

/**
 * Who signs the certificates: the federation root key (on the node that created the federation), or an issuer
 * — a control-plane node's own key with its root-signed certificate (certificate.ts), so joins and renewals go
 * on while the root holder is down.
 */
export type CertificateSigner =
  | { readonly root: KeyPair }
  | { readonly issuerKey: KeyPair; readonly issuerCertificate: () => NodeCertificate }

export interface JoinServiceOptions {
  controlPlane: ControlPlane
  signer: CertificateSigner
  federation: Federation
  /** The answering node's own certificate (encoded): the joining node checks it against the token's root. */
  certificate: () => Uint8Array
  secret: Uint8Array
  revocations: () => readonly SignedRevocation[]
  /** Whether a certificate is revoked here (RevocationSet.isRevoked): an issuer's token dies with it. */
  isRevoked?: (cert: { nodeId: string; serial: number }) => boolean
  controlPlaneEndpoints: () => string[]
  bootstrap: () => string[]
  staticPeers: () => string[]
  /** The Raft voters (node ids, leader first) a joining node starts its replica from; absent: none. */
  voters?: () => string[]
  /**
   * Why joins and renewals must wait (the registry does not hold the federation and this node yet), or null.
   * They are refused as NO_LEADER, which a client may retry: nothing was spent.
   */
  notReady?: () => string | null
  certLifetimeMs?: number
  clockSkewSeconds?: number
  now?: () => number
}

interface Admission {
  name: string
  clusterId: string
  clusterName: string
  region: string
  role: NodeCertificate['role']
  addresses: string[]
  nonce: Uint8Array
  nonceExpiresAt: number
}

export type JoinOutcome = { kind: 'join' | 'renew' | 'invalid'; result: 'ok' | RefusalCode; nodeId: string }

const TOKEN_CODES: Record<string, RefusalCode> = {
  TOKEN_MALFORMED: 'TOKEN_MALFORMED',
  TOKEN_BAD_SIGNATURE: 'BAD_SIGNATURE',
  TOKEN_EXPIRED: 'EXPIRED',
  TOKEN_NOT_YET_VALID: 'NOT_YET_VALID',
  TOKEN_OTHER_FEDERATION: 'OTHER_FEDERATION',
}

const REGISTRY_CODES: Record<string, RefusalCode> = {
  NONCE_SPENT: 'TOKEN_REUSED',
  NONCE_EXPIRED: 'EXPIRED',
  REVOKED: 'REVOKED',
  NODE_EXISTS: 'NODE_EXISTS',
  NODE_NOT_FOUND: 'NOT_REGISTERED',
  CLUSTER_NOT_FOUND: 'CLUSTER_NOT_FOUND',
  POOL_EXHAUSTED: 'POOL_EXHAUSTED',
}

/** A refusal with its stable code; handle() turns it into a REFUSED message. */
export class JoinRefusal extends Error {
  constructor(
    readonly code: RefusalCode,
    message: string,
  ) {
    super(message)
    this.name = 'JoinRefusal'
  }
}

export class JoinService {
  private readonly now: () => number
  private lastSerial = 0

  constructor(private readonly opts: JoinServiceOptions) {
    this.now = opts.now ?? Date.now
  }

  /** The first message on every connection: who we are, provably (the TLS key is the certificate's key). */
  hello(): JoinMessage {
    return {
      type: 'hello',
      rootPublicKey: this.opts.federation.rootPublicKey,
      federationId: this.opts.federation.id,
      certificate: this.opts.certificate(),
    }
  }

  /** Answers one request from the holder of `clientKey` (proven by TLS); never throws. */
  async handle(
    clientKey: Uint8Array,
    msg: JoinMessage,
  ): Promise<{ reply: JoinMessage; outcome: JoinOutcome }> {
    const nodeId = nodeIdFromPublicKey(clientKey)
    const kind = msg.type === 'join' ? 'join' : msg.type === 'renew' ? 'renew' : 'invalid'
    try {
      const wait = kind === 'invalid' ? null : (this.opts.notReady?.() ?? null)
      if (wait !== null) throw new JoinRefusal('NO_LEADER', wait)
      let reply: JoinMessage
      if (msg.type === 'join') reply = await this.join(clientKey, msg)
      else if (msg.type === 'renew') reply = await this.renew(clientKey)
      else throw new JoinRefusal('PROTOCOL', `a ${msg.type} message is not a request`)
      return { reply, outcome: { kind, result: 'ok', nodeId } }
    } catch (err) {
      const r = toRefusal(err)
      return {
        reply: { type: 'refused', code: r.code, message: r.message },
        outcome: { kind, result: r.code, nodeId },
      }
    }
  }

  private async join(key: Uint8Array, req: Extract<JoinMessage, { type: 'join' }>): Promise<JoinMessage> {
    const fed = this.opts.federation
    const now = this.now()
    let claims: ReturnType<typeof verifyJoinToken>
    try {
      claims = verifyJoinToken(req.token, {
        rootPublicKey: fed.rootPublicKey,
        federationId: fed.id,
        now,
        clockSkewSeconds: this.opts.clockSkewSeconds ?? 60,
        ...(this.opts.isRevoked ? { isRevoked: this.opts.isRevoked } : {}),
      })
    } catch (err) {
      if (err instanceof TokenError)
        throw new JoinRefusal(TOKEN_CODES[err.code] ?? 'TOKEN_MALFORMED', err.message)
      throw err
    }
    return this.admit(key, {
      name: req.name,
      clusterId: claims.cluster,
      clusterName: claims.cluster_name,
      region: claims.region,
      role: claims.role,
      addresses: req.addresses,
      nonce: base64urlDecode(claims.jti),
      nonceExpiresAt: claims.exp * 1000,
    })
  }

  /**
   * Registers the root holder's own node (it has no token: it signs them). A random nonce keeps joinNode's
   * one-step allocation; nothing can replay it because nothing else ever sees it.
   */
  enrolSelf(
    key: Uint8Array,
    a: Omit<Admission, 'nonce' | 'nonceExpiresAt' | 'addresses'>,
  ): Promise<Extract<JoinMessage, { type: 'joined' }>> {
    return this.admit(key, {
      ...a,
      addresses: [],
      nonce: randomBytes(16),
      nonceExpiresAt: this.now() + 3600_000,
    })
  }

  private async admit(key: Uint8Array, a: Admission): Promise<Extract<JoinMessage, { type: 'joined' }>> {
    const fed = this.opts.federation
    const now = this.now()
    const ipv6 = meshIpv6(fed.id, key)
    const preferred = parseIpv4(candidateIpv4(key))!
    const request = (ipv4: string) =>
      this.issue({
        publicKey: Buffer.from(key),
        name: a.name,
        cluster: a.clusterName,
        region: a.region,
        role: a.role,
        addresses: { ipv4, ipv6 },
      })
    let cert = request(formatIpv4(preferred))
    const joined = await this.propose({
      type: 'joinNode',
      nonce: a.nonce,
      nonceExpiresAt: a.nonceExpiresAt,
      node: {
        id: cert.nodeId,
        cluster: a.clusterId,
        certificate: encodeCertificate(cert),
        addresses: a.addresses,
        resources: { cpuMillis: 0, memoryMb: 0, gpu: 0 },
      },
      preferredIpv4: preferred,
      at: now,
    }).catch(async (err: unknown) => {
      const ipv4 =
        err instanceof JoinRefusal && err.code === 'TOKEN_REUSED' ? await this.joinedBefore(key, a) : null
      if (ipv4 === null) throw err
      return { ipv4, again: true }
    })
    if (joined.ipv4 !== preferred || 'again' in joined) {
      // The key's candidate address was taken, the registry chose the next free one; or this join was answered
      // before: certify the registry's address, and keep that certificate in the registry.
      cert = request(formatIpv4(joined.ipv4))
      await this.propose({ type: 'renewCertificate', id: cert.nodeId, certificate: encodeCertificate(cert) })
    }
    return {
      type: 'joined',
      certificate: encodeCertificate(cert),
      federation: { id: fed.id, name: fed.name, createdAt: fed.createdAt },
      secret: this.opts.secret,
      revocations: [...this.opts.revocations()],
      ipv4: cert.addresses.ipv4!,
      ipv6,
      controlPlane: this.opts.controlPlaneEndpoints(),
      bootstrap: this.opts.bootstrap(),
      staticPeers: this.opts.staticPeers(),
      voters: this.opts.voters?.() ?? [],
    }
  }

  /**
   * A join repeated with the same token by the node it admitted — the reply was lost, or the request timed out
   * after its entry committed: that node's registered address (it is answered as joined again, with a fresh
   * certificate), or null when the token was spent by or for anyone else.
   */
  private async joinedBefore(key: Uint8Array, a: Admission): Promise<number | null> {
    const res = await this.opts.controlPlane.query({ type: 'node', id: nodeIdFromPublicKey(key) })
    const node = res.type === 'node' ? res.node : null
    if (!node || node.cluster !== a.clusterId) return null
    return decodeCertificate(node.certificate).publicKey.equals(Buffer.from(key)) ? node.ipv4 : null
  }

  private async renew(key: Uint8Array): Promise<JoinMessage> {
    const id = nodeIdFromPublicKey(key)
    const cp = this.opts.controlPlane
    const revoked = await cp.query({ type: 'revoked', subject: id })
    if (revoked.type === 'revoked' && revoked.revocation) {
      throw new JoinRefusal('REVOKED', `node ${id} is revoked: ${revoked.revocation.reason}`)
    }
    const res = await cp.query({ type: 'node', id })
    const record = res.type === 'node' ? res.node : null
    if (!record) throw new JoinRefusal('NOT_REGISTERED', `node ${id} is not registered; join with a token`)
    const old = decodeCertificate(record.certificate)
    this.checkIssuerRenews(key, old)
    const cert = this.issue({
      publicKey: old.publicKey,
      name: old.name,
      cluster: old.cluster,
      region: old.region,
      role: old.role,
      addresses: old.addresses,
      labels: old.labels,
    })
    if (cert.notAfter <= old.notAfter) {
      // An issuer's certificates end with its own: one that expires first cannot extend this one.
      throw new JoinRefusal(
        'NO_LEADER',
        `this control-plane node's certificate expires before ${old.nodeId}'s; ask another control-plane node`,
      )
    }
    await this.propose({ type: 'renewCertificate', id, certificate: encodeCertificate(cert) })
    return { type: 'renewed', certificate: encodeCertificate(cert) }
  }

  /**
   * What an issuer (not the root holder) leaves to others: its own certificate (it would lose its root
   * signature, and so its power to issue), and another issuer's while that has more than
   * ISSUER_RENEWAL_GRACE_MS left — those renew at the root holder while it is up, here only before they lapse.
   * Refused as NO_LEADER, which a renewing node takes as "ask the next control-plane node".
   */
  private checkIssuerRenews(key: Uint8Array, old: NodeCertificate): void {
    const signer = this.opts.signer
    if ('root' in signer) return
    if (Buffer.from(key).equals(Buffer.from(signer.issuerKey.publicKey))) {
      throw new JoinRefusal(
        'NO_LEADER',
        'an issuer does not renew its own certificate; ask another control-plane node',
      )
    }
    if (isIssuerCertificate(old) && old.notAfter - this.now() > ISSUER_RENEWAL_GRACE_MS) {
      throw new JoinRefusal(
        'NO_LEADER',
        `${old.nodeId} is an issuer: it renews at the root holder while its certificate has more than ${ISSUER_RENEWAL_GRACE_MS / 86_400_000} days left`,
      )
    }
  }

  /** Whether this service signs with the root key (else as an issuer, see CertificateSigner). */
  get signsWithRoot(): boolean {
    return 'root' in this.opts.signer
  }

  /**
   * Signs a certificate valid from now for the configured lifetime (an issuer's: no longer than its own),
   * with a serial that only grows.
   */
  issue(
    f: Pick<NodeCertificate, 'publicKey' | 'name' | 'cluster' | 'region' | 'role' | 'addresses'> & {
      labels?: Record<string, string>
    },
  ): NodeCertificate {
    const now = this.now()
    this.lastSerial = Math.max(this.lastSerial + 1, now)
    const req = {
      federationId: this.opts.federation.id,
      publicKey: f.publicKey,
      name: f.name,
      cluster: f.cluster,
      region: f.region,
      role: f.role,
      addresses: f.addresses,
      labels: f.labels ?? {},
      notBefore: now - 60_000,
      notAfter: now + (this.opts.certLifetimeMs ?? DEFAULT_CERT_LIFETIME_MS),
      serial: this.lastSerial,
    }
    const signer = this.opts.signer
    try {
      return 'root' in signer
        ? issueCertificate(req, signer.root)
        : issueDelegatedCertificate(req, signer.issuerKey, signer.issuerCertificate())
    } catch (err) {
      if (err instanceof TrustError) throw new JoinRefusal('PROTOCOL', err.message)
      throw err
    }
  }

  private async propose(
    cmd: Parameters<ControlPlane['propose']>[0],
  ): Promise<Extract<CommandResult, { ok: true }>> {
    let res: CommandResult
    try {
      res = await this.opts.controlPlane.propose(cmd)
    } catch (err) {
      if (err instanceof ControlPlaneError) {
        // Both are safe to repeat with the same token: a join whose entry did commit is answered again.
        throw new JoinRefusal(
          err.code === 'TIMEOUT' ? 'TIMEOUT' : 'NO_LEADER',
          `${err.message}; repeating the request is safe`,
        )
      }
      throw err
    }
    if (!res.ok) throw new JoinRefusal(REGISTRY_CODES[res.code] ?? 'INTERNAL', `${res.code}: ${res.message}`)
    return res
  }

  get rootFingerprint(): string {
    return fingerprint(this.opts.federation.rootPublicKey)
  }
}

function toRefusal(err: unknown): JoinRefusal {
  if (err instanceof JoinRefusal) return err
  return new JoinRefusal(
    'INTERNAL',
    `internal error: ${(err as Error)?.message ?? String(err)}`.slice(0, 500),
  )
}
