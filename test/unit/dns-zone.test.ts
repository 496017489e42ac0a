// The mesh zone's DNS semantics over a small federation: every record kind, NXDOMAIN vs NODATA (empty
// non-terminals included), case, TTLs, SRV additional data, PTR v4/v6, control.<domain> order, and updates.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { RRType } from '../../src/dns/constants.js'
import type { RRset } from '../../src/dns/records.js'
import type { MeshView, ZoneOptions } from '../../src/dns/view.js'
import { type LookupResult, MeshZone } from '../../src/dns/zone.js'

const D = 'mesh.blackroad.local'
const OPTIONS: ZoneOptions = {
  domain: D,
  ttl: { node: 60, agent: 15, negative: 20 },
  nameserver: { addresses: ['127.0.0.153'] },
}

function view(): MeshView {
  return {
    clusters: [
      { name: 'us-west', region: 'west' },
      { name: 'eu-1', region: 'europe' },
    ],
    nodes: [
      { name: 'pi1', cluster: 'us-west', ipv4: '100.64.0.1', ipv6: 'fd7a:115c:a1e0::1' },
      { name: 'pi2', cluster: 'us-west', ipv4: '100.64.0.2' },
      { name: 'gpu1', cluster: 'eu-1', ipv4: '100.65.0.9', ipv6: 'FD7A:115C:A1E0:0:0:0:0:9' },
    ],
    control: [
      { node: 'pi1', priority: 2, isLeader: false },
      { node: 'gpu1', priority: 1, isLeader: false },
      { node: 'pi2', priority: 3, isLeader: true },
    ],
    agents: [
      { name: 'summarizer', service: 'http', proto: 'tcp', node: 'pi1', port: 8080, priority: 10, weight: 5 },
      { name: 'indexer', service: 'http', proto: 'tcp', node: 'gpu1', port: 8081 },
    ],
  }
}

function answer(r: LookupResult): RRset {
  assert.equal(r.kind, 'answer', `expected an answer, got ${r.kind}`)
  if (r.kind !== 'answer') throw new Error('unreachable')
  assert.equal(r.answer.length, 1)
  return r.answer[0]!
}

const addrs = (s: RRset): string[] => s.records.map((r) => ('address' in r ? r.address : '?'))

