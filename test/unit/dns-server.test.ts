// The real server on a random 127.x address, asked by real clients (BIND's dig and Knot's kdig) over UDP and
// TCP: record types, negative answers, truncation and EDNS sizes, REFUSED and forwarding, malformed packets,
// TCP pipelining / idle timeout / connection limit, metrics, live updates, and close().

import assert from 'node:assert/strict'
import { randomInt } from 'node:crypto'
import dgram from 'node:dgram'
import net from 'node:net'
import { after, before, describe, test } from 'node:test'
import * as dnsPacket from 'dns-packet'
import { Registry } from 'prom-client'
import { DnsServer } from '../../src/dns/server.js'
import type { MeshView, ZoneOptions } from '../../src/dns/view.js'
import { MeshZone } from '../../src/dns/zone.js'
import { run } from '../../src/os/index.js'

const D = 'mesh.blackroad.local'
const OPTIONS: ZoneOptions = { domain: D, ttl: { node: 60, agent: 15, negative: 20 } }

function meshView(leader = 'n0'): MeshView {
  return {
    clusters: [{ name: 'big', region: 'eu' }],
    nodes: Array.from({ length: 60 }, (_, i) => ({
      name: `n${i}`,
      cluster: 'big',
      ipv4: `100.64.0.${i + 1}`,
      ipv6: `fd7a:115c:a1e0::${(i + 1).toString(16)}`,
    })),
    control: ['n0', 'n1', 'n2'].map((node, i) => ({ node, priority: i + 1, isLeader: node === leader })),
    agents: [{ name: 'summarizer', service: 'http', proto: 'tcp', node: 'n7', port: 8080 }],
  }
}

interface Reply {
  status: string
  flags: string[]
  answer: string[][]
  authority: string[][]
  additional: string[][]
}

/** Runs dig or kdig and reads the parts of its output both print the same way. */
async function ask(tool: 'dig' | 'kdig', addr: string, port: number, args: string[]): Promise<Reply> {
  const common = tool === 'dig' ? ['+time=2', '+tries=1'] : ['+timeout=2', '+retry=0']
  const { stdout } = await run(tool, [`@${addr}`, '-p', String(port), '+norec', ...common, ...args], {
    timeoutMs: 10_000,
  })
  const status = /status: ([A-Z]+)/.exec(stdout)?.[1] ?? 'NONE'
  const flags = (/;; [Ff]lags: ([a-z ]*);/.exec(stdout)?.[1] ?? '').trim().split(/\s+/)
  const sections: Record<string, string[][]> = { ANSWER: [], AUTHORITY: [], ADDITIONAL: [] }
  let current: string[][] | null = null
  for (const line of stdout.split('\n')) {
    const head = /^;; (ANSWER|AUTHORITY|ADDITIONAL) SECTION:/.exec(line)
    if (head) current = sections[head[1]!]!
    else if (line.startsWith(';') || line.trim() === '') current = line.trim() === '' ? null : current
    else if (current) current.push(line.split(/\s+/).filter((f) => f !== ''))
  }
  return {
    status,
    flags,
    answer: sections.ANSWER!,
    authority: sections.AUTHORITY!,
    additional: sections.ADDITIONAL!,
  }
}

const rdata = (rows: string[][]): string[] => rows.map((r) => r.slice(4).join(' '))

function randomLoopback(): string {
  return `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`
}

