// Static zones from config (the guide's dns.yaml): parsed from YAML through the real config loader into zone
// options, served as apexes of their own with SOA/NS, A/AAAA answered in priority order, NXDOMAIN under them,
// dynamic (endpoint-less) records left to the registry, and every record that cannot be served reported. Then
// the same zone over a real server, asked by dig.

import assert from 'node:assert/strict'
import { randomInt } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { Registry } from 'prom-client'
import { parseConfig } from '../../src/config/index.js'
import { RRType } from '../../src/dns/constants.js'
import { DnsServer, osDnsSettings, zoneOptionsFromConfig } from '../../src/dns/index.js'
import type { MeshView } from '../../src/dns/view.js'
import { MeshZone } from '../../src/dns/zone.js'
import { run } from '../../src/os/index.js'

const YAML = `
node:
  name: pi1
cluster:
  name: us-west
  region: west
dns:
  zones:
    - name: blackroad.mesh
      type: federation
      records:
        - name: control
          type: A
          ttl: 60
          endpoints:
            - cluster: us-east
              ip: 10.101.1.1
              priority: 2
            - cluster: us-west
              ip: 10.100.1.1
              priority: 1
        - name: control
          type: AAAA
          endpoints:
            - { cluster: us-west, ip: "fd00:100::1", priority: 1 }
        - name: "@"
          type: A
          endpoints:
            - { cluster: us-west, ip: 10.100.0.1 }
        - name: "*.agents"
          type: SRV
          ttl: 30
        - name: wrong
          type: A
          endpoints:
            - { cluster: us-west, ip: "fd00::1" }
        - name: "*.wild"
          type: A
          endpoints:
            - { cluster: us-west, ip: 10.0.0.1 }
        - name: text
          type: TXT
          endpoints:
            - { cluster: us-west, ip: 10.0.0.2 }
    - name: mesh.blackroad.local
      records:
        - name: printer.office
          type: A
          endpoints:
            - { cluster: us-west, ip: 100.64.9.9 }
        - name: control
          type: A
          endpoints:
            - { cluster: us-west, ip: 100.64.9.8 }
        - name: pi1
          type: A
          endpoints:
            - { cluster: us-west, ip: 100.64.9.7 }
`

const VIEW: MeshView = {
  nodes: [{ name: 'pi1', cluster: 'us-west', ipv4: '100.64.0.1' }],
  clusters: [{ name: 'us-west', region: 'west' }],
  control: [],
  agents: [],
}

function zoneFromYaml(): MeshZone {
  const config = parseConfig(YAML, 'dns.yaml')
  return new MeshZone(zoneOptionsFromConfig(config), VIEW)
}

const addresses = (z: MeshZone, name: string, type: number): string[] => {
  const r = z.lookup(name, type)
  return r.kind === 'answer'
    ? r.answer.flatMap((s) => s.records.map((x) => ('address' in x ? x.address : '?')))
    : [r.kind]
}

