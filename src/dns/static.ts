// Static zones from config (the guide's dns.yaml `zones`): records whose answers are written in the config as
// endpoints (address + priority) rather than resolved from the registry. Each zone outside the mesh domain becomes
// an apex of its own (SOA and NS added by the zone builder); a zone at or under the mesh domain adds its records
// to the mesh zone, where names the registry already answers or the zone reserves win and the static record is
// reported. Records without endpoints are the registry's to answer ("resolved dynamically") and are skipped here.

import { isIPv4, isIPv6 } from 'node:net'
import { RRType } from './constants.js'
import { isEncodableName, normalizeName } from './names.js'
import { addRecord, type NameTable, type ZoneProblem } from './records.js'
import type { StaticZone, ZoneOptions } from './view.js'

/** Adds the static records to `table`; returns the apexes of static zones outside the mesh domain. */
export function addStaticZones(
  table: NameTable,
  options: ZoneOptions,
  reserved: ReadonlySet<string>,
  problems: ZoneProblem[],
): Set<string> {
  const domain = normalizeName(options.domain)
  const apexes = new Set<string>()
  const existing = new Set<string>()
  for (const [name, types] of table) for (const t of types.keys()) existing.add(`${name} ${t}`)
  for (const zone of options.staticZones ?? []) {
    const apex = normalizeName(zone.name)
    if (apex === '' || !isEncodableName(apex)) {
      problems.push({ code: 'DNS_INVALID_NAME', message: `static zone "${zone.name}" is not a domain name` })
      continue
    }
    const inMesh = apex === domain || apex.endsWith(`.${domain}`)
    if (!inMesh) apexes.add(apex)
    addZone(zone, apex, inMesh ? domain : null)
  }
  return apexes

  function addZone(zone: StaticZone, apex: string, meshDomain: string | null): void {
    for (const r of zone.records) {
      if (r.endpoints.length === 0) continue
      const rel = r.name.trim()
      const owner = rel === '@' || rel === '' ? apex : `${normalizeName(rel)}.${apex}`
      const what = `static record ${r.name} ${r.type} in ${zone.name}`
      if (owner.split('.').some((l) => l === '' || l.includes('*')) || !isEncodableName(owner)) {
        problems.push({
          code: 'DNS_INVALID_NAME',
          message: `${what}: not a domain name (wildcards are not served)`,
        })
        continue
      }
      if (r.type !== 'A' && r.type !== 'AAAA') {
        problems.push({
          code: 'DNS_UNSUPPORTED_RECORD',
          message: `${what}: endpoints are addresses, so only A and AAAA records can be static`,
        })
        continue
      }
      const type = r.type === 'A' ? RRType.A : RRType.AAAA
      if (meshDomain !== null) {
        const under = owner === meshDomain ? '' : owner.slice(0, -(meshDomain.length + 1))
        const top = under.slice(under.lastIndexOf('.') + 1)
        if (under !== '' && reserved.has(top)) {
          problems.push({
            code: 'DNS_RESERVED_NAME',
            message: `${what}: ${top}.${meshDomain} is the zone's own`,
          })
          continue
        }
        if (existing.has(`${owner} ${type}`)) {
          problems.push({
            code: 'DNS_NAME_CONFLICT',
            message: `${what}: the mesh already answers ${owner} ${r.type}`,
          })
          continue
        }
      }
      const ok = r.type === 'A' ? isIPv4 : isIPv6
      // Lower priority first; equal priorities keep the config's order (sort is stable).
      const endpoints = [...r.endpoints].sort((a, b) => a.priority - b.priority)
      for (const e of endpoints) {
        if (!ok(e.ip)) {
          problems.push({
            code: 'DNS_INVALID_ADDRESS',
            message: `${what}: "${e.ip}" is not an ${r.type} address`,
          })
          continue
        }
        const ttl = r.ttl ?? options.ttl.node
        addRecord(
          table,
          owner,
          ttl,
          r.type === 'A' ? { type: RRType.A, address: e.ip } : { type: RRType.AAAA, address: e.ip },
        )
      }
    }
  }
}
