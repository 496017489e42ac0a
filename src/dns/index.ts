// Public surface of the mesh DNS: the zone (built from a MeshView), the server, the OS configurators, and the
// glue from the typed config. The daemon imports from here only.

import type { Registry } from 'prom-client'
import { splitHostPort } from '../config/hostport.js'
import type { Config } from '../config/index.js'
import type { DnsLogger, DnsServerOptions } from './server.js'
import type { ZoneOptions } from './view.js'
import type { MeshZone } from './zone.js'

export { type AnswerTable, compileAnswers } from './answers.js'
export { Rcode, RRType } from './constants.js'
export {
  DnsDecodeError,
  DnsError,
  type DnsErrorCode,
  MALFORMED_REASONS,
  type MalformedReason,
} from './errors.js'
export { DnsMetrics } from './metrics.js'
export { reverseName, reverseZoneOf } from './names.js'
export {
  type DetectDeps,
  detectOsDnsConfigurator,
  NoopDnsConfigurator,
  type OsDnsConfigurator,
  type OsDnsSettings,
} from './os.js'
export { type ParsedQuery, parseQuery } from './query.js'
export type { Rdata, RRset, ZoneProblem, ZoneProblemCode } from './records.js'
export { ResolvedConfigurator } from './resolved.js'
export { type BoundAddress, type DnsLogger, DnsServer, type DnsServerOptions } from './server.js'
export {
  type ControlVoter,
  EMPTY_VIEW,
  type MeshCluster,
  type MeshNode,
  type MeshService,
  type MeshView,
  type StaticRecord,
  type StaticZone,
  type ZoneOptions,
  type ZoneTtls,
} from './view.js'
export { type Apex, type LookupResult, lookup, MeshZone, type ZoneSnapshot, type ZoneUpdate } from './zone.js'

/** Zone options from config `dns`: domain, TTLs, and our listen addresses as the NS host's addresses. */
export function zoneOptionsFromConfig(config: Config): ZoneOptions {
  const dns = config.dns
  const addresses = dns.listen
    .map((l) => splitHostPort(l)?.host)
    .filter((h): h is string => h !== undefined && h !== '0.0.0.0' && h !== '::')
  return {
    domain: dns.domain ?? 'mesh.blackroad.local',
    ttl: { node: dns.ttl.node, agent: dns.ttl.agent, negative: dns.ttl.negative },
    nameserver: { addresses },
    staticZones: dns.zones.map((z) => ({
      name: z.name,
      records: z.records.map((r) => ({
        name: r.name,
        type: r.type,
        ...(r.ttl !== undefined ? { ttl: r.ttl } : {}),
        endpoints: r.endpoints.map((e) => ({ ip: e.ip, priority: e.priority })),
      })),
    })),
  }
}

/** Server options from config `dns`: listen and upstream addresses. */
export function serverOptionsFromConfig(
  config: Config,
  zone: MeshZone,
  registry: Registry,
  log?: DnsLogger,
): DnsServerOptions {
  return {
    zone,
    listen: config.dns.listen,
    ...(config.dns.upstream !== undefined ? { upstream: config.dns.upstream } : {}),
    registry,
    ...(log !== undefined ? { log } : {}),
  }
}

/**
 * What the OS resolver should route to us: the domain and the reverse zones (mesh PTR lookups), sent to our
 * listen addresses ("ip:port" unless the port is 53, resolvectl's syntax).
 */
export function osDnsSettings(
  config: Config,
  zone: MeshZone,
  iface: string,
): { iface: string; servers: string[]; domains: string[] } {
  const servers = config.dns.listen.flatMap((l) => {
    const hp = splitHostPort(l)
    if (!hp || hp.host === '0.0.0.0' || hp.host === '::') return []
    const host = hp.host.includes(':') ? `[${hp.host}]` : hp.host
    return [hp.port === 53 ? hp.host : `${host}:${hp.port}`]
  })
  return { iface, servers, domains: [...zone.snapshot.apexes.keys()] }
}