describe('static zones from config', () => {
  test('a zone of its own: SOA and NS at its apex, A/AAAA in priority order, TTL from the record or the node TTL', () => {
    const z = zoneFromYaml()
    assert.ok(z.snapshot.apexes.has('blackroad.mesh'))
    assert.deepEqual(addresses(z, 'control.blackroad.mesh', RRType.A), ['10.100.1.1', '10.101.1.1'])
    assert.deepEqual(addresses(z, 'CONTROL.blackroad.mesh.', RRType.AAAA), ['fd00:100::1'])
    assert.deepEqual(addresses(z, 'blackroad.mesh', RRType.A), ['10.100.0.1'])
    const a = z.lookup('control.blackroad.mesh', RRType.A)
    const aaaa = z.lookup('control.blackroad.mesh', RRType.AAAA)
    assert.ok(a.kind === 'answer' && aaaa.kind === 'answer')
    assert.equal(a.answer[0]!.ttl, 60)
    assert.equal(aaaa.answer[0]!.ttl, 60, 'node TTL (dns.ttl.node default 60)')
    assert.equal(z.lookup('blackroad.mesh', RRType.SOA).kind, 'answer')
    assert.equal(z.lookup('blackroad.mesh', RRType.NS).kind, 'answer')
    assert.equal(z.lookup('nothing.blackroad.mesh', RRType.A).kind, 'nxdomain')
    assert.equal(z.lookup('control.blackroad.mesh', RRType.TXT).kind, 'nodata')
    assert.equal(z.lookup('blackroad.other', RRType.A).kind, 'outside')
  })

  test("records the config cannot make static are skipped and reported; endpoint-less ones are the registry's", () => {
    const z = zoneFromYaml()
    const codes = z.snapshot.problems.map((p) => `${p.code} ${p.message.split(':')[0]}`).sort()
    assert.deepEqual(codes, [
      'DNS_INVALID_ADDRESS static record wrong A in blackroad.mesh',
      'DNS_INVALID_NAME static record *.wild A in blackroad.mesh',
      'DNS_NAME_CONFLICT static record pi1 A in mesh.blackroad.local',
      'DNS_RESERVED_NAME static record control A in mesh.blackroad.local',
      'DNS_UNSUPPORTED_RECORD static record text TXT in blackroad.mesh',
    ])
    assert.equal(z.lookup('x.agents.blackroad.mesh', RRType.SRV).kind, 'nxdomain')
    assert.equal(z.lookup('wrong.blackroad.mesh', RRType.A).kind, 'nxdomain')
  })

  test('a static zone under the mesh domain adds to the mesh zone; the mesh keeps its own names', () => {
    const z = zoneFromYaml()
    assert.deepEqual(addresses(z, 'printer.office.mesh.blackroad.local', RRType.A), ['100.64.9.9'])
    assert.equal(z.lookup('office.mesh.blackroad.local', RRType.A).kind, 'nodata', 'empty non-terminal')
    assert.deepEqual(addresses(z, 'pi1.mesh.blackroad.local', RRType.A), ['100.64.0.1'])
    assert.ok(!z.snapshot.apexes.has('mesh.blackroad.local.extra'))
    assert.deepEqual([...z.snapshot.apexes.keys()].slice(0, 2), ['mesh.blackroad.local', 'blackroad.mesh'])
  })

  test('the OS resolver is told to send the static zones here too', () => {
    const config = parseConfig(YAML, 'dns.yaml')
    const s = osDnsSettings(config, new MeshZone(zoneOptionsFromConfig(config), VIEW), 'wg0')
    assert.ok(s.domains.includes('blackroad.mesh'), s.domains.join(' '))
  })
})

describe('static zones over a real server (dig)', () => {
  const addr = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`
  const server = new DnsServer({ zone: zoneFromYaml(), listen: [`${addr}:0`], registry: new Registry() })
  let port = 0
  before(async () => {
    port = (await server.start())[0]!.port
  })
  after(() => server.close())

  const dig = async (...args: string[]): Promise<string> =>
    (
      await run('dig', [`@${addr}`, '-p', String(port), '+time=2', '+tries=1', ...args], {
        timeoutMs: 10_000,
      })
    ).stdout

  test('A in priority order, authoritative; NXDOMAIN with the static apex SOA', async () => {
    assert.equal((await dig('+short', 'control.blackroad.mesh', 'A')).trim(), '10.100.1.1\n10.101.1.1')
    const full = await dig('+norec', 'control.blackroad.mesh', 'A')
    assert.match(full, /flags: qr aa;/)
    const nx = await dig('+norec', 'nope.blackroad.mesh', 'A')
    assert.match(nx, /status: NXDOMAIN/)
    assert.match(nx, /^blackroad\.mesh\.\s+\d+\s+IN\s+SOA\s+ns\.mesh\.blackroad\.local\./m)
  })
})
