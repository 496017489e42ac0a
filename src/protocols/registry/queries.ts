// Registry reads on the wire: the query a client asks through Raft's linearizable read, and the result the
// registry answers with. Results reuse the record codecs, so a record read back is byte-for-byte the
// record a snapshot would hold.

import type { Codec } from '../../wire/index.js'
import { DecodeError, decodeWith, encodeWith } from '../../wire/index.js'
import {
  agentCodec,
  clusterCodec,
  federationCodec,
  nodeCodec,
  optionalCodec,
  placementCodec,
  policyCodec,
  readEnum,
  readList,
  readOptionalText,
  readText,
  revocationCodec,
  writeEnum,
  writeList,
  writeOptionalText,
} from './codec.js'
import type { QueryResult, RegistryQuery } from './types.js'

const QUERY_VERSION = 1
/** Records one query result may carry; a larger registry needs paging, which nothing asks for yet. */
const MAX_RESULT_ITEMS = 1_000_000

const QUERY_TAGS: readonly RegistryQuery['type'][] = [
  'federation',
  'cluster',
  'clusters',
  'node',
  'nodes',
  'nodeByIpv4',
  'revoked',
  'policies',
  'agent',
  'placement',
  'summary',
]

export const registryQueryCodec: Codec<RegistryQuery> = {
  encode(w, q) {
    w.u8(QUERY_VERSION)
    writeEnum(w, QUERY_TAGS, q.type)
    switch (q.type) {
      case 'cluster':
      case 'node':
      case 'agent':
        w.string(q.id)
        return
      case 'nodes':
        writeOptionalText(w, q.cluster)
        return
      case 'nodeByIpv4':
        w.u32(q.ipv4)
        return
      case 'revoked':
        w.string(q.subject)
        return
      case 'placement':
        w.string(q.agent)
        return
      default:
        return
    }
  },
  decode(r) {
    const version = r.u8()
    if (version !== QUERY_VERSION)
      throw new DecodeError('unsupported-version', `registry query version ${version}`, 0)
    const type = readEnum(r, QUERY_TAGS, 'registry query')
    switch (type) {
      case 'cluster':
      case 'node':
      case 'agent':
        return { type, id: readText(r) }
      case 'nodes':
        return { type, cluster: readOptionalText(r) }
      case 'nodeByIpv4':
        return { type, ipv4: r.u32() }
      case 'revoked':
        return { type, subject: readText(r) }
      case 'placement':
        return { type, agent: readText(r) }
      case 'federation':
      case 'clusters':
      case 'policies':
      case 'summary':
        return { type }
    }
  },
}

const RESULT_TAGS: readonly QueryResult['type'][] = [
  'federation',
  'cluster',
  'clusters',
  'node',
  'nodes',
  'revoked',
  'policies',
  'agent',
  'placement',
  'summary',
  'undecodable',
]
const SUMMARY_KEYS = [
  'clusters',
  'nodes',
  'agents',
  'placements',
  'policies',
  'revocations',
  'spentNonces',
] as const

export const queryResultCodec: Codec<QueryResult> = {
  encode(w, res) {
    writeEnum(w, RESULT_TAGS, res.type)
    switch (res.type) {
      case 'federation':
        return optionalCodec(federationCodec).encode(w, res.federation)
      case 'cluster':
        return optionalCodec(clusterCodec).encode(w, res.cluster)
      case 'clusters':
        return writeList(w, res.clusters, clusterCodec.encode)
      case 'node':
        return optionalCodec(nodeCodec).encode(w, res.node)
      case 'nodes':
        return writeList(w, res.nodes, nodeCodec.encode)
      case 'revoked':
        return optionalCodec(revocationCodec).encode(w, res.revocation)
      case 'policies':
        return writeList(w, res.policies, policyCodec.encode)
      case 'agent':
        return optionalCodec(agentCodec).encode(w, res.agent)
      case 'placement':
        return optionalCodec(placementCodec).encode(w, res.placement)
      case 'summary':
        for (const k of SUMMARY_KEYS) w.varint(res.summary[k])
        return
      case 'undecodable':
        return
    }
  },
  decode(r) {
    const type = readEnum(r, RESULT_TAGS, 'query result')
    switch (type) {
      case 'federation':
        return { type, federation: optionalCodec(federationCodec).decode(r) }
      case 'cluster':
        return { type, cluster: optionalCodec(clusterCodec).decode(r) }
      case 'clusters':
        return { type, clusters: readList(r, MAX_RESULT_ITEMS, clusterCodec.decode) }
      case 'node':
        return { type, node: optionalCodec(nodeCodec).decode(r) }
      case 'nodes':
        return { type, nodes: readList(r, MAX_RESULT_ITEMS, nodeCodec.decode) }
      case 'revoked':
        return { type, revocation: optionalCodec(revocationCodec).decode(r) }
      case 'policies':
        return { type, policies: readList(r, MAX_RESULT_ITEMS, policyCodec.decode) }
      case 'agent':
        return { type, agent: optionalCodec(agentCodec).decode(r) }
      case 'placement':
        return { type, placement: optionalCodec(placementCodec).decode(r) }
      case 'summary': {
        const [clusters, nodes, agents, placements, policies, revocations, spentNonces] = SUMMARY_KEYS.map(
          () => r.varint(),
        ) as [number, number, number, number, number, number, number]
        return { type, summary: { clusters, nodes, agents, placements, policies, revocations, spentNonces } }
      }
      case 'undecodable':
        return { type }
    }
  },
}

export function encodeQuery(q: RegistryQuery): Uint8Array {
  return encodeWith(registryQueryCodec, q)
}

export function decodeQueryResult(bytes: Uint8Array): QueryResult {
  return decodeWith(queryResultCodec, bytes)
}