describe('DnsServer with dig and kdig', () => {
  const registry = new Registry()
  const zone = new MeshZone(OPTIONS, meshView())
  const addr = randomLoopback()
  const server = new DnsServer({
    zone,
    listen: [`${addr}:0`],
    registry,
    tcpIdleMs: 600,
    tcpMaxConnections: 3,
  })
  let port = 0

  before(async () => {
    port = (await server.start())[0]!.port
  })
  after(() => server.close())

  for (const tool of ['dig', 'kdig'] as const) {
    describe(tool, () => {
      test('A and AAAA, authoritative, TTL from config', async () => {
        const a = await ask(tool, addr, port, [`n3.big.${D}`, 'A'])
        assert.equal(a.status, 'NOERROR')
        assert.ok(a.flags.includes('aa'), "a.flags.includes('aa')")
        assert.deepEqual(a.answer, [[`n3.big.${D}.`, '60', 'IN', 'A', '100.64.0.4']])
        const aaaa = await ask(tool, addr, port, [`N3.${D}`, 'AAAA'])
        // dig prints names as received (our answer keeps the query's case); kdig prints them lower-cased.
        const owner = tool === 'dig' ? `N3.${D}.` : `n3.${D}.`
        assert.deepEqual(aaaa.answer, [[owner, '60', 'IN', 'AAAA', 'fd7a:115c:a1e0::4']])
      })

      test('SRV with the target addresses in the additional section', async () => {
        const r = await ask(tool, addr, port, [`summarizer.agents.${D}`, 'SRV'])
        assert.deepEqual(rdata(r.answer), [`0 0 8080 n7.big.${D}.`])
        assert.deepEqual(rdata(r.additional.filter((x) => x[3] !== 'OPT')), [
          '100.64.0.8',
          'fd7a:115c:a1e0::8',
        ])
      })

      test('PTR for IPv4 and IPv6', async () => {
        assert.deepEqual(rdata((await ask(tool, addr, port, ['-x', '100.64.0.9'])).answer), [`n8.big.${D}.`])
        assert.deepEqual(rdata((await ask(tool, addr, port, ['-x', 'fd7a:115c:a1e0::9'])).answer), [
          `n8.big.${D}.`,
        ])
      })

      test('NXDOMAIN and NODATA carry the SOA', async () => {
        const nx = await ask(tool, addr, port, [`nope.${D}`, 'A'])
        assert.equal(nx.status, 'NXDOMAIN')
        assert.deepEqual(
          nx.authority.map((r) => [r[0], r[1], r[3]]),
          [[`${D}.`, '20', 'SOA']],
        )
        const nodata = await ask(tool, addr, port, [`agents.${D}`, 'A'])
        assert.equal(nodata.status, 'NOERROR')
        assert.deepEqual(nodata.answer, [])
        assert.equal(nodata.authority[0]?.[3], 'SOA')
      })

      test('control: leader first, then by priority', async () => {
        assert.deepEqual(rdata((await ask(tool, addr, port, [`control.${D}`, 'A'])).answer), [
          '100.64.0.1',
          '100.64.0.2',
          '100.64.0.3',
        ])
      })

      test('TCP answers the same', async () => {
        const r = await ask(tool, addr, port, ['+tcp', `n3.${D}`, 'A'])
        assert.deepEqual(rdata(r.answer), ['100.64.0.4'])
      })

      test('truncation: 60 addresses do not fit 512 bytes (TC, no answers); TCP gets them all', async () => {
        const small = await ask(tool, addr, port, ['+ignore', '+bufsize=512', `big.${D}`, 'AAAA'])
        assert.ok(small.flags.includes('tc'), `flags ${small.flags}`)
        assert.deepEqual(small.answer, [])
        const noedns = await ask(tool, addr, port, [
          '+ignore',
          tool === 'dig' ? '+noedns' : '+noedns',
          `big.${D}`,
          'A',
        ])
        assert.ok(noedns.flags.includes('tc'), "noedns.flags.includes('tc')")
        const tcp = await ask(tool, addr, port, ['+tcp', `big.${D}`, 'AAAA'])
        assert.equal(tcp.answer.length, 60)
        assert.ok(!tcp.flags.includes('tc'), "!tcp.flags.includes('tc')")
      })

      test('EDNS: the client buffer size is honoured (1232 carries 60 A records, 1000 does not)', async () => {
        const fits = await ask(tool, addr, port, ['+ignore', '+bufsize=1232', `big.${D}`, 'A'])
        assert.equal(fits.answer.length, 60)
        assert.ok(!fits.flags.includes('tc'), "!fits.flags.includes('tc')")
        // Bigger than we allow: capped at 1232, so 60 AAAA (about 1.9 KB) still truncate.
        const capped = await ask(tool, addr, port, ['+ignore', '+bufsize=4096', `big.${D}`, 'AAAA'])
        assert.ok(capped.flags.includes('tc'), "capped.flags.includes('tc')")
      })

      test('REFUSED outside the zone', async () => {
        assert.equal((await ask(tool, addr, port, ['example.com', 'A'])).status, 'REFUSED')
      })
    })
  }

  test('several queries on one TCP connection (kdig +keepopen)', async () => {
    const { stdout } = await run(
      'kdig',
      [`@${addr}`, '-p', String(port), '+tcp', '+keepopen', `n1.${D}`, `n2.${D}`, `n3.${D}`],
      { timeoutMs: 10_000 },
    )
    assert.deepEqual(stdout.match(/100\.64\.0\.\d+/g), ['100.64.0.2', '100.64.0.3', '100.64.0.4'])
  })

  test('pipelined TCP queries in one write, answered in full', async () => {
    const frames = [1, 2, 3].map((i) => {
      const q = dnsPacket.encode({ type: 'query', id: i, questions: [{ name: `n${i}.${D}`, type: 'A' }] })
      return Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q])
    })
    const ids = await tcpExchange(addr, port, Buffer.concat(frames), 3)
    assert.deepEqual(ids.map((p) => p.id).sort(), [1, 2, 3])
  })

  test('an idle TCP connection is closed; connections past the limit are closed at once', async () => {
    const sock = net.connect(port, addr)
    const t0 = Date.now()
    await new Promise<void>((resolve) => sock.on('close', () => resolve()).on('error', () => {}))
    const idle = Date.now() - t0
    assert.ok(idle >= 500 && idle < 3000, `closed after ${idle} ms`)

    const open = await Promise.all([0, 1, 2].map(() => connected(addr, port)))
    const extra = net.connect(port, addr)
    const closedAt = await new Promise<number>((resolve) =>
      extra.on('close', () => resolve(Date.now())).on('error', () => {}),
    )
    assert.ok(closedAt - t0 - idle < 400, 'the fourth connection is dropped well before the idle timeout')
    for (const s of open) s.destroy()
    assert.ok(
      (await registry.getSingleMetric('blackroad_dns_tcp_rejected_total')?.get())?.values[0]?.value === 1,
      "(await registry.getSingleMetric('blackroad_dns_tcp_rejected_total')?.get())?.values[0...",
    )
  })

  test('malformed packets: FORMERR when the header is readable, silence otherwise, all counted', async () => {
    const before = server.metrics.malformedCount()
    const good = dnsPacket.encode({ type: 'query', id: 99, questions: [{ name: `n1.${D}`, type: 'A' }] })
    const twoQuestions = Buffer.from(good)
    twoQuestions.writeUInt16BE(2, 4)
    const notify = Buffer.from(good)
    notify[2] = 0x20
    const response = Buffer.from(good)
    response[2] = 0x80
    const replies = await udpExchange(
      addr,
      port,
      [twoQuestions, notify, response, Buffer.from([1, 2, 3])],
      500,
    )
    assert.equal(replies.length, 2)
    const byRcode = replies
      .map((r) => dnsPacket.decode(r) as unknown as { rcode: string; id: number })
      .map((p) => `${p.id}:${p.rcode}`)
    assert.deepEqual(byRcode.sort(), ['99:FORMERR', '99:NOTIMP'])
    assert.equal(server.metrics.malformedCount() - before, 4)
    assert.equal(server.metrics.malformedCount('qr-set'), 1)
  })

  test('metrics count queries by type and rcode', async () => {
    const text = await registry.metrics()
    assert.match(text, /blackroad_dns_queries_total\{type="A",rcode="NOERROR"\} [1-9]\d*/)
    assert.match(text, /blackroad_dns_queries_total\{type="A",rcode="REFUSED"\} [1-9]/)
    assert.match(text, /blackroad_dns_malformed_total\{reason="qdcount"\} 1/)
  })

  test('answers follow zone.update', async () => {
    zone.update({
      ...meshView('n2'),
      agents: [{ name: 'summarizer', service: 'http', proto: 'tcp', node: 'n9', port: 8080 }],
    })
    assert.deepEqual(rdata((await ask('dig', addr, port, [`control.${D}`, 'A'])).answer), [
      '100.64.0.3',
      '100.64.0.1',
      '100.64.0.2',
    ])
    assert.deepEqual(rdata((await ask('kdig', addr, port, [`summarizer.agents.${D}`, 'SRV'])).answer), [
      `0 0 8080 n9.big.${D}.`,
    ])
  })
})

