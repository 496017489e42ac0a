// The batched UDP path of the mesh DNS server (recvmmsg/sendmmsg through the native addon) against the dgram
// path: it is the one in use when the addon is loaded, a burst from several clients gets every answer to the
// right client, and every answer is byte-for-byte what the dgram path sends, for the fast path (cache and table)
// and the general one (REFUSED outside the zone, FORMERR, BADVERS), over IPv4 and IPv6.

import assert from 'node:assert/strict'
import { randomInt } from 'node:crypto'
import dgram from 'node:dgram'
import { after, before, describe, test } from 'node:test'
import * as dnsPacket from 'dns-packet'
import { Registry } from 'prom-client'
import { DnsServer } from '../../src/dns/server.js'
import type { MeshView, ZoneOptions } from '../../src/dns/view.js'
import { MeshZone } from '../../src/dns/zone.js'
import { nativeAddon, nativeProblem } from '../../src/os/native.js'

const D = 'mesh.blackroad.local'
const OPTIONS: ZoneOptions = { domain: D, ttl: { node: 60, agent: 15, negative: 20 } }
const off = (process.env.BLACKROAD_NATIVE ?? '').toLowerCase() === 'off'

function view(): MeshView {
  return {
    clusters: [{ name: 'c', region: 'eu' }],
    nodes: Array.from({ length: 50 }, (_, i) => ({
      name: `n${i}`,
      cluster: 'c',
      ipv4: `100.64.1.${i + 1}`,
      ipv6: `fd7a:115c:a1e0::1:${(i + 1).toString(16)}`,
    })),
    control: [{ node: 'n0', priority: 1, isLeader: true }],
    agents: [{ name: 'sum', service: 'http', proto: 'tcp', node: 'n3', port: 8080 }],
  }
}

/** Query i of a mixed workload: in-zone A/AAAA/SRV, NXDOMAIN, outside the zone, malformed, EDNS version 1. */
function query(i: number): Buffer {
  const id = i & 0xffff
  switch (i % 8) {
    case 5:
      return dnsPacket.encode({ type: 'query', id, questions: [{ type: 'A', name: `host${i}.example.com` }] })
    case 6: {
      const bad = Buffer.from(
        dnsPacket.encode({ type: 'query', id, questions: [{ type: 'A', name: `n1.c.${D}` }] }),
      )
      return bad.subarray(0, bad.length - 3) // question cut short: FORMERR
    }
    case 7: {
      // An OPT record with EDNS version 1 -> BADVERS.
      const q = Buffer.from(
        dnsPacket.encode({ type: 'query', id, questions: [{ type: 'A', name: `n2.c.${D}` }] }),
      )
      q.writeUInt16BE(1, 10)
      return Buffer.concat([q, Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 1, 0, 0, 0, 0])])
    }
    default: {
      const type = (['A', 'AAAA', 'A', 'SRV', 'A'] as const)[i % 8]!
      const name = type === 'SRV' ? `sum.agents.${D}` : i % 16 === 4 ? `gone${i}.c.${D}` : `n${i % 50}.c.${D}`
      return dnsPacket.encode({ type: 'query', id, questions: [{ type, name }] })
    }
  }
}

/** Sends `count` queries from one socket as fast as it can; resolves with the answers by ID once all came. */
async function burst(
  addr: string,
  port: number,
  first: number,
  count: number,
  ms = 10_000,
): Promise<Map<number, Buffer>> {
  const sock = dgram.createSocket({ type: addr.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 1 << 20 })
  const got = new Map<number, Buffer>()
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${got.size}/${count} answers`)), ms)
      sock.on('message', (msg) => {
        got.set(msg.readUInt16BE(0), msg)
        if (got.size === count) {
          clearTimeout(timer)
          resolve()
        }
      })
      sock.bind(0, () => {
        for (let i = first; i < first + count; i++) sock.send(query(i), port, addr)
      })
    })
  } finally {
    sock.close()
  }
  return got
}

describe('DNS over batched UDP', () => {
  const addr = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`
  const zone = new MeshZone(OPTIONS, view())
  const batched = new DnsServer({ zone, listen: [`${addr}:0`, '[::1]:0'], registry: new Registry() })
  const plain = new DnsServer({ zone, listen: [`${addr}:0`], registry: new Registry(), udpBatch: false })
  let ports: number[] = []
  let plainPort = 0

  before(async () => {
    ports = (await batched.start()).map((b) => b.port)
    plainPort = (await plain.start())[0]!.port
  })
  after(async () => {
    await batched.close()
    await plain.close()
  })

  test('the batched path is the one in use when the addon is loaded; udpBatch: false keeps dgram', () => {
    if (off) assert.deepEqual(batched.udpPaths, ['dgram', 'dgram'])
    else {
      assert.ok(nativeAddon() !== null, `native addon not loaded: ${nativeProblem()}`)
      assert.deepEqual(batched.udpPaths, ['batched', 'batched'])
    }
    assert.deepEqual(plain.udpPaths, ['dgram'])
  })

  test('a burst from four clients: every query answered once, to its sender, as the dgram path answers it', async () => {
    const count = 400
    const bursts = await Promise.all([0, 1, 2, 3].map((c) => burst(addr, ports[0]!, c * 10_000, count)))
    const reference = await Promise.all([0, 1, 2, 3].map((c) => burst(addr, plainPort, c * 10_000, count)))
    for (let c = 0; c < 4; c++) {
      assert.equal(bursts[c]!.size, count)
      for (let i = c * 10_000; i < c * 10_000 + count; i++) {
        const a = bursts[c]!.get(i & 0xffff)
        assert.ok(a, `client ${c} got no answer to query ${i}`)
        assert.deepEqual(a, reference[c]!.get(i & 0xffff), `query ${i} (kind ${i % 8}) answered differently`)
      }
    }
    const rcodes = new Set([...bursts[0]!.values()].map((m) => m[3]! & 0x0f))
    // NOERROR, FORMERR, NXDOMAIN, REFUSED: both paths were exercised, fast and general.
    for (const rc of [0, 1, 3, 5]) assert.ok(rcodes.has(rc), `no answer with rcode ${rc}`)
  })

  test('IPv6 on ::1 answers through the same path', async () => {
    const got = await burst('::1', ports[1]!, 0, 16)
    assert.equal(got.size, 16)
    const a = dnsPacket.decode(got.get(0)!)
    assert.deepEqual(
      a.answers?.map((r) => (r as { data?: unknown }).data),
      ['100.64.1.1'],
    )
  })

  test('close() stops answering and frees the port for a new bind', async () => {
    const zone2 = new MeshZone(OPTIONS, view())
    const s = new DnsServer({ zone: zone2, listen: [`${addr}:0`], registry: new Registry() })
    const port = (await s.start())[0]!.port
    assert.equal((await burst(addr, port, 0, 4)).size, 4)
    await s.close()
    await assert.rejects(burst(addr, port, 0, 1, 500), /only 0\/1 answers/)
    const again = new DnsServer({ zone: zone2, listen: [`${addr}:${port}`], registry: new Registry() })
    assert.equal((await again.start())[0]!.port, port)
    await again.close()
  })
})
