// The registry's state and its one way to change: apply(command). Apply is a deterministic function of
// the state and the command — no clock, no randomness, iteration only in key order — because every Raft
// replica runs it and all must end in the same state. A command that would break an invariant (two nodes
// on one address, a spent nonce reused, a placement on a cordoned cluster) is rejected with a stable code
// and changes nothing.

import { hexEncode } from '../../wire/index.js'
import { nextFreeIpv4, usableIpv4 } from './ipv4.js'
import type {
  Agent,
  Cluster,
  CommandResult,
  Federation,
  NetworkPolicy,
  NodeRecord,
  Placement,
  RegistryCommand,
  RegistryRejectCode,
  Revocation,
} from './types.js'

const ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/
const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

/** Everything the registry holds. Maps are keyed by id; ipv4 maps each allocated address to its node. */
export class RegistryState {
  federation: Federation | null = null
  readonly clusters = new Map<string, Cluster>()
  readonly clusterByName = new Map<string, string>()
  readonly nodes = new Map<string, NodeRecord>()
  readonly ipv4 = new Map<number, string>()
  /** Spent join-token nonces (hex) → the token's expiry. */
  readonly nonces = new Map<string, number>()
  readonly revocations = new Map<string, Revocation>()
  readonly policies = new Map<string, NetworkPolicy>()
  readonly agents = new Map<string, Agent>()
  readonly placements = new Map<string, Placement>()
}

const OK: CommandResult = { ok: true, ipv4: 0 }

function reject(code: RegistryRejectCode, message: string): CommandResult {
  return { ok: false, code, message }
}

function badCluster(c: Cluster): string | undefined {
  if (!ID.test(c.id)) return `cluster id ${JSON.stringify(c.id)}`
  if (!NAME.test(c.name)) return `cluster name ${JSON.stringify(c.name)} is not a DNS label`
  if (!NAME.test(c.region)) return `region ${JSON.stringify(c.region)}`
  if (new Set(c.taints.map((t) => t.key)).size !== c.taints.length) return 'duplicate taint keys'
  return undefined
}

function badPolicy(p: NetworkPolicy): string | undefined {
  if (!NAME.test(p.name)) return `policy name ${JSON.stringify(p.name)}`
  if ((p.action === 'rateLimit') !== p.rateLimitRps > 0) return 'rateLimitRps is set exactly for rateLimit'
  return undefined
}

function smallest(ids: readonly string[]): string | undefined {
  let min: string | undefined
  for (const id of ids) if (min === undefined || id < min) min = id
  return min
}

