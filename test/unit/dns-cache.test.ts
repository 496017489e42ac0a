// The UDP answer cache against the uncached path, over real sockets: two servers on one zone, one with the cache
// and one without, asked the same corpus (mixed-case names, EDNS sizes and the DO bit, RD/CD, TC, NXDOMAIN in the
// domain and in a reverse zone, NODATA, SRV with additional data, ANY, class CH, outside the zone). Every answer
// from the cache must be byte-identical to the uncached server's answer to the same packet, ID included; a zone
// update must empty the cache. Plus the cache's own bounds.

import assert from 'node:assert/strict'
import { randomInt } from 'node:crypto'
import dgram from 'node:dgram'
import { after, before, describe, test } from 'node:test'
import * as dnsPacket from 'dns-packet'
import { Registry } from 'prom-client'
import { AnswerCache } from '../../src/dns/cache.js'
import { DnsServer } from '../../src/dns/server.js'
import type { MeshView, ZoneOptions } from '../../src/dns/view.js'
import { MeshZone } from '../../src/dns/zone.js'

const D = 'mesh.blackroad.local'
const OPTIONS: ZoneOptions = {
  domain: D,
  ttl: { node: 60, agent: 15, negative: 20 },
  nameserver: { addresses: ['127.0.0.1'] },
}

function meshView(leader = 'n0', shift = 0): MeshView {
  return {
    clusters: [{ name: 'big', region: 'eu' }],
    nodes: Array.from({ length: 60 }, (_, i) => ({
      name: `n${i}`,
      cluster: 'big',
      ipv4: `100.64.0.${i + 1 + shift}`,
      ipv6: `fd7a:115c:a1e0::${(i + 1 + shift).toString(16)}`,
    })),
    control: ['n0', 'n1', 'n2'].map((node, i) => ({ node, priority: i + 1, isLeader: node === leader })),
    agents: [{ name: 'summarizer', service: 'http', proto: 'tcp', node: 'n7', port: 8080 }],
  }
}

interface Q {
  name: string
  type: dnsPacket.RecordType | 'ANY'
  edns?: number
  dnssecOk?: boolean
  rd?: boolean
  cd?: boolean
  cls?: number
}

function encode(q: Q, id: number): Buffer {
  const flags = (q.rd === false ? 0 : dnsPacket.RECURSION_DESIRED) | (q.cd ? dnsPacket.CHECKING_DISABLED : 0)
  const b = dnsPacket.encode({
    type: 'query',
    id,
    flags,
    questions: [{ name: q.name, type: q.type as dnsPacket.RecordType, class: 'IN' }],
    additionals:
      q.edns !== undefined
        ? [
            {
              type: 'OPT',
              name: '.',
              udpPayloadSize: q.edns,
              flags: q.dnssecOk ? dnsPacket.DNSSEC_OK : 0,
            } as never,
          ]
        : [],
  })
  if (q.cls !== undefined) b.writeUInt16BE(q.cls, b.length - 2 - (q.edns !== undefined ? 11 : 0))
  return b
}

