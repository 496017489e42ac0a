// Federation operations this node performs with its own root key: `federation init` and
// `federation create-cluster`. Until the control plane (Raft registry) exists, the node holding the root key is
// the federation's authority and keeps the clusters it created in its state directory; the control-plane issue
// moves both operations into replicated registry commands.

import { promises as fs } from 'node:fs'
import path from 'node:path'
import { ApiError } from '../api/errors.js'
import type { ListClustersResponse } from '../client/control-types.js'
import type { CreateClusterRequest, CreateClusterResponse, FederationInfo } from '../client/types.js'
import { writeFileAtomic } from '../identity/files.js'
import {
  createJoinToken,
  type Federation,
  fingerprint,
  initFederation,
  type KeyPair,
  loadFederation,
  loadRootKey,
  newClusterId,
  newTokenNonce,
} from '../identity/index.js'

export interface ClusterRecord {
  id: string
  name: string
  region: string
  capacity: number
  role: 'primary' | 'secondary' | 'edge'
  created_at: string
}

const CLUSTER_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

export class LocalFederation {
  constructor(
    private readonly stateDir: string,
    private readonly controlPlane: string[],
    private readonly defaultTokenTtlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The federation this node belongs to or leads, or null before `federation init` / join. */
  async current(): Promise<Federation | null> {
    try {
      return await loadFederation(this.stateDir)
    } catch (err) {
      if ((err as { code?: string }).code === 'FEDERATION_NOT_FOUND') return null
      throw err
    }
  }

  async init(name: string): Promise<FederationInfo> {
    if (!CLUSTER_NAME.test(name)) {
      throw ApiError.invalid(
        `federation name "${name}" must be lowercase letters, digits and dashes (max 63)`,
      )
    }
    try {
      const fed = await initFederation(this.stateDir, name, this.now())
      return info(fed)
    } catch (err) {
      if ((err as { code?: string }).code === 'FEDERATION_EXISTS') {
        const fed = await this.current()
        throw ApiError.conflict(
          'FEDERATION_EXISTS',
          `this node already has federation "${fed?.name ?? '?'}" (${fed?.id ?? '?'})`,
        )
      }
      throw err
    }
  }

  async info(): Promise<FederationInfo> {
    const fed = await this.current()
    if (!fed)
      throw ApiError.conflict(
        'NO_FEDERATION',
        'this node has no federation yet; run `blackroad federation init --name NAME`',
      )
    return info(fed)
  }

  async createCluster(req: CreateClusterRequest): Promise<CreateClusterResponse> {
    if (!CLUSTER_NAME.test(req.name)) {
      throw ApiError.invalid(
        `cluster name "${req.name}" must be lowercase letters, digits and dashes (max 63)`,
      )
    }
    const fed = await this.current()
    if (!fed)
      throw ApiError.conflict(
        'NO_FEDERATION',
        'this node has no federation yet; run `blackroad federation init --name NAME`',
      )
    const root = await this.rootKey(fed)
    const clusters = await this.clusters()
    if (clusters.some((c) => c.name === req.name)) {
      throw ApiError.conflict(
        'CLUSTER_EXISTS',
        `cluster "${req.name}" already exists in federation ${fed.name}`,
      )
    }
    const now = this.now()
    const record: ClusterRecord = {
      id: newClusterId(),
      name: req.name,
      region: req.region,
      capacity: req.capacity,
      role: req.role ?? 'primary',
      created_at: new Date(now).toISOString(),
    }
    const ttlMs = req.ttl_seconds !== undefined ? req.ttl_seconds * 1000 : this.defaultTokenTtlMs
    const iat = Math.floor(now / 1000)
    const exp = iat + Math.max(1, Math.floor(ttlMs / 1000))
    const token = createJoinToken(
      {
        iss: fed.id,
        fed_name: fed.name,
        cluster: record.id,
        cluster_name: record.name,
        region: record.region,
        capacity: record.capacity,
        role: record.role,
        iat,
        nbf: iat,
        exp,
        jti: newTokenNonce(),
        cp: this.controlPlane,
        rfp: fingerprint(fed.rootPublicKey),
      },
      root,
    )
    await this.saveClusters([...clusters, record])
    return {
      cluster: {
        id: record.id,
        name: record.name,
        region: record.region,
        capacity: record.capacity,
        role: record.role,
      },
      join_token: token,
      expires_at: new Date(exp * 1000).toISOString(),
      control_plane: this.controlPlane,
    }
  }

  async clusters(): Promise<ClusterRecord[]> {
    try {
      return JSON.parse(await fs.readFile(this.clustersFile(), 'utf8')) as ClusterRecord[]
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
  }

  /** `federation list-clusters` on a node without a control plane: the clusters this node created. */
  async listClusters(): Promise<ListClustersResponse> {
    const clusters = (await this.clusters()).map((c) => ({
      id: c.id,
      name: c.name,
      region: c.region,
      role: c.role,
      capacity: c.capacity,
      cordoned: false,
    }))
    return { clusters, source: 'local', stale: false }
  }

  private async saveClusters(list: ClusterRecord[]): Promise<void> {
    await writeFileAtomic(this.clustersFile(), `${JSON.stringify(list, null, 2)}\n`)
  }

  private clustersFile(): string {
    return path.join(this.stateDir, 'clusters.json')
  }

  /** Only the node that ran `federation init` holds the root key; others must not invent one. */
  private async rootKey(fed: Federation): Promise<KeyPair> {
    try {
      return await loadRootKey(this.stateDir, fed)
    } catch (err) {
      if (
        (err as NodeJS.ErrnoException).code === 'ENOENT' ||
        (err as { code?: string }).code === 'KEY_FILE_NOT_FOUND'
      ) {
        throw ApiError.conflict(
          'NOT_FEDERATION_ROOT',
          'this node does not hold the federation root key; create clusters on the node that ran `federation init`',
        )
      }
      throw err
    }
  }
}

function info(fed: Federation): FederationInfo {
  return {
    id: fed.id,
    name: fed.name,
    root_fingerprint: fingerprint(fed.rootPublicKey),
    created_at: new Date(fed.createdAt).toISOString(),
  }
}
