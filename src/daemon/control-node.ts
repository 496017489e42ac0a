// The daemon's part in the federation lifecycle: it uses the control plane this node runs, runs the join
// listener where certificates can be issued, joins a federation on `federation join`, renews this node's
// certificate before it expires, and revokes nodes on `node revoke`. The protocols live in src/control; this
// file only wires them to the config, the state directory and the running network.
//
// One registry: `controlPlane` in ControlNodeOptions is this router's replica of the Raft registry when it runs
// one, and then joins (spent token nonces, registrations, IPv4 allocations), renewals and revocations all go
// through Raft. Only a root holder given none falls back to a single-replica registry in its state directory
// (LocalControlPlane). The root holder certifies itself before its network starts and records itself in the
// registry once that can commit (src/control/root-member.ts); joins wait for that.

import { promises as fs } from 'node:fs'
import path from 'node:path'
import type { Logger } from 'pino'
import { Counter, type Registry } from 'prom-client'
import { ApiError } from '../api/errors.js'
import type {
  FederationJoinRequest,
  FederationJoinResponse,
  RevokeNodeResponse,
} from '../client/control-types.js'
import type { Config } from '../config/index.js'
import { firstAnswer, JoinError, patiently, requestJoin, requestRenewal } from '../control/join-client.js'
import { JoinServer } from '../control/join-server.js'
import { type CertificateSigner, JoinService } from '../control/join-service.js'
import { LocalControlPlane } from '../control/local-control-plane.js'
import { RenewalTimer } from '../control/renew.js'
import { RootRecorder, recordRootMember } from '../control/root-member.js'
import type { ControlPlane } from '../control/types.js'
import { writeFileAtomic } from '../identity/files.js'
import {
  CONTROL_PLANE_CLUSTER,
  candidateIpv4,
  decodeCertificate,
  encodeCertificate,
  type Federation,
  isIssuerCertificate,
  type KeyPair,
  loadFederation,
  loadRootKey,
  meshIpv6,
  NODE_ID_PATTERN,
  type NodeCertificate,
  type Revocation,
  RevocationSet,
  randomBytes,
  revocationListCodec,
  type SignedRevocation,
  signRevocation,
  writeFederationFile,
} from '../identity/index.js'
import { type Cluster, formatIpv4, nextFreeIpv4, parseIpv4 } from '../protocols/registry/index.js'
import { decodeWith, encodeWith } from '../wire/index.js'
import type { ClusterRecord } from './federation-local.js'
import type { NetworkCore } from './network.js'
import { CERT_FILE, REVOCATIONS_FILE } from './trust.js'

/** The cluster the root holder certifies itself into (and whose root-signed members may issue). */
export { CONTROL_PLANE_CLUSTER }

/** What `federation join` learned besides the trust material: where to renew, whom to ask first. */
export const JOIN_FILE = 'join.json'

export interface JoinHints {
  control_plane: string[]
  bootstrap: string[]
  static_peers: string[]
  /**
   * The Raft voters (node ids, leader first) when this node joined: its control-plane replica starts from
   * them (control-plane.ts). Empty when the federation had no Raft control plane, or for an older join.json.
   */
  voters: string[]
}

/** join.json, or empty hints when there is none (never joined, or a root holder). */
export async function readJoinHints(stateDir: string): Promise<JoinHints> {
  try {
    const h = JSON.parse(await fs.readFile(path.join(stateDir, JOIN_FILE), 'utf8')) as Partial<JoinHints>
    const list = (v: unknown): string[] =>
      Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
    return {
      control_plane: list(h.control_plane),
      bootstrap: list(h.bootstrap),
      static_peers: list(h.static_peers),
      voters: list(h.voters),
    }
  } catch {
    return { control_plane: [], bootstrap: [], static_peers: [], voters: [] }
  }
}

export interface ControlNodeOptions {
  config: Config
  logger: Logger
  registry: Registry
  nodeKey: KeyPair
  nodeId: string
  /** This router's replica of the Raft registry if it runs one; null = a local registry on a root holder. */
  controlPlane: ControlPlane | null
}

