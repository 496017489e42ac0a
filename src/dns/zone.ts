// The mesh zone: authoritative data for dns.domain (and the reverse zones of mesh addresses) built from a
// MeshView, with DNS lookup semantics: answers with their additional records, NODATA for names that exist with
// other types (empty non-terminals included), NXDOMAIN with the SOA for names that don't, nothing for names
// outside. `update(view)` swaps in a new snapshot and its pre-encoded answers at once; the serial moves only when
// the records change. Pure: no sockets, no clock.
// A zone made from a source (a function returning the current view) follows it lazily: nothing is built until
// the zone is read, and after invalidate() the next read rebuilds it when the view changed. Reads are the
// server's queries, so answers are always current, and the owner may refresh() in the background to keep the
// first query after a change cheap. A daemon's view changes with every certificate a join brings (each a
// rebuild of all names, O(nodes)), and the eager rebuilds were 20-50 ms of CPU per daemon in the 1-2 s of a
// 4-node join on 2 cores (CPU profiles of the join bench), taken from the join itself.

import { type AnswerTable, compileAnswers } from './answers.js'
import { buildRecords, reservedLabels } from './build.js'
import { RRType } from './constants.js'
import { labelsOf, normalizeName } from './names.js'
import { addRecord, type NameTable, type RRset, rdataKey, type ZoneProblem } from './records.js'
import { addStaticZones } from './static.js'
import { EMPTY_VIEW, type MeshView, type ZoneOptions } from './view.js'

/** SOA timers (seconds). Nobody transfers this zone, so they only inform tools that print the SOA. */
const SOA_REFRESH = 3600
const SOA_RETRY = 600
const SOA_EXPIRE = 86400

export interface Apex {
  readonly name: string
  /** The SOA RRset as answered for SOA queries. */
  readonly soa: RRset
  /** The SOA as it goes in negative answers: TTL = min(SOA TTL, MINIMUM) (RFC 2308 3). */
  readonly negativeSoa: RRset
}

export interface ZoneSnapshot {
  readonly domain: string
  readonly serial: number
  /** Every apex we answer for: the domain first, then static zones (dns.zones), then the reverse zones. */
  readonly apexes: ReadonlyMap<string, Apex>
  /** owner -> type -> RRset; empty inner maps are empty non-terminals. */
  readonly names: ReadonlyMap<string, ReadonlyMap<number, RRset>>
  readonly problems: readonly ZoneProblem[]
}

export type LookupResult =
  | { kind: 'answer'; apex: Apex; answer: readonly RRset[]; additional: readonly RRset[] }
  | { kind: 'nodata'; apex: Apex }
  | { kind: 'nxdomain'; apex: Apex }
  /** Not under any apex of ours: refuse or forward. */
  | { kind: 'outside' }

/** Builds a snapshot; `serial` goes into the SOAs. */
export function buildSnapshot(view: MeshView, options: ZoneOptions, serial: number): ZoneSnapshot {
  const domain = normalizeName(options.domain)
  const { table, reverseApexes, problems } = buildRecords(view, options)
  const staticApexes = addStaticZones(table, options, reservedLabels(options), problems)
  const nodeTtl = options.ttl.node
  const nsHost = `${options.nameserver?.label ?? 'ns'}.${domain}`
  const rname = `${options.hostmaster ?? 'hostmaster'}.${domain}`
  for (const addr of options.nameserver?.addresses ?? []) {
    const v4 = /^\d+\.\d+\.\d+\.\d+$/.test(addr)
    addRecord(
      table,
      nsHost,
      nodeTtl,
      v4 ? { type: RRType.A, address: addr } : { type: RRType.AAAA, address: addr },
    )
  }
  const apexes = new Map<string, Apex>()
  for (const apex of [domain, ...[...staticApexes].sort(), ...[...reverseApexes].sort()]) {
    const soaRecord = {
      type: RRType.SOA,
      mname: nsHost,
      rname,
      serial,
      refresh: SOA_REFRESH,
      retry: SOA_RETRY,
      expire: SOA_EXPIRE,
      minimum: options.ttl.negative,
    } as const
    addRecord(table, apex, nodeTtl, soaRecord)
    addRecord(table, apex, nodeTtl, { type: RRType.NS, host: nsHost })
    const soa = table.get(apex)?.get(RRType.SOA) as RRset
    apexes.set(apex, {
      name: apex,
      soa,
      negativeSoa: { ...soa, ttl: Math.min(nodeTtl, options.ttl.negative) },
    })
  }
  addEmptyNonTerminals(table, apexes)
  return { domain, serial, apexes, names: table, problems }
}

