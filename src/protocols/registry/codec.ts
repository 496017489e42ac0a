// Codecs for the registry's records, shared by commands, query results and snapshots so each record has
// exactly one encoding. Every length is capped; label sets must be sorted by key (one set, one encoding).
// Decoders check structure only — whether a record makes sense in the registry is apply's business.

import type { Codec, Reader, Writer } from '../../wire/index.js'
import { DecodeError, EncodeError } from '../../wire/index.js'
import {
  type Agent,
  type Capacity,
  CLUSTER_ROLES,
  type Cluster,
  type Federation,
  type JoiningNode,
  type Labels,
  type NetworkPolicy,
  type NodeRecord,
  type Placement,
  POLICY_ACTIONS,
  type Resources,
  type Revocation,
  TAINT_EFFECTS,
  type Taint,
} from './types.js'

export const REGISTRY_LIMITS = {
  textBytes: 256,
  labels: 64,
  taints: 32,
  addresses: 16,
  listItems: 256,
  certificateBytes: 8192,
  specBytes: 64 * 1024,
  nonceBytes: 64,
} as const

export function writeText(w: Writer, s: string): void {
  w.string(s)
}
export function readText(r: Reader): string {
  return r.string(REGISTRY_LIMITS.textBytes)
}

export function writeEnum<T>(w: Writer, list: readonly T[], v: T): void {
  const i = list.indexOf(v)
  if (i < 0) throw new EncodeError(`value ${String(v)} is not one of ${list.join(', ')}`)
  w.u8(i)
}
export function readEnum<T>(r: Reader, list: readonly T[], what: string): T {
  const at = r.offset
  const v = list[r.u8()]
  if (v === undefined) throw new DecodeError('unknown-tag', `unknown ${what}`, at)
  return v
}

export function writeList<T>(w: Writer, list: readonly T[], item: (w: Writer, v: T) => void): void {
  w.varint(list.length)
  for (const v of list) item(w, v)
}
export function readList<T>(r: Reader, max: number, item: (r: Reader) => T): T[] {
  const n = r.count(max)
  const out: T[] = []
  for (let i = 0; i < n; i++) out.push(item(r))
  return out
}

export function writeOptionalText(w: Writer, s: string | null): void {
  w.bool(s !== null)
  if (s !== null) w.string(s)
}
export function readOptionalText(r: Reader): string | null {
  return r.bool() ? readText(r) : null
}

export const labelsCodec: Codec<Labels> = {
  encode(w, labels) {
    writeList(w, labels, (w, [k, v]) => {
      w.string(k)
      w.string(v)
    })
  },
  decode(r) {
    const at = r.offset
    const out = readList(r, REGISTRY_LIMITS.labels, (r) => [readText(r), readText(r)] as const)
    for (let i = 1; i < out.length; i++) {
      if (!(out[i - 1]![0] < out[i]![0]))
        throw new DecodeError('non-canonical', 'labels must be sorted by key', at)
    }
    return out
  },
}

