// The wire answers of the pre-encoded table, decoded with dns-packet: header bits, the client's case kept in the
// question, TTLs, SRV additional data, negative answers with the SOA, EDNS (OPT echo, payload size, BADVERS),
// truncation (drop additional data first, then TC), REFUSED and FORMERR/NOTIMP.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import * as dnsPacket from 'dns-packet'
import { headerOnlyError } from '../../src/dns/answers.js'
import { DnsDecodeError } from '../../src/dns/errors.js'
import { type ParsedQuery, parseQuery } from '../../src/dns/query.js'
import type { MeshView, ZoneOptions } from '../../src/dns/view.js'
import { MeshZone } from '../../src/dns/zone.js'

const D = 'mesh.blackroad.local'
const OPTIONS: ZoneOptions = {
  domain: D,
  ttl: { node: 60, agent: 15, negative: 20 },
  nameserver: { addresses: ['127.0.0.1'] },
}

function bigView(clusterSize: number, agentsOnOneService = 1): MeshView {
  const nodes = Array.from({ length: clusterSize }, (_, i) => ({
    name: `n${i}`,
    cluster: 'big',
    ipv4: `100.64.${i >> 8}.${i & 0xff}`,
    ipv6: `fd7a:115c:a1e0::${(i + 1).toString(16)}`,
  }))
  return {
    clusters: [{ name: 'big', region: 'r' }],
    nodes,
    control: [{ node: 'n0', priority: 1, isLeader: true }],
    agents: Array.from({ length: agentsOnOneService }, (_, i) => ({
      name: `agent-${i}`,
      service: 'work',
      proto: 'tcp',
      node: `n${i % clusterSize}`,
      port: 9000 + (i % 1000),
    })),
  }
}

const zone = new MeshZone(OPTIONS, bigView(60, 3))

interface Ask {
  name: string
  type?: dnsPacket.RecordType
  cls?: number
  id?: number
  edns?: number
  dnssecOk?: boolean
  version?: number
  limit?: number
  rd?: boolean
}

function ask(
  a: Ask,
  z: MeshZone = zone,
): { bytes: Uint8Array | null; packet: dnsPacket.DecodedPacket & { rcode?: string } } {
  const bytes = encodeQuery(a)
  const q = parseQuery(bytes)
  assert.ok(!(q instanceof DnsDecodeError), 'test query must parse')
  const out = z.answers.respond(bytes, q as ParsedQuery, a.limit ?? (a.edns ? Math.min(a.edns, 1232) : 512))
  return { bytes: out, packet: out ? (dnsPacket.decode(Buffer.from(out)) as never) : (null as never) }
}

function encodeQuery(a: Ask): Buffer {
  const b = dnsPacket.encode({
    type: 'query',
    id: a.id ?? 4242,
    flags: a.rd === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ name: a.name, type: a.type ?? 'A', class: 'IN' }],
    additionals:
      a.edns !== undefined
        ? [
            {
              type: 'OPT',
              name: '.',
              udpPayloadSize: a.edns,
              flags: a.dnssecOk ? dnsPacket.DNSSEC_OK : 0,
              ednsVersion: a.version ?? 0,
            } as never,
          ]
        : [],
  })
  if (a.cls !== undefined) b.writeUInt16BE(a.cls, b.length - 2 - (a.edns !== undefined ? 11 : 0))
  return b
}

describe('positive answers', () => {
  test('header: ID, QR, AA, RD copied, RA clear; the question keeps the client case', () => {
    const { packet } = ask({ name: `N1.Big.MESH.blackroad.local`, id: 777 })
    assert.equal(packet.id, 777)
    assert.equal(packet.rcode, 'NOERROR')
    assert.deepEqual(
      [packet.flag_qr, packet.flag_aa, packet.flag_rd, packet.flag_ra, packet.flag_tc],
      [true, true, true, false, false],
    )
    assert.equal(packet.questions?.[0]?.name, 'N1.Big.MESH.blackroad.local')
    assert.equal(packet.answers?.[0]?.name, 'N1.Big.MESH.blackroad.local')
    assert.deepEqual(
      packet.answers?.map((r) => [r.type, (r as { data: unknown }).data, (r as { ttl?: number }).ttl]),
      [['A', '100.64.0.1', 60]],
    )
    assert.equal(ask({ name: `n1.${D}`, rd: false }).packet.flag_rd, false)
  })

  test('SRV answers carry their targets A and AAAA in the additional section', () => {
    const { packet } = ask({ name: `agent-2._work._tcp.${D}`, type: 'SRV' })
    assert.deepEqual(
      packet.answers?.map((r) => [r.type, (r as { ttl?: number }).ttl, (r as dnsPacket.SrvAnswer).data]),
      [['SRV', 15, { priority: 0, weight: 0, port: 9002, target: `n2.big.${D}` }]],
    )
    assert.deepEqual(
      packet.additionals?.map((r) => [r.name, r.type, (r as { data: unknown }).data]),
      [
        [`n2.big.${D}`, 'A', '100.64.0.2'],
        [`n2.big.${D}`, 'AAAA', 'fd7a:115c:a1e0::3'],
      ],
    )
  })

  test('PTR answers for mesh addresses', () => {
    const { packet } = ask({ name: '5.0.64.100.in-addr.arpa', type: 'PTR' })
    assert.deepEqual(
      packet.answers?.map((r) => (r as { data: unknown }).data),
      [`n5.big.${D}`],
    )
  })
})