export class ControlNode {
  private cp: ControlPlane | null
  private local: LocalControlPlane | null = null
  private root: KeyPair | null = null
  private fed: Federation | null = null
  private service: JoinService | null = null
  private server: JoinServer | null = null
  private renewal: RenewalTimer | null = null
  private recorder: RootRecorder | null = null
  private net: NetworkCore | null = null
  private offApplied: (() => void) | null = null
  private readonly log: Logger
  private readonly joins: Counter<'result'>
  private readonly renewals: Counter<'result'>

  constructor(private readonly opts: ControlNodeOptions) {
    this.cp = opts.controlPlane
    this.log = opts.logger.child({ subsystem: 'control' })
    this.joins = new Counter({
      name: 'blackroad_federation_join_attempts_total',
      help: '`federation join` attempts of this node, by result (ok or error code)',
      labelNames: ['result'],
      registers: [opts.registry],
    })
    this.renewals = new Counter({
      name: 'blackroad_certificate_renewals_total',
      help: "Renewals of this node's certificate, by result (ok or error code)",
      labelNames: ['result'],
      registers: [opts.registry],
    })
  }

  private get stateDir(): string {
    return this.opts.config.node.state_dir
  }

  /**
   * Before the network starts: on a node that holds the federation root key and is a control-plane node (config
   * node.control_plane) or runs a replica of the registry, make sure this node itself is a certified member, so
   * it enters the mesh like every other node. Returns whether it did (a root holder with neither only signs
   * tokens).
   */
  async start(): Promise<boolean> {
    if (!this.opts.config.node.control_plane && !this.cp) return false
    await this.loadRoot()
    if (!this.root || !this.fed) return false
    await this.enrolSelf()
    return true
  }

  /**
   * The Raft replica opened after this object was made (on `federation init` or `federation join`): use it.
   * Call before federationCreated(), so a root holder never falls back to a local registry beside it.
   */
  useControlPlane(cp: ControlPlane): void {
    if (this.local || this.service) return
    this.cp = cp
  }

  /** After `federation init`: a control-plane root holder becomes the federation's first member. */
  federationCreated(): Promise<boolean> {
    return this.start()
  }

  /** The network is up: listen for joins (if we can issue), renew our certificate on time, enforce revocations. */
  async attach(net: NetworkCore): Promise<void> {
    this.net = net
    if (this.cp && this.root && this.fed) {
      await this.serveJoins(this.joinService({ root: this.root }, this.fed, await this.secret()))
    } else {
      await this.serveAsIssuer()
    }
    if (this.cp && this.service) {
      this.offApplied = this.cp.onApplied((cmd, res) => {
        // A revocation committed elsewhere (another voter's CLI): sign it and flood it, as for our own.
        const sign = this.revocationSigner()
        if (cmd.type === 'revoke' && res.ok && sign) {
          const r = cmd.revocation
          this.net?.revocations.add(sign({ nodeId: r.subject, reason: r.reason, revokedAt: r.at }))
        }
      })
    }
    const rot = this.opts.config.tls.rotation
    if (rot.enabled) {
      this.renewal = new RenewalTimer({
        renewBeforeMs: rot.renew_before_expiry,
        checkIntervalMs: rot.check_interval,
        current: () => net.certificate,
        renew: async () => {
          await this.renewNow()
        },
        onError: (err, failures, retryInMs) => {
          this.renewals.inc({ result: (err as { code?: string }).code ?? 'ERROR' })
          this.log.warn(
            { err: (err as Error).message, failures, retry_in_ms: retryInMs },
            'certificate renewal failed; will retry',
          )
        },
        onRenewed: () => this.renewals.inc({ result: 'ok' }),
      })
      this.renewal.start()
    }
  }

  async stop(): Promise<void> {
    this.recorder?.stop()
    this.renewal?.stop()
    this.offApplied?.()
    await this.server?.close()
    await this.local?.close()
  }

  /** Why the join service must refuse joins for now (NO_LEADER, retryable), or null when it admits them. */
  joinsWait(): string | null {
    if (this.recorder) return this.recorder.notReady()
    if (this.service && !this.service.signsWithRoot) {
      if (!this.net || !isIssuerCertificate(this.net.certificate)) {
        return "this node's certificate no longer lets it issue certificates; ask another control-plane node"
      }
      const fed = this.cp?.local()?.federation
      if (!fed) return 'the registry does not hold the federation yet; try again shortly'
      return null
    }
    return 'the control plane is starting; try again shortly'
  }