/** Applies one command to `s` in place; the state is untouched when the result is a rejection. */
export function applyCommand(s: RegistryState, c: RegistryCommand): CommandResult {
  if (c.type === 'initFederation') {
    if (s.federation !== null) return reject('FEDERATION_EXISTS', `federation ${s.federation.id} exists`)
    if (!ID.test(c.federation.id) || !NAME.test(c.federation.name))
      return reject('INVALID', 'federation id or name')
    s.federation = c.federation
    return OK
  }
  if (s.federation === null) return reject('NO_FEDERATION', 'the federation is not initialised')
  switch (c.type) {
    case 'addCluster': {
      const bad = badCluster(c.cluster)
      if (bad) return reject('INVALID', bad)
      if (s.clusters.has(c.cluster.id)) return reject('CLUSTER_EXISTS', `cluster ${c.cluster.id} exists`)
      if (s.clusterByName.has(c.cluster.name))
        return reject('CLUSTER_NAME_TAKEN', `name ${c.cluster.name} is taken`)
      s.clusters.set(c.cluster.id, c.cluster)
      s.clusterByName.set(c.cluster.name, c.cluster.id)
      return OK
    }
    case 'updateCluster': {
      const old = s.clusters.get(c.cluster.id)
      if (old === undefined) return reject('CLUSTER_NOT_FOUND', `no cluster ${c.cluster.id}`)
      const bad = badCluster(c.cluster)
      if (bad) return reject('INVALID', bad)
      const owner = s.clusterByName.get(c.cluster.name)
      if (owner !== undefined && owner !== c.cluster.id)
        return reject('CLUSTER_NAME_TAKEN', `name ${c.cluster.name} is taken`)
      s.clusterByName.delete(old.name)
      s.clusters.set(c.cluster.id, c.cluster)
      s.clusterByName.set(c.cluster.name, c.cluster.id)
      return OK
    }
    case 'removeCluster': {
      const old = s.clusters.get(c.id)
      if (old === undefined) return reject('CLUSTER_NOT_FOUND', `no cluster ${c.id}`)
      // Name the smallest id, not the first found: map order differs between replicas (a restored
      // replica iterates in snapshot order), and results must be identical everywhere.
      const node = smallest([...s.nodes.values()].filter((n) => n.cluster === c.id).map((n) => n.id))
      if (node !== undefined) return reject('CLUSTER_NOT_EMPTY', `node ${node} is in it`)
      const agent = smallest([...s.placements.values()].filter((p) => p.cluster === c.id).map((p) => p.agent))
      if (agent !== undefined) return reject('CLUSTER_NOT_EMPTY', `agent ${agent} is placed there`)
      s.clusters.delete(c.id)
      s.clusterByName.delete(old.name)
      return OK
    }
    case 'cordonCluster': {
      const old = s.clusters.get(c.id)
      if (old === undefined) return reject('CLUSTER_NOT_FOUND', `no cluster ${c.id}`)
      s.clusters.set(c.id, { ...old, cordoned: c.cordoned })
      return OK
    }
    case 'joinNode':
      return joinNode(s, c)
    case 'removeNode': {
      if (!s.nodes.has(c.id)) return reject('NODE_NOT_FOUND', `no node ${c.id}`)
      removeNode(s, c.id)
      return OK
    }
    case 'renewCertificate': {
      const old = s.nodes.get(c.id)
      if (old === undefined) return reject('NODE_NOT_FOUND', `no node ${c.id}`)
      s.nodes.set(c.id, { ...old, certificate: c.certificate })
      return OK
    }
    case 'heartbeat': {
      const old = s.nodes.get(c.id)
      if (old === undefined) return reject('NODE_NOT_FOUND', `no node ${c.id}`)
      s.nodes.set(c.id, { ...old, resources: c.resources, lastHeartbeat: Math.max(old.lastHeartbeat, c.at) })
      return OK
    }
    case 'assignIpv4': {
      const old = s.nodes.get(c.id)
      if (old === undefined) return reject('NODE_NOT_FOUND', `no node ${c.id}`)
      if (!usableIpv4(c.ipv4)) return reject('ADDRESS_INVALID', 'not a usable address in 100.64.0.0/10')
      const owner = s.ipv4.get(c.ipv4)
      if (owner !== undefined && owner !== c.id)
        return reject('ADDRESS_IN_USE', `the address belongs to ${owner}`)
      s.ipv4.delete(old.ipv4)
      s.ipv4.set(c.ipv4, c.id)
      s.nodes.set(c.id, { ...old, ipv4: c.ipv4 })
      return { ok: true, ipv4: c.ipv4 }
    }
    case 'revoke': {
      const r = c.revocation
      if (!ID.test(r.subject)) return reject('INVALID', `subject ${JSON.stringify(r.subject)}`)
      // The first revocation stands; repeating it is harmless.
      if (!s.revocations.has(r.subject)) s.revocations.set(r.subject, r)
      if (s.nodes.has(r.subject)) removeNode(s, r.subject)
      return OK
    }
    case 'pruneNonces':
      for (const [nonce, expires] of [...s.nonces]) if (expires < c.before) s.nonces.delete(nonce)
      return OK
    case 'setPolicy': {
      const bad = badPolicy(c.policy)
      if (bad) return reject('INVALID', bad)
      s.policies.set(c.policy.name, c.policy)
      return OK
    }
    case 'removePolicy':
      if (!s.policies.delete(c.name)) return reject('POLICY_NOT_FOUND', `no policy ${c.name}`)
      return OK
    case 'registerAgent':
      if (!ID.test(c.agent.id)) return reject('INVALID', `agent id ${JSON.stringify(c.agent.id)}`)
      if (s.agents.has(c.agent.id)) return reject('AGENT_EXISTS', `agent ${c.agent.id} exists`)
      s.agents.set(c.agent.id, c.agent)
      return OK
    case 'removeAgent':
      if (!s.agents.delete(c.id)) return reject('AGENT_NOT_FOUND', `no agent ${c.id}`)
      s.placements.delete(c.id)
      return OK
    case 'place':
      return place(s, c)
    case 'unplace': {
      if (!s.agents.has(c.agent)) return reject('AGENT_NOT_FOUND', `no agent ${c.agent}`)
      const p = s.placements.get(c.agent)
      if (p === undefined) return OK
      if (c.epoch < p.epoch)
        return reject('STALE_EPOCH', `placement epoch ${p.epoch} is newer than ${c.epoch}`)
      s.placements.delete(c.agent)
      return OK
    }
  }
}

