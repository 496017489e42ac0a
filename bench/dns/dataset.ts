// The benchmark data set, the same for our server and the anchors: N nodes (A + AAAA each), one agent per node
// (its own SRV owner name, DNS-SD style, as in the anchors' harness), spread over clusters, plus a query file
// that is uniform over the A, AAAA and SRV names with a share of names that don't exist. The zone file and the
// dnsmasq records the anchors load are written from our zone's own snapshot, so every server holds the same data.

import { RRType } from '../../src/dns/constants.js'
import { rdataText } from '../../src/dns/records.js'
import type { MeshView, ZoneOptions } from '../../src/dns/view.js'
import type { ZoneSnapshot } from '../../src/dns/zone.js'

export const BENCH_DOMAIN = 'mesh.blackroad.local'
export const AGENT_PORT = 7946

export interface DatasetOptions {
  hosts: number
  /** Nodes per cluster; default 50 (so cluster names carry 50 addresses, like a real cluster's). */
  perCluster?: number
}

export function nodeName(i: number): string {
  return `node-${String(i).padStart(4, '0')}`
}

export function benchView(opts: DatasetOptions): MeshView {
  const per = opts.perCluster ?? 50
  const nodes = []
  const agents = []
  const clusterCount = Math.ceil(opts.hosts / per)
  for (let i = 0; i < opts.hosts; i++) {
    const name = nodeName(i)
    nodes.push({
      name,
      cluster: `c${Math.floor(i / per)}`,
      ipv4: `100.64.${(i + 1) >> 8}.${(i + 1) & 0xff}`,
      ipv6: `fd7a:115c:a1e0::1:${(i + 1).toString(16)}`,
    })
    agents.push({ name, service: 'agent', proto: 'tcp', node: name, port: AGENT_PORT })
  }
  const clusters = Array.from({ length: clusterCount }, (_, c) => ({ name: `c${c}`, region: `r${c % 3}` }))
  const control = [0, 1, 2]
    .filter((i) => i < opts.hosts)
    .map((i) => ({ node: nodeName(i), priority: i + 1, isLeader: i === 0 }))
  return { nodes, clusters, control, agents }
}

export function benchZoneOptions(nsAddress: string): ZoneOptions {
  return {
    domain: BENCH_DOMAIN,
    ttl: { node: 60, agent: 30, negative: 30 },
    nameserver: { addresses: [nsAddress] },
  }
}

/** RFC 1035 master file of the snapshot (every apex's records, for NSD and Knot). One file per apex. */
export function zoneFiles(snap: ZoneSnapshot): Map<string, string> {
  const files = new Map<string, string[]>()
  for (const apex of snap.apexes.keys()) files.set(apex, [`$ORIGIN ${apex}.`])
  const apexOf = (name: string): string => {
    let best = ''
    for (const a of snap.apexes.keys())
      if ((name === a || name.endsWith(`.${a}`)) && a.length > best.length) best = a
    return best
  }
  const typeName = new Map<number, string>(Object.entries(RRType).map(([k, v]) => [v, k]))
  for (const [name, types] of snap.names) {
    const lines = files.get(apexOf(name))
    if (!lines) continue
    // SOA first: master files must start with it.
    const sets = [...types.values()].sort(
      (a, b) => Number(b.type === RRType.SOA) - Number(a.type === RRType.SOA),
    )
    for (const set of sets) {
      for (const r of set.records)
        lines.push(`${name}. ${set.ttl} IN ${typeName.get(set.type)} ${rdataText(r)}`)
    }
  }
  const out = new Map<string, string>()
  for (const [apex, lines] of files) {
    const soaAt = lines.findIndex((l) => l.includes(' IN SOA '))
    if (soaAt > 1) lines.splice(1, 0, ...lines.splice(soaAt, 1))
    out.set(apex, `${lines.join('\n')}\n`)
  }
  return out
}

/**
 * dnsmasq lines: host-record (one IPv4 and one IPv6 per line, so names with more addresses take several lines;
 * dnsmasq derives PTR from them) and srv-host. dnsmasq answers SRV without additional data and has no TTL per
 * record, so it does a little less work than the others.
 */
export function dnsmasqRecords(snap: ZoneSnapshot): string {
  const lines: string[] = []
  for (const [name, types] of snap.names) {
    const v4 = (types.get(RRType.A)?.records ?? []).map((r) => rdataText(r))
    const v6 = (types.get(RRType.AAAA)?.records ?? []).map((r) => rdataText(r))
    for (let i = 0; i < Math.max(v4.length, v6.length); i++) {
      lines.push(`host-record=${[name, v4[i], v6[i]].filter((x) => x !== undefined).join(',')}`)
    }
    for (const r of types.get(RRType.SRV)?.records ?? []) {
      if (r.type === RRType.SRV)
        lines.push(`srv-host=${name},${r.target},${r.port},${r.priority},${r.weight}`)
    }
  }
  return `${lines.join('\n')}\n`
}

/** dnsperf input: `count` lines uniform over A, AAAA and SRV names, `nxPct` percent names that don't exist. */
export function queryFile(hosts: number, count: number, nxPct: number, seed = 1): string {
  let s = (seed * 0x9e3779b9) >>> 0 || 1
  const rand = (): number => {
    // xorshift32: deterministic, so every run and every server gets the same file.
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 0x100000000
  }
  const lines: string[] = []
  for (let i = 0; i < count; i++) {
    if (rand() * 100 < nxPct) {
      lines.push(`missing-${i}.${BENCH_DOMAIN} A`)
      continue
    }
    const n = nodeName(Math.floor(rand() * hosts))
    const k = Math.floor(rand() * 3)
    lines.push(
      k === 0
        ? `${n}.${BENCH_DOMAIN} A`
        : k === 1
          ? `${n}.${BENCH_DOMAIN} AAAA`
          : `${n}._agent._tcp.${BENCH_DOMAIN} SRV`,
    )
  }
  return `${lines.join('\n')}\n`
}