  /** Renews this node's certificate now: locally on the root holder, else over the join channel. */
  async renewNow(): Promise<NodeCertificate> {
    const net = this.net
    if (!net) throw ApiError.conflict('NOT_JOINED', 'this node is not in a mesh')
    let cert: NodeCertificate
    let bytes: Uint8Array
    if (this.service?.signsWithRoot) {
      const old = net.certificate
      cert = this.service.issue({ ...old, labels: old.labels })
      bytes = encodeCertificate(cert)
      const res = await this.cp!.propose({
        type: 'renewCertificate',
        id: this.opts.nodeId,
        certificate: bytes,
      })
      if (!res.ok) throw Object.assign(new Error(res.message), { code: res.code })
    } else {
      const fed = await loadFederation(this.stateDir)
      const endpoints = (await this.hints()).control_plane
      if (endpoints.length === 0)
        throw Object.assign(new Error('no control-plane endpoint known (join.json)'), {
          code: 'NO_CONTROL_PLANE',
        })
      const got = await firstAnswer(endpoints, (endpoint) =>
        requestRenewal({
          endpoint,
          nodeKey: this.opts.nodeKey,
          rootPublicKey: fed.rootPublicKey,
          federationId: fed.id,
        }),
      )
      cert = got.cert
      bytes = got.bytes
    }
    // Disk first: a restart right after must come back with the new certificate, not the old one.
    await writeFileAtomic(path.join(this.stateDir, CERT_FILE), bytes)
    net.installCertificate(cert, bytes)
    this.log.info(
      { serial: cert.serial, not_after: new Date(cert.notAfter).toISOString() },
      'certificate renewed',
    )
    return cert
  }

  /** `federation join`: proves the token, writes the trust material (0600, atomically), and returns. */
  async join(req: FederationJoinRequest): Promise<FederationJoinResponse & { hints: JoinHints }> {
    if (this.net || (await exists(path.join(this.stateDir, CERT_FILE)))) {
      throw ApiError.conflict(
        'ALREADY_JOINED',
        `this node already has a certificate (${this.stateDir}/${CERT_FILE}); it is a member`,
      )
    }
    let res: Awaited<ReturnType<typeof requestJoin>>
    try {
      // A control plane still electing its leader (or busy past its timeout) is asked again, for a while.
      res = await patiently(() =>
        requestJoin({
          endpoint: req.control_plane,
          token: req.token,
          clusterName: req.cluster_name,
          ...(req.cluster_type ? { clusterType: req.cluster_type } : {}),
          name: this.opts.config.node.name,
          nodeKey: this.opts.nodeKey,
        }),
      )
    } catch (err) {
      if (err instanceof JoinError) {
        this.joins.inc({ result: err.code })
        throw joinApiError(err)
      }
      throw err
    }
    const existing = await loadFederation(this.stateDir).catch(() => null)
    if (existing && existing.id !== res.federation.id) {
      this.joins.inc({ result: 'OTHER_FEDERATION' })
      throw ApiError.conflict('OTHER_FEDERATION', `this node already belongs to federation ${existing.id}`)
    }
    const fed: Federation = {
      id: res.federation.id,
      name: res.federation.name,
      rootPublicKey: Buffer.from(res.rootPublicKey),
      createdAt: res.federation.createdAt,
    }
    const hints: JoinHints = {
      control_plane: unique([req.control_plane, ...res.controlPlane]),
      bootstrap: res.bootstrap,
      static_peers: res.staticPeers,
      voters: res.voters,
    }
    if (!existing) await writeFederationFile(this.stateDir, fed, { overwrite: true })
    await writeFileAtomic(this.opts.config.discovery.federation_secret_file, res.secret)
    await writeFileAtomic(
      path.join(this.stateDir, REVOCATIONS_FILE),
      encodeWith(revocationListCodec, res.revocations),
    )
    await writeFileAtomic(path.join(this.stateDir, JOIN_FILE), `${JSON.stringify(hints, null, 2)}\n`)
    // The certificate last: its presence is what tells the daemon (and a restart) that the node is a member.
    await writeFileAtomic(path.join(this.stateDir, CERT_FILE), res.certificate)
    this.joins.inc({ result: 'ok' })
    this.log.info(
      { federation: fed.id, cluster: res.claims.cluster_name, ipv4: res.ipv4 },
      'joined the federation',
    )
    return {
      node_id: this.opts.nodeId,
      federation: { id: fed.id, name: fed.name },
      cluster: {
        id: res.claims.cluster,
        name: res.claims.cluster_name,
        region: res.claims.region,
        role: res.claims.role,
      },
      mesh_ipv4: res.ipv4,
      mesh_ipv6: res.ipv6,
      certificate_expires_at: new Date(res.cert.notAfter).toISOString(),
      mesh: 'standalone',
      hints,
    }
  }