function joinNode(s: RegistryState, c: Extract<RegistryCommand, { type: 'joinNode' }>): CommandResult {
  const n = c.node
  if (!ID.test(n.id) || c.nonce.length < 8) return reject('INVALID', 'node id or nonce')
  const nonce = hexEncode(c.nonce)
  if (s.nonces.has(nonce)) return reject('NONCE_SPENT', 'the join token was already used')
  if (c.at > c.nonceExpiresAt) return reject('NONCE_EXPIRED', 'the join token expired')
  if (s.revocations.has(n.id)) return reject('REVOKED', `node ${n.id} is revoked`)
  if (s.nodes.has(n.id)) return reject('NODE_EXISTS', `node ${n.id} exists`)
  if (!s.clusters.has(n.cluster)) return reject('CLUSTER_NOT_FOUND', `no cluster ${n.cluster}`)
  const ipv4 =
    usableIpv4(c.preferredIpv4) && !s.ipv4.has(c.preferredIpv4)
      ? c.preferredIpv4
      : nextFreeIpv4(c.preferredIpv4, s.ipv4)
  if (ipv4 === undefined) return reject('POOL_EXHAUSTED', 'no free address in 100.64.0.0/10')
  s.nonces.set(nonce, c.nonceExpiresAt)
  s.nodes.set(n.id, { ...n, ipv4, joinedAt: c.at, lastHeartbeat: c.at })
  s.ipv4.set(ipv4, n.id)
  return { ok: true, ipv4 }
}

function removeNode(s: RegistryState, id: string): void {
  const n = s.nodes.get(id)!
  s.nodes.delete(id)
  s.ipv4.delete(n.ipv4)
  for (const [agent, p] of [...s.placements]) if (p.node === id) s.placements.set(agent, { ...p, node: null })
}

function place(s: RegistryState, c: Extract<RegistryCommand, { type: 'place' }>): CommandResult {
  const agent = s.agents.get(c.agent)
  if (agent === undefined) return reject('AGENT_NOT_FOUND', `no agent ${c.agent}`)
  const cluster = s.clusters.get(c.cluster)
  if (cluster === undefined) return reject('CLUSTER_NOT_FOUND', `no cluster ${c.cluster}`)
  if (c.node !== null && s.nodes.get(c.node)?.cluster !== c.cluster) {
    return reject('NODE_NOT_FOUND', `no node ${c.node} in cluster ${c.cluster}`)
  }
  const current = s.placements.get(c.agent)
  if (current !== undefined && c.epoch <= current.epoch) {
    return reject('STALE_EPOCH', `placement epoch ${current.epoch} is not older than ${c.epoch}`)
  }
  if (cluster.cordoned) return reject('CLUSTER_CORDONED', `cluster ${cluster.name} is cordoned`)
  for (const t of cluster.taints) {
    if (t.effect !== 'PreferNoSchedule' && !agent.tolerations.includes(t.key)) {
      return reject('TAINTED', `agent does not tolerate taint ${t.key}`)
    }
  }
  let agents = 1
  let memory = agent.requires.memoryMb
  let gpu = agent.requires.gpu
  for (const p of s.placements.values()) {
    if (p.cluster !== c.cluster || p.agent === c.agent) continue
    const other = s.agents.get(p.agent)!
    agents++
    memory += other.requires.memoryMb
    gpu += other.requires.gpu
  }
  const cap = cluster.capacity
  if (agents > cap.agents || (cap.memoryMb > 0 && memory > cap.memoryMb) || gpu > cap.gpu) {
    return reject('CAPACITY_EXCEEDED', `cluster ${cluster.name} has no room for ${c.agent}`)
  }
  s.placements.set(c.agent, { agent: c.agent, cluster: c.cluster, node: c.node, epoch: c.epoch, since: c.at })
  return OK
}

/** Why the state is inconsistent, or undefined. Cheap enough to run after every apply in the simulator. */
export function registryProblem(s: RegistryState): string | undefined {
  if (s.ipv4.size !== s.nodes.size) return `${s.ipv4.size} addresses allocated for ${s.nodes.size} nodes`
  for (const n of s.nodes.values()) {
    if (!usableIpv4(n.ipv4)) return `node ${n.id} has unusable address ${n.ipv4}`
    const owner = s.ipv4.get(n.ipv4)
    if (owner !== n.id) return `address ${n.ipv4} of ${n.id} is allocated to ${owner}`
    if (!s.clusters.has(n.cluster)) return `node ${n.id} is in missing cluster ${n.cluster}`
  }
  if (s.clusterByName.size !== s.clusters.size) return 'cluster name index out of step'
  for (const c of s.clusters.values())
    if (s.clusterByName.get(c.name) !== c.id) return `cluster ${c.id} name index`
  for (const p of s.placements.values()) {
    if (!s.agents.has(p.agent)) return `placement of missing agent ${p.agent}`
    if (!s.clusters.has(p.cluster)) return `agent ${p.agent} placed on missing cluster ${p.cluster}`
    if (p.node !== null && !s.nodes.has(p.node)) return `agent ${p.agent} placed on missing node ${p.node}`
  }
  return undefined
}
