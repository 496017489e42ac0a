// The federation root holder's own place in the registry. The root holder certifies itself with the root key
// before its network starts: a replicated registry commits only once the mesh is up, and the mesh needs this
// node's certificate. What the registry must know about it — the federation, the clusters created before
// there was a control plane, its own cluster, and its node record at the address its certificate carries — is
// written afterwards through the ControlPlane: recordRootMember() is one idempotent attempt, RootRecorder
// repeats it with backoff until it succeeds. The join service admits nodes only once it has.

import { setTimeout as sleep } from 'node:timers/promises'
import { encodeCertificate, type NodeCertificate, newClusterId, randomBytes } from '../identity/index.js'
import {
  type Cluster,
  type CommandResult,
  formatIpv4,
  parseIpv4,
  type RegistryCommand,
  type RegistryRejectCode,
} from '../protocols/registry/index.js'
import type { ControlPlane } from './types.js'

export interface RootMember {
  readonly federation: { readonly id: string; readonly name: string; readonly createdAt: number }
  /** Clusters this node created without a control plane (clusters.json): recorded when missing. */
  readonly clusters: readonly Cluster[]
  /** This node's current certificate: its cluster (by name) is created when missing, its address kept. */
  readonly certificate: NodeCertificate
  /** Agent capacity of the cluster when it has to be created. */
  readonly capacity: number
  readonly now: number
}

/** What a retry cannot fix: the registry belongs to another federation, the node is revoked, ... */
export class RootMemberError extends Error {
  constructor(
    readonly code: 'OTHER_FEDERATION' | 'REVOKED' | 'ADDRESS_IN_USE' | 'INVALID',
    message: string,
  ) {
    super(message)
    this.name = 'RootMemberError'
  }
}

/** A rejection that a later attempt may not see (a concurrent writer), or a ControlPlaneError: try again. */
class Retry extends Error {}

const FATAL: Partial<Record<RegistryRejectCode, RootMemberError['code']>> = {
  REVOKED: 'REVOKED',
  ADDRESS_IN_USE: 'ADDRESS_IN_USE',
  INVALID: 'INVALID',
  ADDRESS_INVALID: 'INVALID',
}

async function write(
  cp: ControlPlane,
  cmd: RegistryCommand,
  fine: RegistryRejectCode[] = [],
): Promise<CommandResult> {
  const res = await cp.propose(cmd)
  if (res.ok || fine.includes(res.code)) return res
  const fatal = FATAL[res.code]
  if (fatal) throw new RootMemberError(fatal, `${cmd.type}: ${res.code}: ${res.message}`)
  throw new Retry(`${cmd.type}: ${res.code}: ${res.message}`)
}

/**
 * One attempt: reads what the registry holds (linearizable) and writes only what is missing. Resolves with
 * whether it wrote anything; rejects with RootMemberError when retrying cannot help, else with the error of
 * the step that failed (ControlPlaneError while there is no leader, ...).
 */
