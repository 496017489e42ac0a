// The whole registry as bytes, for Raft snapshots. Records are written in key order, so two replicas with
// equal state produce identical bytes whatever order they learned things in (one by applying the log, one
// by restoring an earlier snapshot). Decoding rebuilds the indexes and rejects any state that breaks an
// invariant (a duplicate key, two nodes on one address), since a snapshot is applied wholesale.

import type { Codec } from '../../wire/index.js'
import { DecodeError, decodeWith, encodeWith, hexDecode, hexEncode } from '../../wire/index.js'
import {
  agentCodec,
  clusterCodec,
  federationCodec,
  nodeCodec,
  optionalCodec,
  placementCodec,
  policyCodec,
  REGISTRY_LIMITS,
  readList,
  revocationCodec,
  writeList,
} from './codec.js'
import { RegistryState, registryProblem } from './state.js'

const SNAPSHOT_VERSION = 1
const MAX_RECORDS = 10_000_000

function sorted<V>(m: ReadonlyMap<string, V>): V[] {
  return [...m.keys()].sort().map((k) => m.get(k)!)
}

function fill<V>(map: Map<string, V>, values: readonly V[], key: (v: V) => string, what: string): void {
  for (const v of values) {
    const k = key(v)
    if (map.has(k)) throw new DecodeError('invalid-value', `registry snapshot repeats ${what} ${k}`)
    map.set(k, v)
  }
}

export const registrySnapshotCodec: Codec<RegistryState> = {
  encode(w, s) {
    w.u8(SNAPSHOT_VERSION)
    optionalCodec(federationCodec).encode(w, s.federation)
    writeList(w, sorted(s.clusters), clusterCodec.encode)
    writeList(w, sorted(s.nodes), nodeCodec.encode)
    writeList(w, [...s.nonces.keys()].sort(), (w, k) => {
      w.bytes(hexDecode(k)).varint(s.nonces.get(k)!)
    })
    writeList(w, sorted(s.revocations), revocationCodec.encode)
    writeList(w, sorted(s.policies), policyCodec.encode)
    writeList(w, sorted(s.agents), agentCodec.encode)
    writeList(w, sorted(s.placements), placementCodec.encode)
  },
  decode(r) {
    const version = r.u8()
    if (version !== SNAPSHOT_VERSION) {
      throw new DecodeError('unsupported-version', `registry snapshot version ${version}`, 0)
    }
    const s = new RegistryState()
    s.federation = optionalCodec(federationCodec).decode(r)
    fill(s.clusters, readList(r, MAX_RECORDS, clusterCodec.decode), (c) => c.id, 'cluster')
    fill(s.nodes, readList(r, MAX_RECORDS, nodeCodec.decode), (n) => n.id, 'node')
    const nonces = readList(
      r,
      MAX_RECORDS,
      (r) => [hexEncode(r.bytes(REGISTRY_LIMITS.nonceBytes)), r.varint()] as const,
    )
    for (const [k, v] of nonces) {
      if (s.nonces.has(k)) throw new DecodeError('invalid-value', 'registry snapshot repeats a nonce')
      s.nonces.set(k, v)
    }
    fill(s.revocations, readList(r, MAX_RECORDS, revocationCodec.decode), (x) => x.subject, 'revocation')
    fill(s.policies, readList(r, MAX_RECORDS, policyCodec.decode), (p) => p.name, 'policy')
    fill(s.agents, readList(r, MAX_RECORDS, agentCodec.decode), (a) => a.id, 'agent')
    fill(s.placements, readList(r, MAX_RECORDS, placementCodec.decode), (p) => p.agent, 'placement')
    for (const c of s.clusters.values()) s.clusterByName.set(c.name, c.id)
    for (const n of s.nodes.values()) {
      if (s.ipv4.has(n.ipv4))
        throw new DecodeError('invalid-value', `registry snapshot gives two nodes address ${n.ipv4}`)
      s.ipv4.set(n.ipv4, n.id)
    }
    const problem = registryProblem(s)
    if (problem !== undefined) throw new DecodeError('invalid-value', `registry snapshot: ${problem}`)
    return s
  },
}

export function encodeRegistrySnapshot(s: RegistryState): Uint8Array {
  return encodeWith(registrySnapshotCodec, s)
}

export function decodeRegistrySnapshot(bytes: Uint8Array): RegistryState {
  return decodeWith(registrySnapshotCodec, bytes)
}
