// Mesh DNS between real daemons: node A asks node B's daemon over the tunnel (dig @<B's mesh IPv4/IPv6>) and gets
// B's answers, including a static zone only B's config has; then 100,000 malformed packets sent to A's running
// daemon over loopback leave it answering correctly, each one counted in blackroad_dns_malformed_total.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type Host, Lab, waitFor } from './lib/index.js'
import { DHT_PORT, Mesh } from './lib/mesh.js'
import { requireRoot } from './lib/mesh-inspect.js'

const D = 'mesh.blackroad.local'
const FLOOD = 100_000

const fromSource = import.meta.url.endsWith('.ts')
function fixture(name: string): string[] {
  const file = fileURLToPath(new URL(`./fixtures/${name}${fromSource ? '.ts' : '.js'}`, import.meta.url))
  return fromSource ? [process.execPath, '--import', 'tsx', file] : [process.execPath, file]
}

async function dig(host: Host, server: string, name: string, type: string): Promise<string> {
  const r = await host.exec(['dig', '+short', '+time=1', '+tries=1', `@${server}`, name, type])
  return r.stdout.trim()
}

/** Sum of a counter's samples in the daemon's metrics endpoint, read from inside its namespace. */
async function counter(host: Host, name: string): Promise<number> {
  const r = await host.execOk(['curl', '-sf', '--max-time', '5', 'http://127.0.0.1:9464/metrics'])
  let sum = 0
  for (const line of r.stdout.split('\n'))
    if (line.startsWith(`${name}{`)) sum += Number(line.split(' ').pop())
  return sum
}

test('mesh DNS: A asks B over the tunnel; a malformed flood leaves the daemon answering', async (t) => {
  if (!requireRoot(t)) return
  const lab = await Lab.create(t)
  const lan = await lab.bridge('lan')
  const a = await lab.host('a')
  const b = await lab.host('b')
  await lab.attach(a, lan)
  await lab.attach(b, lan)
  const mesh = new Mesh(lab)
  const metrics = { enabled: true, listen: '127.0.0.1:9464' }
  const [na, nb] = await mesh.start(
    [
      { host: a, config: { metrics } },
      {
        host: b,
        config: {
          metrics,
          dns: {
            zones: [
              {
                name: 'static.test',
                records: [
                  {
                    name: 'only-b',
                    type: 'A',
                    endpoints: [
                      { cluster: 'lab', ip: '192.0.2.2', priority: 2 },
                      { cluster: 'lab', ip: '192.0.2.1', priority: 1 },
                    ],
                  },
                ],
              },
            ],
          },
        },
      },
    ],
    [`${a.addr(lan)}:${DHT_PORT}`],
  )
  assert.ok(na && nb)
  await waitFor(() => mesh.allPairsPing([na, nb], { ipv6: true }), {
    timeoutMs: 60_000,
    intervalMs: 200,
    what: 'a and b ping over mesh IPv4 and IPv6',
  })

  // B answers on its mesh addresses, over the tunnel, with its own zone.
  const bName = `${nb.node.name}.lab.${D}`
  await waitFor(async () => (await dig(a, nb.node.ipv4, bName, 'A')) === nb.node.ipv4, {
    timeoutMs: 15_000,
    intervalMs: 250,
    what: `a: dig @${nb.node.ipv4} ${bName} A`,
  })
  assert.equal(await dig(a, nb.node.ipv6, bName, 'AAAA'), nb.node.ipv6)
  assert.equal(await dig(a, nb.node.ipv6, `${na.node.name}.lab.${D}`, 'A'), na.node.ipv4)
  // The static zone is B's alone: B answers it in priority order; A's own server does not know it.
  assert.equal(await dig(a, nb.node.ipv4, 'only-b.static.test', 'A'), '192.0.2.1\n192.0.2.2')
  const local = await a.exec(['dig', '+time=1', '+tries=1', '@127.0.0.153', 'only-b.static.test', 'A'])
  assert.match(local.stdout, /status: REFUSED/)

  // 100,000 malformed packets to A's running daemon over loopback (10,000/s, bounded by the fixture).
  const before = await counter(a, 'blackroad_dns_malformed_total')
  const flood = await a.execOk([...fixture('dns-flood'), '127.0.0.153', '53', String(FLOOD), '10000', '7'], {
    timeoutMs: 60_000,
  })
  const report = JSON.parse(flood.stdout.trim().split('\n').pop()!) as { sent: number; answered: number }
  t.diagnostic(`flood: ${JSON.stringify(report)}`)
  assert.equal(report.sent, FLOOD)
  assert.ok(report.answered > 0, 'packets with a readable header are answered FORMERR/NOTIMP')
  // Every one is counted (UDP over loopback may drop a few under load; the unit flood test checks exact counts).
  await waitFor(async () => (await counter(a, 'blackroad_dns_malformed_total')) - before >= FLOOD * 0.99, {
    timeoutMs: 10_000,
    intervalMs: 250,
    what: 'the malformed counter rose by the flood',
  })
  assert.ok((await counter(a, 'blackroad_dns_malformed_total')) - before <= FLOOD)
  // Still answering, correctly, locally and across the tunnel; the daemon is still the same process.
  assert.equal(await dig(a, '127.0.0.153', bName, 'A'), nb.node.ipv4)
  assert.equal(await dig(b, na.node.ipv4, `${na.node.name}.lab.${D}`, 'AAAA'), na.node.ipv6)
  assert.equal(na.daemon!.alive, true)
})