export async function recordRootMember(cp: ControlPlane, m: RootMember): Promise<'recorded' | 'present'> {
  let wrote = false
  let fq = await cp.query({ type: 'federation' })
  if (fq.type === 'federation' && fq.federation === null) {
    await write(cp, { type: 'initFederation', federation: m.federation }, ['FEDERATION_EXISTS'])
    wrote = true
    fq = await cp.query({ type: 'federation' })
  }
  const fed = fq.type === 'federation' ? fq.federation : null
  if (fed === null) throw new Retry('the registry has no federation record yet')
  if (fed.id !== m.federation.id) {
    throw new RootMemberError(
      'OTHER_FEDERATION',
      `the registry belongs to federation ${fed.id}, not ${m.federation.id}`,
    )
  }

  const cq = await cp.query({ type: 'clusters' })
  const known = cq.type === 'clusters' ? cq.clusters : []
  const byName = new Map(known.map((c) => [c.name, c.id]))
  const ids = new Set(known.map((c) => c.id))
  for (const c of m.clusters) {
    if (ids.has(c.id) || byName.has(c.name)) continue
    await write(cp, { type: 'addCluster', cluster: c }, ['CLUSTER_EXISTS', 'CLUSTER_NAME_TAKEN'])
    wrote = true
    byName.set(c.name, c.id)
  }
  const cert = m.certificate
  let clusterId = byName.get(cert.cluster)
  if (clusterId === undefined) {
    clusterId = newClusterId()
    const cluster: Cluster = {
      id: clusterId,
      name: cert.cluster,
      region: cert.region,
      role: cert.role,
      capacity: { agents: m.capacity, memoryMb: 0, gpu: 0 },
      labels: [],
      taints: [],
      cordoned: false,
    }
    // CLUSTER_NAME_TAKEN (someone else created it meanwhile) is a Retry: the next attempt finds its id.
    await write(cp, { type: 'addCluster', cluster })
    wrote = true
  }

  const ipv4 = cert.addresses.ipv4 !== undefined ? parseIpv4(cert.addresses.ipv4) : undefined
  if (ipv4 === undefined) throw new RootMemberError('INVALID', 'the certificate carries no mesh IPv4')
  const bytes = encodeCertificate(cert)
  const nq = await cp.query({ type: 'node', id: cert.nodeId })
  const record = nq.type === 'node' ? nq.node : null
  if (record !== null) {
    // Registered by an earlier attempt (or life): make the record match the certificate in use.
    if (record.ipv4 !== ipv4) {
      await write(cp, { type: 'assignIpv4', id: cert.nodeId, ipv4 })
      wrote = true
    }
    if (!Buffer.from(record.certificate).equals(Buffer.from(bytes))) {
      await write(cp, { type: 'renewCertificate', id: cert.nodeId, certificate: bytes })
      wrote = true
    }
    return wrote ? 'recorded' : 'present'
  }
  const owner = await cp.query({ type: 'nodeByIpv4', ipv4 })
  if (owner.type === 'node' && owner.node !== null && owner.node.id !== cert.nodeId) {
    throw new RootMemberError(
      'ADDRESS_IN_USE',
      `${formatIpv4(ipv4)} belongs to ${owner.node.id} in the registry`,
    )
  }
  // joinNode registers the node and its address in one entry; the nonce is random and never leaves here.
  const res = await write(cp, {
    type: 'joinNode',
    nonce: randomBytes(16),
    nonceExpiresAt: m.now + 3600_000,
    node: {
      id: cert.nodeId,
      cluster: clusterId,
      certificate: bytes,
      addresses: [],
      resources: { cpuMillis: 0, memoryMb: 0, gpu: 0 },
    },
    preferredIpv4: ipv4,
    at: m.now,
  })
  if (res.ok && res.ipv4 !== ipv4) {
    throw new RootMemberError(
      'ADDRESS_IN_USE',
      `the registry gave ${formatIpv4(res.ipv4)}, not ${formatIpv4(ipv4)}`,
    )
  }
  return 'recorded'
}

export interface RootRecorderOptions {
  attempt: () => Promise<'recorded' | 'present'>
  log: {
    info(obj: object, msg: string): void
    warn(obj: object, msg: string): void
    error(obj: object, msg: string): void
  }
  /** First pause after a failure; it doubles up to maxDelayMs (defaults 500 ms and 30 s). */
  minDelayMs?: number
  maxDelayMs?: number
}

/**
 * Repeats recordRootMember until it succeeds, a RootMemberError says it never will, or stop(). Pauses double
 * up to a bound and every failure is logged; there is no attempt limit, because the join service stays
 * closed until the registry knows this node.
 */
export class RootRecorder {
  private state: 'idle' | 'running' | 'done' | 'failed' | 'stopped' = 'idle'
  private reason = 'the registry does not know this federation yet'
  private readonly abort = new AbortController()
  attempts = 0

  constructor(private readonly opts: RootRecorderOptions) {}

  /** Why joins must wait, or null once the registry holds the federation and this node. */
  notReady(): string | null {
    if (this.state === 'done') return null
    return `the control plane is not ready to admit nodes (${this.reason}); try again shortly`
  }

  get done(): boolean {
    return this.state === 'done'
  }

  /** Starts the loop; the promise settles after the first attempt (recorded or not), never rejects. */
  start(): Promise<void> {
    if (this.state !== 'idle') return Promise.resolve()
    this.state = 'running'
    let first: () => void = () => {}
    const settled = new Promise<void>((resolve) => {
      first = resolve
    })
    void this.loop(first)
    return settled
  }

  stop(): void {
    if (this.state === 'running' || this.state === 'idle') this.state = 'stopped'
    this.abort.abort()
  }

  private async loop(first: () => void): Promise<void> {
    let delay = this.opts.minDelayMs ?? 500
    const max = this.opts.maxDelayMs ?? 30_000
    while (this.state === 'running') {
      this.attempts++
      try {
        const r = await this.opts.attempt()
        if (this.state !== 'running') break
        this.state = 'done'
        this.opts.log.info(
          { attempts: this.attempts, result: r },
          'registry holds the federation and this root holder',
        )
      } catch (err) {
        if (this.state !== 'running') break
        const e = err as Error & { code?: string }
        this.reason = e.message
        if (err instanceof RootMemberError) {
          this.state = 'failed'
          this.opts.log.error(
            { code: e.code, err: e.message },
            'the registry cannot record this root holder; joins stay closed',
          )
        } else {
          this.opts.log.warn(
            { attempt: this.attempts, code: e.code, err: e.message, retry_in_ms: delay },
            'could not record this root holder in the registry yet; will retry',
          )
        }
      }
      first()
      if (this.state !== 'running') break
      try {
        await sleep(delay, undefined, { signal: this.abort.signal, ref: false })
      } catch {
        break
      }
      delay = Math.min(max, delay * 2)
    }
    first()
  }
}