describe('MeshZone lookups', () => {
  const zone = new MeshZone(OPTIONS, view())

  test('the view has no problems', () => {
    assert.deepEqual(zone.snapshot.problems, [])
  })

  test('A and AAAA for <node>.<cluster>.<domain> and <node>.<domain>, with the node TTL', () => {
    for (const name of [`pi1.us-west.${D}`, `pi1.${D}`]) {
      const a = answer(zone.lookup(name, RRType.A))
      assert.deepEqual(addrs(a), ['100.64.0.1'])
      assert.equal(a.ttl, 60)
      assert.deepEqual(addrs(answer(zone.lookup(name, RRType.AAAA))), ['fd7a:115c:a1e0::1'])
    }
    // Addresses are stored canonically whatever the registry's spelling.
    assert.deepEqual(addrs(answer(zone.lookup(`gpu1.${D}`, RRType.AAAA))), ['fd7a:115c:a1e0::9'])
  })

  test("a cluster's name answers its nodes' addresses", () => {
    assert.deepEqual(addrs(answer(zone.lookup(`us-west.${D}`, RRType.A))), ['100.64.0.1', '100.64.0.2'])
    assert.deepEqual(addrs(answer(zone.lookup(`us-west.${D}`, RRType.AAAA))), ['fd7a:115c:a1e0::1'])
    const txt = answer(zone.lookup(`eu-1.${D}`, RRType.TXT))
    assert.deepEqual(txt.records, [{ type: RRType.TXT, strings: ['region=europe'] }])
  })

  test('control.<domain>: leader first, then the other voters by priority', () => {
    const a = answer(zone.lookup(`control.${D}`, RRType.A))
    assert.deepEqual(addrs(a), ['100.64.0.2', '100.65.0.9', '100.64.0.1'])
    assert.equal(a.ttl, 15)
    assert.deepEqual(addrs(answer(zone.lookup(`control.${D}`, RRType.AAAA))), [
      'fd7a:115c:a1e0::9',
      'fd7a:115c:a1e0::1',
    ])
  })

  test('SRV at the service, the instance and <agent>.agents, targets in the additional section', () => {
    const svc = answer(zone.lookup(`_http._tcp.${D}`, RRType.SRV))
    assert.equal(svc.ttl, 15)
    assert.deepEqual(svc.records, [
      { type: RRType.SRV, priority: 0, weight: 0, port: 8081, target: `gpu1.eu-1.${D}` },
      { type: RRType.SRV, priority: 10, weight: 5, port: 8080, target: `pi1.us-west.${D}` },
    ])
    for (const owner of [`summarizer._http._tcp.${D}`, `summarizer.agents.${D}`]) {
      const r = zone.lookup(owner, RRType.SRV)
      assert.equal(answer(r).records.length, 1)
      assert.ok(r.kind === 'answer', "r.kind === 'answer'")
      assert.deepEqual(
        r.additional.map((s) => [s.name, s.type, addrs(s)]),
        [
          [`pi1.us-west.${D}`, RRType.A, ['100.64.0.1']],
          [`pi1.us-west.${D}`, RRType.AAAA, ['fd7a:115c:a1e0::1']],
        ],
      )
    }
  })

  test('PTR for IPv4 and IPv6 mesh addresses, in their own reverse zones', () => {
    const v4 = answer(zone.lookup('9.0.65.100.in-addr.arpa', RRType.PTR))
    assert.deepEqual(v4.records, [{ type: RRType.PTR, target: `gpu1.eu-1.${D}` }])
    const v6name = `9.0.0.0.${'0.'.repeat(16)}0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa`
    assert.deepEqual(answer(zone.lookup(v6name, RRType.PTR)).records, [
      { type: RRType.PTR, target: `gpu1.eu-1.${D}` },
    ])
    assert.equal([...zone.snapshot.apexes.keys()][0], D)
    assert.ok(
      zone.snapshot.apexes.has('64.100.in-addr.arpa'),
      "zone.snapshot.apexes.has('64.100.in-addr.arpa')",
    )
    assert.ok(
      zone.snapshot.apexes.has('65.100.in-addr.arpa'),
      "zone.snapshot.apexes.has('65.100.in-addr.arpa')",
    )
    assert.ok(
      zone.snapshot.apexes.has('0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa'),
      "zone.snapshot.apexes.has('0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa')",
    )
    const nx = zone.lookup('7.7.64.100.in-addr.arpa', RRType.PTR)
    assert.equal(nx.kind, 'nxdomain')
    assert.ok(
      nx.kind === 'nxdomain' && nx.apex.name === '64.100.in-addr.arpa',
      "nx.kind === 'nxdomain' && nx.apex.name === '64.100.in-addr.arpa'",
    )
  })

  test('SOA and NS at the apex; the NS host has our address', () => {
    const soa = answer(zone.lookup(D, RRType.SOA))
    assert.equal(soa.records[0]?.type, RRType.SOA)
    assert.ok(
      soa.records[0]?.type === RRType.SOA && soa.records[0].minimum === 20 && soa.records[0].serial === 1,
      'soa.records[0]?.type === RRType.SOA && soa.records[0].minimum === 20 && soa.records[0]....',
    )
    assert.deepEqual(answer(zone.lookup(D, RRType.NS)).records, [{ type: RRType.NS, host: `ns.${D}` }])
    assert.deepEqual(addrs(answer(zone.lookup(`ns.${D}`, RRType.A))), ['127.0.0.153'])
    const r = zone.lookup(D, RRType.NS)
    assert.ok(
      r.kind === 'answer' && r.additional.length === 1,
      "r.kind === 'answer' && r.additional.length === 1",
    )
  })

  test('NXDOMAIN for names that do not exist, with the apex SOA at the negative TTL', () => {
    for (const name of [`nope.${D}`, `x.pi1.${D}`, `pi3.us-west.${D}`, `_ftp._tcp.${D}`]) {
      const r = zone.lookup(name, RRType.A)
      assert.equal(r.kind, 'nxdomain', name)
      assert.ok(
        r.kind === 'nxdomain' && r.apex.name === D && r.apex.negativeSoa.ttl === 20,
        "r.kind === 'nxdomain' && r.apex.name === D && r.apex.negativeSoa.ttl === 20",
      )
    }
  })

  test('NODATA for names that exist with other types, including empty non-terminals', () => {
    for (const [name, type] of [
      [`pi2.${D}`, RRType.AAAA],
      [`pi1.${D}`, RRType.SRV],
      [`agents.${D}`, RRType.A],
      [`_tcp.${D}`, RRType.SRV],
      [`summarizer._http._tcp.${D}`, RRType.A],
      [D, RRType.A],
      ['0.64.100.in-addr.arpa', RRType.PTR],
    ] as const) {
      assert.equal(zone.lookup(name, type).kind, 'nodata', `${name} ${type}`)
    }
  })

  test('names are case-insensitive and a trailing dot is ignored', () => {
    assert.deepEqual(addrs(answer(zone.lookup(`PI1.Us-West.MESH.blackroad.LOCAL.`, RRType.A))), [
      '100.64.0.1',
    ])
  })

  test('names outside every apex are "outside"', () => {
    for (const name of ['example.com', 'blackroad.local', 'in-addr.arpa', '1.1.168.192.in-addr.arpa', '']) {
      assert.equal(zone.lookup(name, RRType.A).kind, 'outside', name)
    }
  })

  test('ANY returns every RRset at the name', () => {
    const r = zone.lookup(`pi1.${D}`, RRType.ANY)
    assert.ok(r.kind === 'answer', "r.kind === 'answer'")
    assert.deepEqual(r.answer.map((s) => s.type).sort(), [RRType.A, RRType.AAAA])
  })
})