/** The corpus; `cached` says whether the fast path may keep its answer (class IN, inside the zone). */
const CORPUS: Array<Q & { cached: boolean }> = [
  { name: `n3.big.${D}`, type: 'A', cached: true },
  { name: `N3.BiG.${D.toUpperCase()}`, type: 'A', cached: true },
  { name: `n3.Big.${D}`, type: 'AAAA', edns: 1232, cached: true },
  { name: `n3.${D}`, type: 'AAAA', edns: 4096, dnssecOk: true, cached: true },
  { name: `n4.${D}`, type: 'A', rd: false, cached: true },
  { name: `n4.${D}`, type: 'A', cd: true, edns: 512, cached: true },
  { name: `big.${D}`, type: 'A', cached: true },
  { name: `big.${D}`, type: 'AAAA', edns: 1232, cached: true },
  { name: `BIG.${D}`, type: 'A', edns: 1000, cached: true },
  { name: `big.${D}`, type: 'A', edns: 1232, cached: true },
  { name: `nope.${D}`, type: 'A', cached: true },
  { name: `Deep.Nope.${D}`, type: 'AAAA', edns: 1232, dnssecOk: true, cached: true },
  { name: '200.0.64.100.in-addr.arpa', type: 'PTR', cached: true },
  { name: '9.0.64.100.IN-ADDR.arpa', type: 'PTR', edns: 1232, cached: true },
  { name: `agents.${D}`, type: 'A', cached: true },
  { name: `n5.big.${D}`, type: 'TXT', cached: true },
  { name: `summarizer.agents.${D}`, type: 'SRV', cached: true },
  { name: `_http._tcp.${D}`, type: 'SRV', edns: 1232, cached: true },
  { name: `control.${D}`, type: 'A', cached: true },
  { name: D, type: 'SOA', cached: true },
  { name: D.toUpperCase(), type: 'NS', edns: 1232, cached: true },
  { name: `n6.big.${D}`, type: 'ANY', cached: true },
  { name: `n6.big.${D}`, type: 'A', cls: 3, cached: false },
  { name: 'example.com', type: 'A', cached: false },
]

/** One query, one reply (the one with its ID), or a rejection after 2 s. */
function exchange(sock: dgram.Socket, port: number, addr: string, packet: Buffer): Promise<Buffer> {
  const id = packet.readUInt16BE(0)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.off('message', onMessage)
      reject(new Error(`no reply to id ${id} from ${addr}:${port}`))
    }, 2000)
    const onMessage = (msg: Buffer): void => {
      if (msg.length < 2 || msg.readUInt16BE(0) !== id) return
      clearTimeout(timer)
      sock.off('message', onMessage)
      resolve(msg)
    }
    sock.on('message', onMessage)
    sock.send(packet, port, addr)
  })
}