  /** `node revoke`: commits the revocation, signs it with the root key and floods it to every router. */
  async revoke(nodeId: string, reason: string): Promise<RevokeNodeResponse> {
    if (!NODE_ID_PATTERN.test(nodeId))
      throw ApiError.invalid(`"${nodeId}" is not a node id (node_ followed by 16 base32 letters)`)
    const sign = this.revocationSigner()
    if (!this.cp || !sign) {
      throw ApiError.conflict(
        'NOT_CONTROL_PLANE',
        'revoke on a control-plane node: the root key holder, or a voter whose certificate the root signed',
      )
    }
    if (nodeId === this.opts.nodeId) throw ApiError.invalid('a node cannot revoke itself')
    const before = await this.cp.query({ type: 'node', id: nodeId })
    const at = Date.now()
    const res = await this.cp.propose({ type: 'revoke', revocation: { subject: nodeId, reason, at } })
    if (!res.ok) throw ApiError.conflict(res.code, res.message)
    const signed = sign({ nodeId, reason, revokedAt: at })
    if (this.net) {
      // The onApplied listener has usually flooded it already; adding it twice would only count a duplicate.
      if (!this.net.revocations.entries().some((r) => r.nodeId === nodeId && r.serial === undefined)) {
        this.net.revocations.add(signed)
      }
      await this.net.revocations.flushed()
    } else {
      await this.persistRevocation(signed)
    }
    this.log.warn({ node: nodeId, reason }, 'node revoked')
    return {
      node_id: nodeId,
      revoked_at: new Date(at).toISOString(),
      was_registered: before.type === 'node' && before.node !== null,
    }
  }

  /** Signs revocations with the root key, or as an issuer (see serveAsIssuer); null when this node can do neither. */
  private revocationSigner(): ((rev: Revocation) => SignedRevocation) | null {
    const root = this.root
    if (root) return (rev) => signRevocation(rev, root)
    const net = this.net
    if (!this.service || !net || !isIssuerCertificate(net.certificate)) return null
    return (rev) => signRevocation(rev, this.opts.nodeKey, net.certificate)
  }

  /**
   * A cluster `create-cluster` made without a Raft control plane (clusters.json): the local registry must know
   * it for the token's join to succeed. With Raft, create-cluster writes the registry itself.
   */
  async clusterCreated(c: ClusterRecord): Promise<void> {
    if (!this.local) return
    await this.addCluster(c.id, c.name, c.region, c.role, c.capacity)
  }

  /** Refuses a cluster name the local registry already has (e.g. the root holder's own cluster). */
  checkClusterName(name: string): void {
    const taken = this.local?.local().clusterByName.has(name)
    if (taken) throw ApiError.conflict('CLUSTER_EXISTS', `cluster "${name}" already exists in the registry`)
  }

  hints(): Promise<JoinHints> {
    return readJoinHints(this.stateDir)
  }

  private async loadRoot(): Promise<void> {
    const fed = await loadFederation(this.stateDir).catch(() => null)
    if (!fed) return
    try {
      this.root = await loadRootKey(this.stateDir, fed)
    } catch {
      return
    }
    this.fed = fed
    if (!this.cp) {
      this.local = await LocalControlPlane.open(this.stateDir, this.opts.nodeId)
      this.cp = this.local
      this.log.info(
        'this node holds the federation root key: running the local (single-replica) control plane',
      )
    }
  }