/** Every ancestor of an owner name, up to its apex, exists (RFC 8020): give it an (empty) entry. */
function addEmptyNonTerminals(table: NameTable, apexes: ReadonlyMap<string, Apex>): void {
  for (const name of [...table.keys()]) {
    const apex = findApex(apexes, name)
    if (!apex) continue
    let n = name
    while (n !== apex.name && n.includes('.')) {
      n = n.slice(n.indexOf('.') + 1)
      if (!table.has(n)) table.set(n, new Map())
    }
  }
}

/** The closest enclosing apex of a normalized name, or undefined when it is outside every zone of ours. */
export function findApex(apexes: ReadonlyMap<string, Apex>, name: string): Apex | undefined {
  let n = name
  for (;;) {
    const a = apexes.get(n)
    if (a) return a
    const dot = n.indexOf('.')
    if (dot < 0) return undefined
    n = n.slice(dot + 1)
  }
}

/** DNS lookup over a snapshot: the semantic reference the pre-encoded answers are compiled from. */
export function lookup(snap: ZoneSnapshot, qname: string, qtype: number): LookupResult {
  const name = normalizeName(qname)
  const apex = findApex(snap.apexes, name)
  if (!apex) return { kind: 'outside' }
  const types = snap.names.get(name)
  if (!types) return { kind: 'nxdomain', apex }
  const answer =
    qtype === RRType.ANY ? [...types.values()] : types.has(qtype) ? [types.get(qtype) as RRset] : []
  if (answer.length === 0) return { kind: 'nodata', apex }
  return { kind: 'answer', apex, answer, additional: additionalFor(snap, answer) }
}

/** Addresses of SRV targets and NS hosts we are authoritative for (RFC 2782, RFC 1035 3.3.11). */
export function additionalFor(snap: ZoneSnapshot, answer: readonly RRset[]): RRset[] {
  const out: RRset[] = []
  const seen = new Set<string>()
  for (const set of answer) {
    for (const r of set.records) {
      const host = r.type === RRType.SRV ? r.target : r.type === RRType.NS ? r.host : null
      if (host === null || seen.has(host)) continue
      seen.add(host)
      const types = snap.names.get(host)
      for (const t of [RRType.A, RRType.AAAA]) {
        const s = types?.get(t)
        if (s) out.push(s)
      }
    }
  }
  return out
}

/** A canonical text of everything but the SOA serial: equal fingerprints mean equal answers. */
function fingerprint(snap: ZoneSnapshot): string {
  const lines: string[] = []
  for (const [name, types] of snap.names) {
    if (types.size === 0) lines.push(`${name} ENT`)
    for (const set of types.values()) {
      const recs = set.records.map((r) =>
        r.type === RRType.SOA ? rdataKey({ ...r, serial: 0 }) : rdataKey(r),
      )
      lines.push(`${name} ${set.ttl} ${recs.join(' | ')}`)
    }
  }
  return lines.sort().join('\n')
}

export interface ZoneUpdate {
  changed: boolean
  serial: number
  problems: readonly ZoneProblem[]
}

interface Built {
  snapshot: ZoneSnapshot
  answers: AnswerTable
  fingerprint: string
}