describe('MeshZone updates', () => {
  test('answers follow the view; the serial moves only when records change', () => {
    const zone = new MeshZone(OPTIONS, view(), 41)
    assert.equal(zone.serial, 41)
    const same = zone.update(view())
    assert.deepEqual([same.changed, same.serial], [false, 41])

    // The summarizer migrates to gpu1 and pi2 loses leadership to pi1.
    const v = view()
    const moved: MeshView = {
      ...v,
      agents: v.agents.map((a) => (a.name === 'summarizer' ? { ...a, node: 'gpu1' } : a)),
      control: v.control.map((c) => ({ ...c, isLeader: c.node === 'pi1' })),
    }
    const u = zone.update(moved)
    assert.deepEqual([u.changed, u.serial], [true, 42])
    assert.deepEqual(answer(zone.lookup(`summarizer.agents.${D}`, RRType.SRV)).records, [
      { type: RRType.SRV, priority: 10, weight: 5, port: 8080, target: `gpu1.eu-1.${D}` },
    ])
    assert.deepEqual(addrs(answer(zone.lookup(`control.${D}`, RRType.A))), [
      '100.64.0.1',
      '100.65.0.9',
      '100.64.0.2',
    ])
    const soa = answer(zone.lookup(D, RRType.SOA)).records[0]
    assert.ok(soa?.type === RRType.SOA && soa.serial === 42, 'soa?.type === RRType.SOA && soa.serial === 42')

    // A node leaves: its names go (NXDOMAIN), its cluster keeps the others.
    zone.update({ ...moved, nodes: moved.nodes.filter((n) => n.name !== 'pi2') })
    assert.equal(zone.lookup(`pi2.${D}`, RRType.A).kind, 'nxdomain')
    assert.deepEqual(addrs(answer(zone.lookup(`us-west.${D}`, RRType.A))), ['100.64.0.1'])
    assert.equal(zone.serial, 43)
  })

  test('the serial wraps past 2^32 - 1 and skips 0', () => {
    const zone = new MeshZone(OPTIONS, view(), 0xffffffff)
    zone.update({ ...view(), agents: [] })
    assert.equal(zone.serial, 1)
  })

  test('the pre-encoded answers are swapped together with the snapshot', () => {
    const zone = new MeshZone(OPTIONS, view())
    const before = zone.answers
    zone.update({ ...view(), agents: [] })
    assert.notEqual(zone.answers, before)
    assert.equal(zone.answers.snapshot, zone.snapshot)
  })
})

describe('MeshZone problems', () => {
  test('bad names, reserved names, conflicts and unknown nodes are skipped and reported', () => {
    const zone = new MeshZone(OPTIONS, {
      clusters: [
        { name: 'c1', region: 'r' },
        { name: 'control', region: 'r' },
        { name: 'Bad_Name!', region: 'r' },
      ],
      nodes: [
        { name: 'n1', cluster: 'c1', ipv4: '100.64.0.1' },
        { name: 'n1', cluster: 'c2', ipv4: '100.64.0.2' },
        { name: 'agents', cluster: 'c1', ipv4: '100.64.0.3' },
        { name: 'c2', cluster: 'c1', ipv4: '100.64.0.4' },
        { name: 'n5', cluster: 'c1', ipv4: '300.1.1.1' },
        { name: '-bad', cluster: 'c1', ipv4: '100.64.0.6' },
      ],
      control: [{ node: 'ghost', priority: 1, isLeader: true }],
      agents: [
        { name: 'a1', service: 'http', proto: 'tcp', node: 'ghost', port: 80 },
        { name: 'a2', service: 'http', proto: 'tcp', node: 'n5', port: 70000 },
      ],
    })
    const codes = zone.snapshot.problems.map((p) => p.code).sort()
    assert.deepEqual(codes, [
      'DNS_INVALID_ADDRESS',
      'DNS_INVALID_NAME',
      'DNS_INVALID_NAME',
      'DNS_INVALID_PORT',
      'DNS_NAME_CONFLICT',
      'DNS_NAME_CONFLICT',
      'DNS_RESERVED_NAME',
      'DNS_RESERVED_NAME',
      'DNS_UNKNOWN_NODE',
      'DNS_UNKNOWN_NODE',
    ])
    // The ambiguous short name is not published; both canonical names are.
    assert.equal(zone.lookup(`n1.${D}`, RRType.A).kind, 'nxdomain')
    assert.equal(zone.lookup(`n1.c1.${D}`, RRType.A).kind, 'answer')
    assert.equal(zone.lookup(`n1.c2.${D}`, RRType.A).kind, 'answer')
    // "agents" as a node keeps its canonical name only; agents.<domain> stays the agents' parent.
    assert.equal(zone.lookup(`agents.c1.${D}`, RRType.A).kind, 'answer')
    assert.equal(zone.lookup(`agents.${D}`, RRType.A).kind, 'nxdomain')
    // c2 is both a node and a cluster: the cluster owns c2.<domain>.
    const c2 = zone.lookup(`c2.${D}`, RRType.A)
    assert.ok(
      c2.kind === 'answer' && addrs(c2.answer[0]!).join() === '100.64.0.2',
      "c2.kind === 'answer' && addrs(c2.answer[0]!).join() === '100.64.0.2'",
    )
  })

  test('the root as domain is rejected', () => {
    assert.throws(() => new MeshZone({ ...OPTIONS, domain: '.' }), RangeError)
  })
})