describe('UDP answer cache', () => {
  const zone = new MeshZone(OPTIONS, meshView())
  const addr = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`
  const cached = new DnsServer({ zone, listen: [`${addr}:0`], registry: new Registry() })
  const plain = new DnsServer({
    zone,
    listen: [`${addr}:0`],
    registry: new Registry(),
    answerCacheEntries: 0,
  })
  const client = dgram.createSocket('udp4')
  let cachedPort = 0
  let plainPort = 0
  let nextId = randomInt(1, 60_000)

  before(async () => {
    cachedPort = (await cached.start())[0]!.port
    plainPort = (await plain.start())[0]!.port
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', () => resolve()))
  })
  after(async () => {
    client.close()
    await Promise.all([cached.close(), plain.close()])
  })

  const askBoth = async (q: Q): Promise<[Buffer, Buffer]> => {
    const packet = encode(q, nextId++ & 0xffff)
    return [await exchange(client, cachedPort, addr, packet), await exchange(client, plainPort, addr, packet)]
  }

  test('hits are byte-identical to the uncached answers, ID and the client case included', async () => {
    assert.equal(plain.cache, null)
    const cache = cached.cache!
    for (const q of CORPUS) {
      const what = `${q.name} ${q.type} edns=${q.edns ?? '-'}`
      const hitsBefore = cache.hits
      const [first, firstPlain] = await askBoth(q)
      assert.deepEqual(first, firstPlain, `first ask: ${what}`)
      const [again, againPlain] = await askBoth(q)
      assert.deepEqual(again, againPlain, `second ask: ${what}`)
      assert.notEqual(again.readUInt16BE(0), first.readUInt16BE(0), 'a fresh ID each time')
      assert.equal(cache.hits - hitsBefore, q.cached ? 1 : 0, `served from the cache: ${what}`)
    }
    // The corpus covers what it claims: TC without EDNS, NXDOMAIN, NODATA, REFUSED, the client case.
    const decoded = async (q: Q) =>
      dnsPacket.decode((await askBoth(q))[0]) as dnsPacket.DecodedPacket & { rcode?: string }
    assert.ok(((await decoded(CORPUS[6]!)).flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE, 'TC')
    assert.equal((await decoded(CORPUS[10]!)).rcode, 'NXDOMAIN')
    assert.equal((await decoded(CORPUS[14]!)).answers?.length, 0)
    assert.equal((await decoded(CORPUS[22]!)).rcode, 'REFUSED')
    assert.equal((await decoded(CORPUS[1]!)).questions?.[0]?.name, CORPUS[1]!.name)
  })

  test('query metrics count hits like the full path', async () => {
    const q: Q = { name: `n9.big.${D}`, type: 'AAAA' }
    const before = cached.metrics.queryCount(28, 0)
    for (let i = 0; i < 5; i++) await askBoth(q)
    assert.equal(cached.metrics.queryCount(28, 0) - before, 5)
  })

  test('a zone update empties the cache: the next answer is the new one', async () => {
    const qs: Q[] = [
      { name: `control.${D}`, type: 'A' },
      { name: `n3.big.${D}`, type: 'A', edns: 1232 },
    ]
    const old: Buffer[] = []
    for (const q of qs) old.push((await askBoth(q))[0])
    assert.ok(cached.cache!.size > 0)
    const update = zone.update(meshView('n2', 100))
    assert.ok(update.changed)
    for (const [i, q] of qs.entries()) {
      const hitsBefore = cached.cache!.hits
      const [now, nowPlain] = await askBoth(q)
      assert.deepEqual(now, nowPlain)
      assert.equal(cached.cache!.hits, hitsBefore, 'a miss after the update')
      const rdata = (b: Buffer) =>
        (dnsPacket.decode(b).answers ?? []).map((a) => String((a as { data?: unknown }).data))
      assert.notDeepEqual(rdata(now), rdata(old[i]!))
    }
    assert.deepEqual(
      (dnsPacket.decode((await askBoth(qs[0]!))[0]).answers ?? []).map((a) =>
        String((a as { data?: unknown }).data),
      ),
      ['100.64.0.103', '100.64.0.101', '100.64.0.102'],
    )
  })
})

describe('AnswerCache bounds', () => {
  const zone = new MeshZone(OPTIONS, meshView())
  const answer = new Uint8Array(100).fill(7)
  const query = (i: number): Uint8Array => encode({ name: `n${i}.${D}`, type: 'A' }, i)

  test('the byte budget empties the cache instead of growing past it', () => {
    const cache = new AnswerCache({ entries: 1024, maxBytes: 2000 })
    for (let i = 0; i < 100; i++) cache.set(query(i), answer, 1, 0, zone.answers)
    assert.ok(cache.size > 0 && cache.size <= 2000 / (answer.length + query(0).length), `size ${cache.size}`)
    assert.notEqual(cache.get(query(99), zone.answers), null, 'the newest entry is kept')
  })

  test('slots bound the entries; oversized queries are not kept', () => {
    const cache = new AnswerCache({ entries: 16 })
    for (let i = 0; i < 200; i++) cache.set(query(i), answer, 1, 0, zone.answers)
    assert.ok(cache.size <= 16)
    const big = new Uint8Array(600)
    cache.set(big, answer, 1, 0, zone.answers)
    assert.equal(cache.get(big, zone.answers), null)
  })

  test('a hit patches only the ID; another table is a miss', () => {
    const cache = new AnswerCache()
    const q = query(5)
    cache.set(q, answer, 28, 3, zone.answers)
    const again = Uint8Array.from(q)
    again[0] = 0xab
    again[1] = 0xcd
    const hit = cache.get(again, zone.answers)!
    assert.deepEqual([...hit.subarray(0, 2)], [0xab, 0xcd])
    assert.deepEqual([...hit.subarray(2)], [...answer.subarray(2)])
    assert.deepEqual([cache.lastQtype, cache.lastRcode], [28, 3])
    const changed = Uint8Array.from(q)
    changed[13] = changed[13]! ^ 0x20 // same name, other case: another key
    assert.equal(cache.get(changed, zone.answers), null)
    const other = new MeshZone(OPTIONS, meshView('n1'))
    assert.equal(cache.get(again, other.answers), null)
    assert.equal(cache.size, 0)
  })
})