/** The live zone the server answers from. */
export class MeshZone {
  readonly options: ZoneOptions
  private built: Built | null = null
  private readonly initialSerial: number
  /** Where a following zone reads its view (see the header); null for a zone fed by update() alone. */
  private readonly source: (() => MeshView) | null
  private readonly onRebuild: ((u: ZoneUpdate) => void) | undefined
  private stale = false
  /** The source's view the zone was last built from (JSON): an unchanged view costs no rebuild. */
  private viewKey = ''

  /**
   * `view`: the records now, or a source to follow (built on first read, rebuilt after invalidate() when its
   * view changed; `onRebuild` hears of each rebuild, e.g. to log the records it skipped).
   */
  constructor(
    options: ZoneOptions,
    view: MeshView | (() => MeshView) = EMPTY_VIEW,
    initialSerial = 1,
    onRebuild?: (u: ZoneUpdate) => void,
  ) {
    const domain = normalizeName(options.domain)
    if (labelsOf(domain).length === 0) throw new RangeError('dns.domain must not be the root')
    this.options = { ...options, domain }
    this.initialSerial = initialSerial >>> 0 || 1
    this.onRebuild = onRebuild
    if (typeof view === 'function') {
      this.source = view
      this.stale = true
    } else {
      this.source = null
      this.built = this.build(view, this.initialSerial)
    }
  }

  /** The zone as of now: a following zone catches up with its source first. */
  private get current(): Built {
    if (this.stale) this.refresh()
    return this.built as Built
  }

  /** A following zone's source may have changed: the next read (or refresh) compares and rebuilds. */
  invalidate(): void {
    if (this.source) this.stale = true
  }

  /** Catches a following zone up with its source now, if it was invalidated (a no-op otherwise). */
  refresh(): void {
    if (!this.stale || !this.source) return
    const view = this.source()
    this.stale = false
    const key = JSON.stringify(view)
    if (this.built !== null && key === this.viewKey) return
    this.viewKey = key
    let u: ZoneUpdate
    if (this.built === null) {
      this.built = this.build(view, this.initialSerial)
      u = { changed: true, serial: this.initialSerial, problems: this.built.snapshot.problems }
    } else u = this.update(view)
    this.onRebuild?.(u)
  }

  get snapshot(): ZoneSnapshot {
    return this.current.snapshot
  }

  get answers(): AnswerTable {
    return this.current.answers
  }

  get serial(): number {
    return this.current.snapshot.serial
  }

  get domain(): string {
    return this.options.domain
  }

  /** Labels under the apex the zone keeps for itself (control, agents, ns, hostmaster). */
  get reserved(): ReadonlySet<string> {
    return reservedLabels(this.options)
  }

  /** Rebuilds from a new view and swaps it in. The serial moves (by one, wrapping, never 0) only on change. */
  update(view: MeshView): ZoneUpdate {
    const prev = this.current
    // Built once, with the next serial: the fingerprint leaves the serial out, so an unchanged zone is known
    // by it and this snapshot is dropped.
    const serial = (prev.snapshot.serial + 1) >>> 0 || 1
    const snapshot = buildSnapshot(view, this.options, serial)
    const fp = fingerprint(snapshot)
    if (fp === prev.fingerprint)
      return { changed: false, serial: prev.snapshot.serial, problems: snapshot.problems }
    // One assignment: a query sees either the old snapshot and answers or the new ones, never a mix.
    this.built = { snapshot, answers: compileAnswers(snapshot), fingerprint: fp }
    return { changed: true, serial, problems: snapshot.problems }
  }

  lookup(name: string, type: number): LookupResult {
    return lookup(this.current.snapshot, name, type)
  }

  private build(view: MeshView, serial: number): Built {
    const snapshot = buildSnapshot(view, this.options, serial)
    return { snapshot, answers: compileAnswers(snapshot), fingerprint: fingerprint(snapshot) }
  }
}