/** Labels from a plain object, in canonical order. */
export function labelsOf(o: Readonly<Record<string, string>>): Labels {
  return Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

const taintCodec: Codec<Taint> = {
  encode(w, t) {
    w.string(t.key).string(t.value)
    writeEnum(w, TAINT_EFFECTS, t.effect)
  },
  decode(r) {
    return { key: readText(r), value: readText(r), effect: readEnum(r, TAINT_EFFECTS, 'taint effect') }
  },
}

export const capacityCodec: Codec<Capacity> = {
  encode(w, c) {
    w.varint(c.agents).varint(c.memoryMb).varint(c.gpu)
  },
  decode(r) {
    return { agents: r.varint(), memoryMb: r.varint(), gpu: r.varint() }
  },
}

export const resourcesCodec: Codec<Resources> = {
  encode(w, x) {
    w.varint(x.cpuMillis).varint(x.memoryMb).varint(x.gpu)
  },
  decode(r) {
    return { cpuMillis: r.varint(), memoryMb: r.varint(), gpu: r.varint() }
  },
}

export const federationCodec: Codec<Federation> = {
  encode(w, f) {
    w.string(f.id).string(f.name).varint(f.createdAt)
  },
  decode(r) {
    return { id: readText(r), name: readText(r), createdAt: r.varint() }
  },
}

export const clusterCodec: Codec<Cluster> = {
  encode(w, c) {
    w.string(c.id).string(c.name).string(c.region)
    writeEnum(w, CLUSTER_ROLES, c.role)
    capacityCodec.encode(w, c.capacity)
    labelsCodec.encode(w, c.labels)
    writeList(w, c.taints, taintCodec.encode)
    w.bool(c.cordoned)
  },
  decode(r) {
    return {
      id: readText(r),
      name: readText(r),
      region: readText(r),
      role: readEnum(r, CLUSTER_ROLES, 'cluster role'),
      capacity: capacityCodec.decode(r),
      labels: labelsCodec.decode(r),
      taints: readList(r, REGISTRY_LIMITS.taints, taintCodec.decode),
      cordoned: r.bool(),
    }
  },
}

export const joiningNodeCodec: Codec<JoiningNode> = {
  encode(w, n) {
    w.string(n.id).string(n.cluster).bytes(n.certificate)
    writeList(w, n.addresses, writeText)
    resourcesCodec.encode(w, n.resources)
  },
  decode(r) {
    return {
      id: readText(r),
      cluster: readText(r),
      certificate: r.bytes(REGISTRY_LIMITS.certificateBytes).slice(),
      addresses: readList(r, REGISTRY_LIMITS.addresses, readText),
      resources: resourcesCodec.decode(r),
    }
  },
}

export const nodeCodec: Codec<NodeRecord> = {
  encode(w, n) {
    joiningNodeCodec.encode(w, n)
    w.u32(n.ipv4).varint(n.joinedAt).varint(n.lastHeartbeat)
  },
  decode(r) {
    const j = joiningNodeCodec.decode(r)
    return { ...j, ipv4: r.u32(), joinedAt: r.varint(), lastHeartbeat: r.varint() }
  },
}

export const revocationCodec: Codec<Revocation> = {
  encode(w, x) {
    w.string(x.subject).string(x.reason).varint(x.at)
  },
  decode(r) {
    return { subject: readText(r), reason: readText(r), at: r.varint() }
  },
}

export const policyCodec: Codec<NetworkPolicy> = {
  encode(w, p) {
    w.string(p.name)
    for (const list of [p.sourceClusters, p.destinationClusters, p.sourceAgents, p.destinationAgents]) {
      writeList(w, list, writeText)
    }
    writeEnum(w, POLICY_ACTIONS, p.action)
    w.varint(p.rateLimitRps).bool(p.encrypt).varint(p.maxLatencyMs)
  },
  decode(r) {
    const name = readText(r)
    const lists = [0, 1, 2, 3].map(() => readList(r, REGISTRY_LIMITS.listItems, readText))
    return {
      name,
      sourceClusters: lists[0]!,
      destinationClusters: lists[1]!,
      sourceAgents: lists[2]!,
      destinationAgents: lists[3]!,
      action: readEnum(r, POLICY_ACTIONS, 'policy action'),
      rateLimitRps: r.varint(),
      encrypt: r.bool(),
      maxLatencyMs: r.varint(),
    }
  },
}

export const agentCodec: Codec<Agent> = {
  encode(w, a) {
    w.string(a.id).string(a.name)
    labelsCodec.encode(w, a.labels)
    resourcesCodec.encode(w, a.requires)
    writeList(w, a.tolerations, writeText)
    w.bytes(a.spec)
  },
  decode(r) {
    return {
      id: readText(r),
      name: readText(r),
      labels: labelsCodec.decode(r),
      requires: resourcesCodec.decode(r),
      tolerations: readList(r, REGISTRY_LIMITS.listItems, readText),
      spec: r.bytes(REGISTRY_LIMITS.specBytes).slice(),
    }
  },
}

export const placementCodec: Codec<Placement> = {
  encode(w, p) {
    w.string(p.agent).string(p.cluster)
    writeOptionalText(w, p.node)
    w.varint(p.epoch).varint(p.since)
  },
  decode(r) {
    return {
      agent: readText(r),
      cluster: readText(r),
      node: readOptionalText(r),
      epoch: r.varint(),
      since: r.varint(),
    }
  },
}

/** `null` or a record. */
export function optionalCodec<T>(inner: Codec<T>): Codec<T | null> {
  return {
    encode(w, v) {
      w.bool(v !== null)
      if (v !== null) inner.encode(w, v)
    },
    decode(r) {
      return r.bool() ? inner.decode(r) : null
    },
  }
}