  /**
   * A control-plane voter without the root key whose certificate is root-signed for the control-plane cluster
   * (an issuer, see certificate.ts) answers joins and renewals too, signing as that issuer: the federation
   * keeps admitting and renewing nodes while the root holder is down. Joins wait (NO_LEADER, retryable) until
   * the registry holds the federation; the node stops signing if its certificate stops being an issuer's.
   */
  private async serveAsIssuer(): Promise<void> {
    const net = this.net
    if (!net || !this.cp || this.local || this.service || !isIssuerCertificate(net.certificate)) return
    const fed = await loadFederation(this.stateDir).catch(() => null)
    const secret = await fs.readFile(this.opts.config.discovery.federation_secret_file).catch(() => null)
    if (!fed || !secret) return
    this.fed = fed
    const service = this.joinService(
      { issuerKey: this.opts.nodeKey, issuerCertificate: () => net.certificate },
      fed,
      secret,
      await this.hints(),
    )
    await this.serveJoins(service)
  }

  private async serveJoins(service: JoinService): Promise<void> {
    const [host, port] = splitListen(this.opts.config.federation.join_listen)
    const server = new JoinServer({
      service,
      nodeKey: this.opts.nodeKey,
      host,
      port,
      registry: this.opts.registry,
      logger: this.log,
    })
    try {
      const addr = await server.listen()
      this.server = server
      this.log.info(
        { listen: `${addr.address}:${addr.port}`, signs_as: service.signsWithRoot ? 'root' : 'issuer' },
        'join service listening (TLS 1.3)',
      )
    } catch (err) {
      this.log.error(
        { err, listen: this.opts.config.federation.join_listen },
        'join service could not listen; joins go elsewhere',
      )
    }
  }

  /**
   * The join service, made once. `learned`: what this node's own join told it (join.json); where its config
   * names no bootstrap nodes, static peers or control-plane endpoints, joining nodes get those instead, so a
   * voter that joined with nothing but a token hands out what it uses itself.
   */
  private joinService(
    signer: CertificateSigner,
    fed: Federation,
    secret: Uint8Array,
    learned: JoinHints = { control_plane: [], bootstrap: [], static_peers: [], voters: [] },
  ): JoinService {
    if (this.service) return this.service
    const cfg = this.opts.config
    const or = (configured: string[], hinted: string[]) => (configured.length > 0 ? configured : hinted)
    this.service = new JoinService({
      controlPlane: this.cp!,
      signer,
      federation: fed,
      certificate: () => (this.net ? encodeCertificate(this.net.certificate) : new Uint8Array()),
      secret,
      revocations: () => this.net?.revocations.entries() ?? [],
      isRevoked: (c) => this.net?.revocations.isRevoked(c) ?? false,
      controlPlaneEndpoints: () => or(cfg.federation.control_plane, learned.control_plane),
      bootstrap: () => or(cfg.discovery.bootstrap, learned.bootstrap),
      staticPeers: () => or(cfg.discovery.static_peers, learned.static_peers),
      // A Raft control plane's voters, so a joining node follows it (and never founds one of its own); none
      // for the local single-replica registry, which nobody else can replicate.
      voters: () => (this.local ? [] : [...(this.cp?.status().voters ?? [])]),
      notReady: () => this.joinsWait(),
    })
    return this.service
  }

