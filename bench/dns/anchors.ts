// The anchor servers of the DNS bench, configured for a fair single-threaded comparison with our one Node thread:
// NSD with one server process and response rate limiting off (Debian's default limits 200 q/s per /24, and every
// query comes from 127.0.0.1), Knot with one UDP worker, dnsmasq (single-threaded by design) from host-record /
// srv-host lines. Each gets its own directory; nothing is written outside it.

import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface ServerSpec {
  name: string
  cmd: string
  args: string[]
  /** `#` lines describing settings that change results. */
  notes: string[]
}

export interface AnchorData {
  addr: string
  port: number
  /** apex -> RFC 1035 master file text */
  zoneFiles: Map<string, string>
  dnsmasqRecords: string
}

function writeZones(dir: string, d: AnchorData): string[] {
  const files: string[] = []
  for (const [apex, text] of d.zoneFiles) {
    const file = join(dir, `${apex}.zone`)
    writeFileSync(file, text)
    files.push(apex)
  }
  return files
}

export function nsdSpec(dir: string, d: AnchorData): ServerSpec {
  mkdirSync(dir, { recursive: true })
  const zones = writeZones(dir, d)
  const conf = [
    'server:',
    `    ip-address: ${d.addr}`,
    `    port: ${d.port}`,
    '    do-ip4: yes',
    '    do-ip6: no',
    '    server-count: 1',
    '    username: ""',
    '    chroot: ""',
    `    zonesdir: "${dir}"`,
    '    database: ""',
    `    zonelistfile: "${dir}/zone.list"`,
    `    xfrdfile: "${dir}/xfrd.state"`,
    `    xfrdir: "${dir}"`,
    `    pidfile: "${dir}/nsd.pid"`,
    `    logfile: "${dir}/nsd.log"`,
    '    verbosity: 0',
    '    hide-version: yes',
    '    round-robin: no',
    '    minimal-responses: no',
    '    refuse-any: yes',
    '    rrl-ratelimit: 0',
    '    rrl-whitelist-ratelimit: 0',
    'remote-control:',
    '    control-enable: no',
    ...zones.flatMap((z) => ['zone:', `    name: ${z}`, `    zonefile: "${dir}/${z}.zone"`]),
  ].join('\n')
  writeFileSync(join(dir, 'nsd.conf'), `${conf}\n`)
  return {
    name: 'nsd',
    cmd: 'nsd',
    args: ['-d', '-c', join(dir, 'nsd.conf')],
    notes: ['nsd: server-count 1, RRL off'],
  }
}

export function knotSpec(dir: string, d: AnchorData): ServerSpec {
  mkdirSync(join(dir, 'db'), { recursive: true })
  const zones = writeZones(dir, d)
  const conf = [
    'server:',
    `    rundir: "${dir}"`,
    `    pidfile: "${dir}/knot.pid"`,
    `    listen: ${d.addr}@${d.port}`,
    '    udp-workers: 1',
    '    tcp-workers: 1',
    '    background-workers: 1',
    'log:',
    '  - target: stderr',
    '    any: warning',
    'database:',
    `    storage: "${dir}/db"`,
    'control:',
    `    listen: "${dir}/knot.sock"`,
    'template:',
    '  - id: default',
    `    storage: "${dir}"`,
    '    file: "%s.zone"',
    '    journal-content: none',
    '    zonefile-sync: -1',
    '    zonefile-load: whole',
    '    semantic-checks: off',
    'zone:',
    ...zones.map((z) => `  - domain: ${z}`),
  ].join('\n')
  writeFileSync(join(dir, 'knot.conf'), `${conf}\n`)
  return { name: 'knot', cmd: 'knotd', args: ['-c', join(dir, 'knot.conf')], notes: ['knot: udp-workers 1'] }
}

export function dnsmasqSpec(dir: string, d: AnchorData): ServerSpec {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'records.conf'), d.dnsmasqRecords)
  const conf = [
    `port=${d.port}`,
    `listen-address=${d.addr}`,
    'bind-interfaces',
    'no-resolv',
    'no-hosts',
    'no-poll',
    'no-negcache',
    ...[...d.zoneFiles.keys()].map((z) => `local=/${z}/`),
    'domain-needed',
    'pid-file=',
    `conf-file=${join(dir, 'records.conf')}`,
  ].join('\n')
  writeFileSync(join(dir, 'dnsmasq.conf'), `${conf}\n`)
  return {
    name: 'dnsmasq',
    cmd: 'dnsmasq',
    args: ['-k', '-C', join(dir, 'dnsmasq.conf'), '--log-facility=-'],
    notes: ['dnsmasq: single-threaded, no-negcache, records from host-record/srv-host lines'],
  }
}