describe('DnsServer forwarding', () => {
  const addr = randomLoopback()
  const upstreamZone = new MeshZone(
    { domain: 'other.test', ttl: { node: 5, agent: 5, negative: 5 } },
    {
      ...meshView(),
      nodes: [{ name: 'far', cluster: 'away', ipv4: '100.100.0.1' }],
      agents: [],
      control: [],
    },
  )
  const upstream = new DnsServer({ zone: upstreamZone, listen: [`${addr}:0`], registry: new Registry() })
  let server: DnsServer
  let port = 0

  before(async () => {
    const up = (await upstream.start())[0]!
    // A second upstream that never answers: a bound UDP socket that reads nothing.
    server = new DnsServer({
      zone: new MeshZone(OPTIONS, meshView()),
      listen: [`${addr}:0`],
      upstream: [`${addr}:${up.port}`],
      registry: new Registry(),
      forwardTimeoutMs: 400,
    })
    port = (await server.start())[0]!.port
  })
  after(async () => {
    await server.close()
    await upstream.close()
  })

  test('names outside the zone are answered by the upstream, under the client ID', async () => {
    const r = await ask('dig', addr, port, ['far.away.other.test', 'A'])
    assert.equal(r.status, 'NOERROR')
    assert.deepEqual(rdata(r.answer), ['100.100.0.1'])
    const replies = await udpExchange(
      addr,
      port,
      [dnsPacket.encode({ type: 'query', id: 31337, questions: [{ name: 'far.other.test', type: 'A' }] })],
      300,
    )
    assert.equal(dnsPacket.decode(replies[0]!).id, 31337)
    assert.equal(r.flags.includes('aa'), true)
  })

  test('mesh names are still answered locally', async () => {
    assert.deepEqual(rdata((await ask('kdig', addr, port, [`n1.${D}`, 'A'])).answer), ['100.64.0.2'])
  })

  test('a silent upstream yields SERVFAIL after the timeout', async () => {
    await upstream.close()
    const t0 = Date.now()
    const r = await ask('dig', addr, port, ['far.away.other.test', 'A'])
    assert.equal(r.status, 'SERVFAIL')
    assert.ok(Date.now() - t0 >= 350, 'Date.now() - t0 >= 350')
  })
})