  private async secret(): Promise<Uint8Array> {
    const file = this.opts.config.discovery.federation_secret_file
    try {
      return await fs.readFile(file)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    const secret = randomBytes(32)
    await writeFileAtomic(file, secret)
    return secret
  }

  private async addCluster(
    id: string,
    name: string,
    region: string,
    role: ClusterRecord['role'],
    agents: number,
  ): Promise<void> {
    const state = this.cp!.local()
    if (state?.clusters.has(id)) return
    const res = await this.cp!.propose({
      type: 'addCluster',
      cluster: {
        id,
        name,
        region,
        role,
        capacity: { agents, memoryMb: 0, gpu: 0 },
        labels: [],
        taints: [],
        cordoned: false,
      },
    })
    if (!res.ok)
      this.log.warn({ cluster: name, code: res.code, message: res.message }, 'registry refused a cluster')
  }

  /**
   * The root holder's own membership. Without a certificate it certifies itself with the root key (it signs
   * every certificate anyway), so its network can start before the registry can commit: a replicated one
   * commits only once the mesh is up, and the mesh needs this certificate. The registry learns the federation,
   * the clusters and this node afterwards, retried with backoff; a single voter commits at once, so then it is
   * done (or has failed once) before start() returns.
   */
  private async enrolSelf(): Promise<void> {
    const cp = this.cp!
    const fed = this.fed!
    const secret = await this.secret()
    if (!(await exists(path.join(this.stateDir, REVOCATIONS_FILE)))) {
      await writeFileAtomic(path.join(this.stateDir, REVOCATIONS_FILE), encodeWith(revocationListCodec, []))
    }
    const service = this.joinService({ root: this.root! }, fed, secret)
    const cfg = this.opts.config
    const certFile = path.join(this.stateDir, CERT_FILE)
    if (!(await exists(certFile))) {
      // A cluster of its own, so `create-cluster` stays free for every name operators choose (including this
      // node's configured cluster, whose token it cannot otherwise hand out).
      const key = this.opts.nodeKey.publicKey
      const cert = service.issue({
        publicKey: key,
        name: cfg.node.name,
        cluster: CONTROL_PLANE_CLUSTER,
        region: cfg.cluster.region ?? 'local',
        role: 'primary',
        addresses: { ipv4: this.ownIpv4(), ipv6: meshIpv6(fed.id, key) },
      })
      await writeFileAtomic(certFile, encodeCertificate(cert))
      this.log.info(
        { ipv4: cert.addresses.ipv4, cluster: CONTROL_PLANE_CLUSTER },
        'root holder certified itself as a federation member',
      )
    }
    if (this.recorder) return
    this.recorder = new RootRecorder({
      attempt: async () =>
        recordRootMember(cp, {
          federation: { id: fed.id, name: fed.name, createdAt: fed.createdAt },
          clusters: (await readClusters(this.stateDir)).map(clusterOf),
          certificate: this.net?.certificate ?? decodeCertificate(await fs.readFile(certFile)),
          capacity: cfg.resources.max_agents,
          now: Date.now(),
        }),
      log: this.log,
    })
    const first = this.recorder.start()
    const st = cp.status()
    if (st.voters.length === 1 && st.voters[0] === this.opts.nodeId) await first
  }

  /** The key's candidate IPv4, unless this router's copy of the registry gives it to another node. */
  private ownIpv4(): string {
    const state = this.cp?.local()
    const own = state?.nodes.get(this.opts.nodeId)
    if (own) return formatIpv4(own.ipv4)
    const candidate = parseIpv4(candidateIpv4(this.opts.nodeKey.publicKey))!
    if (!state?.ipv4.has(candidate)) return formatIpv4(candidate)
    return formatIpv4(nextFreeIpv4(candidate, state.ipv4) ?? candidate)
  }

  private async persistRevocation(rev: SignedRevocation): Promise<void> {
    const file = path.join(this.stateDir, REVOCATIONS_FILE)
    const set = new RevocationSet(this.fed!.rootPublicKey)
    const bytes = await fs.readFile(file).catch(() => null)
    if (bytes) for (const r of decodeWith(revocationListCodec, bytes)) set.add(r)
    set.add(rev)
    await writeFileAtomic(file, encodeWith(revocationListCodec, [...set.entries()]))
  }
}

function joinApiError(err: JoinError): ApiError {
  if (err.code === 'UNREACHABLE') return ApiError.unavailable(err.code, err.message)
  if (err.code === 'BAD_ENDPOINT' || err.code === 'CLUSTER_MISMATCH' || err.code === 'TOKEN_MALFORMED') {
    return new ApiError(400, err.code, err.message)
  }
  if (err.code === 'UNTRUSTED_CONTROL_PLANE' || err.code === 'BAD_REPLY')
    return new ApiError(502, err.code, err.message)
  return new ApiError(403, err.code, err.message)
}

function splitListen(s: string): [string, number] {
  const i = s.lastIndexOf(':')
  return [s.slice(0, i).replace(/^\[|\]$/g, ''), Number(s.slice(i + 1))]
}

function unique(list: string[]): string[] {
  return [...new Set(list)]
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file)
    return true
  } catch {
    return false
  }
}

function clusterOf(c: ClusterRecord): Cluster {
  return {
    id: c.id,
    name: c.name,
    region: c.region,
    role: c.role,
    capacity: { agents: c.capacity, memoryMb: 0, gpu: 0 },
    labels: [],
    taints: [],
    cordoned: false,
  }
}

async function readClusters(stateDir: string): Promise<ClusterRecord[]> {
  try {
    return JSON.parse(await fs.readFile(path.join(stateDir, 'clusters.json'), 'utf8')) as ClusterRecord[]
  } catch {
    return []
  }
}
