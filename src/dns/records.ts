// Resource records as the zone holds them: typed RDATA, RRsets keyed by owner and type, and the problems a view
// can have (a name that is not a DNS label, an ambiguous short name...). Pure data, shared by the zone builder,
// the lookup and the encoder.

import { RRType } from './constants.js'

export type Rdata =
  | { type: typeof RRType.A; address: string }
  | { type: typeof RRType.AAAA; address: string }
  | { type: typeof RRType.NS; host: string }
  | { type: typeof RRType.PTR; target: string }
  | { type: typeof RRType.TXT; strings: readonly string[] }
  | { type: typeof RRType.SRV; priority: number; weight: number; port: number; target: string }
  | {
      type: typeof RRType.SOA
      mname: string
      rname: string
      serial: number
      refresh: number
      retry: number
      expire: number
      minimum: number
    }

export interface RRset {
  /** Normalized owner name (lower case, no trailing dot). */
  readonly name: string
  readonly type: number
  readonly ttl: number
  readonly records: readonly Rdata[]
}

export type ZoneProblemCode =
  | 'DNS_INVALID_NAME'
  | 'DNS_INVALID_ADDRESS'
  | 'DNS_RESERVED_NAME'
  | 'DNS_NAME_CONFLICT'
  | 'DNS_UNKNOWN_NODE'
  | 'DNS_INVALID_PORT'
  /** A static record of a type whose data the config cannot give (endpoints are addresses). */
  | 'DNS_UNSUPPORTED_RECORD'

/** Something in the view the zone could not publish; the daemon logs these, the zone skips the item. */
export interface ZoneProblem {
  code: ZoneProblemCode
  message: string
}

/** owner -> type -> RRset; an owner with an empty map is an empty non-terminal (exists, holds no data). */
export type NameTable = Map<string, Map<number, RRset>>

// Keys of the records already in each RRset while a table is being built, so adding stays O(1) per record.
const seenKeys = new WeakMap<RRset, Set<string>>()

/** Adds one record, creating the RRset; identical records are kept once (an RRset is a set, RFC 2181 5). */
export function addRecord(table: NameTable, name: string, ttl: number, rdata: Rdata): void {
  let types = table.get(name)
  if (!types) {
    types = new Map()
    table.set(name, types)
  }
  let set = types.get(rdata.type)
  if (!set) {
    // RFC 2181 5.2: all records of an RRset share one TTL; the first writer's (same kind of data) wins.
    set = { name, type: rdata.type, ttl, records: [] }
    types.set(rdata.type, set)
    seenKeys.set(set, new Set())
  }
  const keys = seenKeys.get(set) ?? new Set((set.records as Rdata[]).map(rdataKey))
  const key = rdataKey(rdata)
  if (keys.has(key)) return
  keys.add(key)
  seenKeys.set(set, keys)
  ;(set.records as Rdata[]).push(rdata)
}

/** A stable text form of one record, for de-duplication and change detection. */
export function rdataKey(r: Rdata): string {
  switch (r.type) {
    case RRType.A:
    case RRType.AAAA:
      return `${r.type} ${r.address}`
    case RRType.NS:
      return `${r.type} ${r.host}`
    case RRType.PTR:
      return `${r.type} ${r.target}`
    case RRType.TXT:
      return `${r.type} ${JSON.stringify(r.strings)}`
    case RRType.SRV:
      return `${r.type} ${r.priority} ${r.weight} ${r.port} ${r.target}`
    case RRType.SOA:
      return `${r.type} ${r.mname} ${r.rname} ${r.serial} ${r.refresh} ${r.retry} ${r.expire} ${r.minimum}`
  }
}

/** Presentation form (RFC 1035 5.1) of one record, for zone files and messages. */
export function rdataText(r: Rdata): string {
  switch (r.type) {
    case RRType.A:
    case RRType.AAAA:
      return r.address
    case RRType.NS:
      return `${r.host}.`
    case RRType.PTR:
      return `${r.target}.`
    case RRType.TXT:
      return r.strings.map((s) => JSON.stringify(s)).join(' ')
    case RRType.SRV:
      return `${r.priority} ${r.weight} ${r.port} ${r.target}.`
    case RRType.SOA:
      return `${r.mname}. ${r.rname}. ${r.serial} ${r.refresh} ${r.retry} ${r.expire} ${r.minimum}`
  }
}