describe('negative answers', () => {
  test('NXDOMAIN: AA, SOA of the apex in authority with the negative TTL, owner in the client case', () => {
    const { packet } = ask({ name: `Nope.MESH.blackroad.local`, type: 'AAAA' })
    assert.equal(packet.rcode, 'NXDOMAIN')
    assert.equal(packet.flag_aa, true)
    assert.deepEqual(packet.answers, [])
    const soa = packet.authorities?.[0] as dnsPacket.SoaAnswer
    assert.equal(soa.type, 'SOA')
    assert.equal(soa.name, 'MESH.blackroad.local')
    assert.equal(soa.ttl, 20)
    assert.equal(soa.data.minimum, 20)
    assert.equal(soa.data.mname, `ns.${D}`)
  })

  test('NODATA: NOERROR with no answers and the SOA, for a name with other types and for empty non-terminals', () => {
    for (const [name, type] of [
      [`n1.${D}`, 'SRV'],
      [`agents.${D}`, 'A'],
      [`_tcp.${D}`, 'SRV'],
    ] as const) {
      const { packet } = ask({ name, type })
      assert.equal(packet.rcode, 'NOERROR', name)
      assert.deepEqual(packet.answers, [])
      assert.equal(packet.authorities?.[0]?.type, 'SOA')
      assert.equal(packet.authorities?.[0]?.ttl, 20)
    }
  })

  test('NXDOMAIN in a reverse zone carries that zone SOA', () => {
    const { packet } = ask({ name: '9.9.64.100.in-addr.arpa', type: 'PTR' })
    assert.equal(packet.rcode, 'NXDOMAIN')
    assert.equal(packet.authorities?.[0]?.name, '64.100.in-addr.arpa')
  })

  test('outside every zone: no answer from the table (the server refuses or forwards)', () => {
    assert.equal(ask({ name: 'example.com' }).bytes, null)
    assert.equal(ask({ name: 'blackroad.local' }).bytes, null)
  })

  test('class CH and zone transfers inside the zone are REFUSED', () => {
    assert.equal(ask({ name: `n1.${D}`, cls: 3 }).packet.rcode, 'REFUSED')
    assert.equal(ask({ name: D, type: 'AXFR' }).packet.rcode, 'REFUSED')
  })
})

describe('EDNS and truncation', () => {
  test('an OPT is echoed with our payload size and the DO bit', () => {
    const { packet } = ask({ name: `n1.${D}`, edns: 4096, dnssecOk: true })
    const opt = packet.additionals?.find((r) => r.type === 'OPT') as dnsPacket.OptAnswer
    assert.equal(opt.udpPayloadSize, 1232)
    assert.equal(opt.flag_do, true)
    assert.equal(ask({ name: `n1.${D}` }).packet.additionals?.length, 0)
  })

  test('EDNS version 1 gets BADVERS with our version 0', () => {
    const { bytes, packet } = ask({ name: `n1.${D}`, edns: 1232, version: 1 })
    const opt = packet.additionals?.find((r) => r.type === 'OPT') as dnsPacket.OptAnswer
    assert.equal(opt.extendedRcode, 1)
    assert.equal(opt.ednsVersion, 0)
    assert.equal((bytes as Uint8Array)[3]! & 0x0f, 0)
  })

  test('a cluster of 60 nodes: full over 1232 bytes, question only + TC over 512', () => {
    const big = ask({ name: `big.${D}`, edns: 1232 })
    assert.equal(big.packet.flag_tc, false)
    assert.equal(big.packet.answers?.length, 60)
    const small = ask({ name: `big.${D}` })
    assert.equal(small.packet.flag_tc, true)
    assert.deepEqual(small.packet.answers, [])
    assert.equal(small.packet.questions?.[0]?.name, `big.${D}`)
    assert.ok((small.bytes as Uint8Array).length <= 512, '(small.bytes as Uint8Array).length <= 512')
    const tcp = ask({ name: `big.${D}`, type: 'AAAA', limit: 65535 })
    assert.equal(tcp.packet.answers?.length, 60)
  })

  test('additional data is dropped before anything is truncated, without TC', () => {
    const z = new MeshZone(OPTIONS, bigView(20, 8))
    const full = ask({ name: `_work._tcp.${D}`, type: 'SRV', limit: 65535 }, z)
    assert.equal(full.packet.answers?.length, 8)
    assert.ok((full.packet.additionals?.length ?? 0) > 0, '(full.packet.additionals?.length ?? 0) > 0')
    assert.ok((full.bytes as Uint8Array).length > 512, '(full.bytes as Uint8Array).length > 512')
    const lean = ask({ name: `_work._tcp.${D}`, type: 'SRV' }, z)
    assert.equal(lean.packet.flag_tc, false)
    assert.equal(lean.packet.answers?.length, 8)
    assert.deepEqual(lean.packet.additionals, [])
  })

  test('an RRset too big for a TCP message is cut at a record and flagged TC', () => {
    const z = new MeshZone(OPTIONS, bigView(3, 2500))
    const r = ask({ name: `_work._tcp.${D}`, type: 'SRV', limit: 65535 }, z)
    assert.equal(r.packet.flag_tc, true)
    const n = r.packet.answers?.length ?? 0
    assert.ok(n > 1000 && n < 2500, `${n} records`)
    assert.ok((r.bytes as Uint8Array).length <= 65535, '(r.bytes as Uint8Array).length <= 65535')
  })
})

describe('error answers', () => {
  test('FORMERR and NOTIMP echo the ID, opcode and RD, with empty sections', () => {
    const p = dnsPacket.decode(Buffer.from(headerOnlyError(0xabcd, 0x2100, 4))) as dnsPacket.DecodedPacket & {
      rcode: string
      opcode: string
    }
    assert.equal(p.id, 0xabcd)
    assert.equal(p.rcode, 'NOTIMP')
    assert.equal(p.opcode, 'NOTIFY')
    assert.equal(p.flag_qr, true)
    assert.equal(p.flag_rd, true)
    assert.deepEqual([p.questions, p.answers], [[], []])
  })
})