describe('DnsServer lifecycle', () => {
  test('close() releases the sockets: the same address can be bound again', async () => {
    const addr = randomLoopback()
    const zone = new MeshZone(OPTIONS, meshView())
    const a = new DnsServer({ zone, listen: [`${addr}:0`], registry: new Registry() })
    const port = (await a.start())[0]!.port
    await a.close()
    const b = new DnsServer({ zone, listen: [`${addr}:${port}`], registry: new Registry() })
    assert.equal((await b.start())[0]!.port, port)
    await assert.rejects(
      new DnsServer({ zone, listen: [`${addr}:${port}`], registry: new Registry() }).start(),
      {
        code: 'DNS_BIND_FAILED',
      },
    )
    await b.close()
  })

  test('a listen address that is not "ip:port" is DNS_BAD_ADDRESS', () => {
    const zone = new MeshZone(OPTIONS, meshView())
    assert.throws(() => new DnsServer({ zone, listen: ['localhost:53'], registry: new Registry() }), {
      code: 'DNS_BAD_ADDRESS',
    })
  })
})

function connected(addr: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, addr, () => resolve(s))
    s.on('error', reject)
  })
}

async function tcpExchange(
  addr: string,
  port: number,
  payload: Buffer,
  expect: number,
): Promise<dnsPacket.DecodedPacket[]> {
  const sock = await connected(addr, port)
  sock.write(payload)
  const out: dnsPacket.DecodedPacket[] = []
  let buf = Buffer.alloc(0)
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('TCP answers timed out')), 3000)
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))))
        buf = buf.subarray(2 + buf.readUInt16BE(0))
      }
      if (out.length >= expect) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  sock.destroy()
  return out
}

/** Sends each packet from one socket and collects whatever comes back within `waitMs`. */
async function udpExchange(
  addr: string,
  port: number,
  packets: Uint8Array[],
  waitMs: number,
): Promise<Buffer[]> {
  const sock = dgram.createSocket('udp4')
  const replies: Buffer[] = []
  sock.on('message', (m) => replies.push(m))
  await new Promise<void>((resolve) => sock.bind(0, addr, () => resolve()))
  for (const p of packets) sock.send(p, port, addr)
  await new Promise((resolve) => setTimeout(resolve, waitMs))
  sock.close()
  return replies
}
