// Turns a MeshView into the zone's records (everything but the SOA/NS of each apex, which depend on the serial):
// node and cluster addresses, control.<domain> in leader-then-priority order, agent SRV records and PTR records
// for mesh addresses. Items that cannot be published are skipped and reported, never rewritten.

import { formatIpv6 } from '../wire/index.js'
import { RRType } from './constants.js'
import {
  ipv4Bytes,
  ipv6Bytes,
  isEncodableName,
  isMeshLabel,
  normalizeName,
  reverseName,
  reverseZoneOf,
} from './names.js'
import { addRecord, type NameTable, type Rdata, type ZoneProblem } from './records.js'
import type { MeshNode, MeshView, ZoneOptions } from './view.js'

export interface BuiltRecords {
  table: NameTable
  /** Reverse zones (/16 of IPv4, /48 of IPv6) that hold at least one PTR record. */
  reverseApexes: Set<string>
  problems: ZoneProblem[]
}

/** Labels directly under the apex that the zone itself uses; nodes and clusters cannot take them. */
export function reservedLabels(options: ZoneOptions): Set<string> {
  return new Set(['control', 'agents', options.nameserver?.label ?? 'ns', options.hostmaster ?? 'hostmaster'])
}

export function buildRecords(view: MeshView, options: ZoneOptions): BuiltRecords {
  const domain = normalizeName(options.domain)
  const { node: nodeTtl, agent: agentTtl } = options.ttl
  const table: NameTable = new Map()
  const reverseApexes = new Set<string>()
  const problems: ZoneProblem[] = []
  const reserved = reservedLabels(options)
  const problem = (code: ZoneProblem['code'], message: string): void => {
    problems.push({ code, message })
  }
  // Labels are checked one by one above; the whole name (and an SRV/PTR target) must still fit 255 octets.
  const add = (owner: string, ttl: number, rdata: Rdata): boolean => {
    const target = rdata.type === RRType.SRV || rdata.type === RRType.PTR ? rdata.target : owner
    if (!isEncodableName(owner) || !isEncodableName(target)) {
      problem(
        'DNS_INVALID_NAME',
        `${owner}: it or its target would be longer than a DNS name can be (255 octets)`,
      )
      return false
    }
    addRecord(table, owner, ttl, rdata)
    return true
  }

  const addresses = (n: MeshNode): { v4: string | null; v6: string | null } => {
    const v4 = n.ipv4 === undefined ? null : ipv4Bytes(n.ipv4) ? n.ipv4 : null
    const v6raw = n.ipv6 === undefined ? null : ipv6Bytes(n.ipv6)
    if (n.ipv4 !== undefined && v4 === null)
      problem('DNS_INVALID_ADDRESS', `node ${n.name}: "${n.ipv4}" is not an IPv4 address`)
    if (n.ipv6 !== undefined && v6raw === null)
      problem('DNS_INVALID_ADDRESS', `node ${n.name}: "${n.ipv6}" is not an IPv6 address`)
    return { v4, v6: v6raw === null ? null : (n.ipv6 as string) }
  }
  const addAddresses = (owner: string, n: MeshNode, ttl: number): void => {
    const { v4, v6 } = addresses(n)
    if (v4 !== null) add(owner, ttl, { type: RRType.A, address: v4 })
    if (v6 !== null) add(owner, ttl, { type: RRType.AAAA, address: canonicalV6(v6) })
  }

  // Clusters: only the labels; a cluster's name answers its nodes' addresses (filled below).
  const clusters = new Map<string, string>()
  for (const c of view.clusters) {
    const name = normalizeName(c.name)
    if (!isMeshLabel(name)) problem('DNS_INVALID_NAME', `cluster "${c.name}" is not a DNS label`)
    else if (reserved.has(name))
      problem('DNS_RESERVED_NAME', `cluster "${c.name}" uses a name the zone reserves`)
    else clusters.set(name, c.region)
  }

  // Nodes: canonical name <node>.<cluster>.<domain>; short name <node>.<domain> only when unambiguous.
  const fqdnOf = new Map<string, string>()
  const nodes = [...view.nodes].sort((a, b) => cmp(a.name, b.name))
  const shortCount = new Map<string, number>()
  for (const n of nodes) {
    const nl = normalizeName(n.name)
    shortCount.set(nl, (shortCount.get(nl) ?? 0) + 1)
  }
  const clusterNames = new Set([...clusters.keys(), ...nodes.map((n) => normalizeName(n.cluster))])
  for (const n of nodes) {
    const name = normalizeName(n.name)
    const cluster = normalizeName(n.cluster)
    if (!isMeshLabel(name) || !isMeshLabel(cluster)) {
      problem('DNS_INVALID_NAME', `node "${n.name}" in cluster "${n.cluster}": not DNS labels`)
      continue
    }
    if (reserved.has(cluster)) {
      problem('DNS_RESERVED_NAME', `node ${n.name}: cluster "${n.cluster}" uses a name the zone reserves`)
      continue
    }
    const fqdn = `${name}.${cluster}.${domain}`
    if (fqdnOf.has(name) && fqdnOf.get(name) === fqdn) {
      problem('DNS_NAME_CONFLICT', `node ${n.name} appears twice in cluster ${n.cluster}`)
      continue
    }
    if (!fqdnOf.has(name)) fqdnOf.set(name, fqdn)
    addAddresses(fqdn, n, nodeTtl)
    addAddresses(`${cluster}.${domain}`, n, nodeTtl)
    if ((shortCount.get(name) ?? 0) > 1) {
      problem(
        'DNS_NAME_CONFLICT',
        `node name ${name} exists in several clusters; only <node>.<cluster> names are published`,
      )
    } else if (reserved.has(name)) {
      problem('DNS_RESERVED_NAME', `node ${name}: ${name}.${domain} is reserved; only ${fqdn} is published`)
    } else if (clusterNames.has(name)) {
      // A cluster of the same name owns <name>.<domain>; the node keeps its canonical name.
      problem('DNS_NAME_CONFLICT', `node ${name} has the name of a cluster; only ${fqdn} is published`)
    } else {
      addAddresses(`${name}.${domain}`, n, nodeTtl)
    }
    const { v4, v6 } = addresses(n)
    for (const ip of [v4, v6]) {
      if (ip === null) continue
      const ptr = reverseName(ip)
      const apex = reverseZoneOf(ip)
      if (ptr === null || apex === null) continue
      if (add(ptr, nodeTtl, { type: RRType.PTR, target: fqdn })) reverseApexes.add(apex)
    }
  }
  // The addresses above came with warnings already; don't repeat them for the second and third owner names.
  dedupeProblems(problems)
  const nodeByName = new Map<string, MeshNode>()
  for (const n of nodes)
    if (fqdnOf.has(normalizeName(n.name)) && !nodeByName.has(normalizeName(n.name)))
      nodeByName.set(normalizeName(n.name), n)
  for (const [name, region] of clusters) {
    add(`${name}.${domain}`, nodeTtl, { type: RRType.TXT, strings: [`region=${region}`] })
  }

  // control.<domain>: the leader first, then the other voters by priority (lower first), then by name.
  const voters = [...view.control].sort(
    (a, b) => Number(b.isLeader) - Number(a.isLeader) || a.priority - b.priority || cmp(a.node, b.node),
  )
  for (const v of voters) {
    const n = nodeByName.get(normalizeName(v.node))
    if (!n) {
      problem('DNS_UNKNOWN_NODE', `control voter ${v.node} is not a known node`)
      continue
    }
    const { v4, v6 } = addresses(n)
    if (v4 !== null) add(`control.${domain}`, agentTtl, { type: RRType.A, address: v4 })
    if (v6 !== null) add(`control.${domain}`, agentTtl, { type: RRType.AAAA, address: canonicalV6(v6) })
  }
  dedupeProblems(problems)

  // Agents and services: SRV at the service name, the instance name and <agent>.agents.<domain>.
  const agents = [...view.agents].sort(
    (a, b) =>
      (a.priority ?? 0) - (b.priority ?? 0) || (b.weight ?? 0) - (a.weight ?? 0) || cmp(a.name, b.name),
  )
  for (const a of agents) {
    const name = normalizeName(a.name)
    const service = normalizeName(a.service)
    const proto = normalizeName(a.proto)
    if (
      !isMeshLabel(name) ||
      !isMeshLabel(service) ||
      !isMeshLabel(proto) ||
      service.length > 62 ||
      proto.length > 62
    ) {
      problem('DNS_INVALID_NAME', `agent "${a.name}" (${a.service}/${a.proto}): not DNS labels`)
      continue
    }
    const target = fqdnOf.get(normalizeName(a.node))
    if (target === undefined) {
      problem('DNS_UNKNOWN_NODE', `agent ${a.name} is placed on unknown node ${a.node}`)
      continue
    }
    const p = a.priority ?? 0
    const w = a.weight ?? 0
    if (![a.port, p, w].every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffff)) {
      problem('DNS_INVALID_PORT', `agent ${a.name}: port, priority and weight must be integers 0-65535`)
      continue
    }
    const srv = { type: RRType.SRV, priority: p, weight: w, port: a.port, target } as const
    const svc = `_${service}._${proto}.${domain}`
    add(svc, agentTtl, srv)
    add(`${name}.${svc}`, agentTtl, srv)
    add(`${name}.agents.${domain}`, agentTtl, srv)
  }
  return { table, reverseApexes, problems }
}

function canonicalV6(ip: string): string {
  const b = ipv6Bytes(ip)
  return b === null ? ip : formatIpv6(b)
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function dedupeProblems(problems: ZoneProblem[]): void {
  const seen = new Set<string>()
  let w = 0
  for (const p of problems) {
    const k = `${p.code} ${p.message}`
    if (seen.has(k)) continue
    seen.add(k)
    problems[w++] = p
  }
  problems.length = w
}