describe('MeshZone name lengths', () => {
  test('records whose names would pass 255 octets are reported, not published', () => {
    const long = (c: string): string => c.repeat(63)
    const domain = `${long('d')}.${long('e')}.mesh`
    const zone = new MeshZone(
      { ...OPTIONS, domain },
      {
        clusters: [{ name: long('c'), region: 'r' }],
        nodes: [{ name: long('n'), cluster: long('c'), ipv4: '100.64.0.1' }],
        control: [],
        agents: [{ name: 'a', service: 'http', proto: 'tcp', node: long('n'), port: 80 }],
      },
    )
    const tooLong = zone.snapshot.problems.filter((p) => p.code === 'DNS_INVALID_NAME')
    assert.ok(tooLong.length > 0 && tooLong.every((p) => p.message.includes('255')), JSON.stringify(tooLong))
    // <node>.<cluster>.<domain> would be 260 octets: not published, nor anything pointing at it.
    assert.equal(zone.lookup(`${long('n')}.${long('c')}.${domain}`, RRType.A).kind, 'nxdomain')
    assert.equal(zone.lookup(`a._http._tcp.${domain}`, RRType.SRV).kind, 'nxdomain')
    assert.equal(zone.lookup('1.0.64.100.in-addr.arpa', RRType.PTR).kind, 'outside')
    // Names that fit are still there.
    assert.equal(zone.lookup(`${long('n')}.${domain}`, RRType.A).kind, 'answer')
    for (const name of zone.snapshot.names.keys()) assert.ok(name.length + 2 <= 255, name)
  })
})

describe('MeshZone following a source', () => {
  test('builds on first read, rebuilds after invalidate only when the view changed', () => {
    let current = view()
    let reads = 0
    const rebuilds: { changed: boolean; serial: number }[] = []
    const zone = new MeshZone(
      OPTIONS,
      () => {
        reads++
        return current
      },
      7,
      (u) => rebuilds.push({ changed: u.changed, serial: u.serial }),
    )
    assert.equal(reads, 0, 'nothing is built before the zone is read')
    assert.deepEqual(addrs(answer(zone.lookup(`pi2.${D}`, RRType.A))), ['100.64.0.2'])
    assert.equal(zone.serial, 7)
    assert.deepEqual(rebuilds, [{ changed: true, serial: 7 }])

    // Reads without invalidate() do not consult the source, even when it moved.
    current = { ...view(), nodes: view().nodes.filter((n) => n.name !== 'pi2') }
    assert.equal(zone.lookup(`pi2.${D}`, RRType.A).kind, 'answer')
    assert.equal(reads, 1)

    // After invalidate() the next read sees the new view: pi2 is gone, the serial moved once.
    zone.invalidate()
    zone.invalidate()
    assert.equal(zone.lookup(`pi2.${D}`, RRType.A).kind, 'nxdomain')
    assert.equal(reads, 2, 'one rebuild for two invalidations')
    assert.deepEqual(rebuilds.at(-1), { changed: true, serial: 8 })

    // An invalidation with an unchanged view reads the source and keeps the zone (and its answer table).
    const table = zone.answers
    zone.invalidate()
    zone.refresh()
    assert.equal(reads, 3)
    assert.equal(zone.answers, table)
    assert.equal(zone.serial, 8)
    assert.equal(rebuilds.length, 2)
  })

  test('a source that throws leaves the zone stale, and the next read tries again', () => {
    let fail = true
    const zone = new MeshZone(OPTIONS, () => {
      if (fail) throw new Error('view not ready')
      return view()
    })
    assert.throws(() => zone.serial, /view not ready/)
    fail = false
    assert.equal(zone.lookup(`pi1.${D}`, RRType.A).kind, 'answer')
  })
})
