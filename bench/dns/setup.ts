// Setup steps of the DNS bench that touch the machine: installing the anchors' Debian packages when missing,
// finding free ports, waiting for a server to answer, and the dig checks that every server serves the same data.

import { execFileSync } from 'node:child_process'
import dgram from 'node:dgram'
import net from 'node:net'
import { run } from '../../src/os/index.js'
import { sleep } from './procs.js'

const BINARIES: Record<string, string> = {
  nsd: 'nsd',
  knotd: 'knot',
  dnsmasq: 'dnsmasq-base',
  dnsperf: 'dnsperf',
  dig: 'bind9-dnsutils',
}

function have(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** apt-get installs whichever anchor packages are missing (root; the bench entry checks that). */
export async function ensurePackages(log: (m: string) => void): Promise<void> {
  const missing = Object.entries(BINARIES)
    .filter(([bin]) => !have(bin))
    .map(([, pkg]) => pkg)
  if (missing.length === 0) return
  log(`# dns: installing ${missing.join(' ')}`)
  const env = { DEBIAN_FRONTEND: 'noninteractive' }
  const install = () =>
    run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { env, timeoutMs: 900_000 })
  try {
    await install()
  } catch {
    await run('apt-get', ['update'], { env, timeoutMs: 600_000 })
    await install()
  }
}

/** A port free for both UDP and TCP on `addr` right now, not in `taken`. */
export async function freePort(addr: string, taken: Set<number>): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const udp = dgram.createSocket('udp4')
    const port = await new Promise<number>((resolve, reject) => {
      udp.once('error', reject)
      udp.bind(0, addr, () => resolve(udp.address().port))
    })
    const tcpOk = await new Promise<boolean>((resolve) => {
      const s = net.createServer()
      s.once('error', () => resolve(false))
      s.listen(port, addr, () => s.close(() => resolve(true)))
    })
    udp.close()
    if (tcpOk && !taken.has(port)) {
      taken.add(port)
      return port
    }
  }
  throw new Error('bench: no free port')
}

export async function dig(addr: string, port: number, args: string[]): Promise<string> {
  const r = await run('dig', [`@${addr}`, '-p', String(port), '+time=1', '+tries=1', '+norec', ...args], {
    timeoutMs: 5000,
    reject: false,
  })
  return r.stdout
}

/** Until the server answers its SOA (at most `ms`). */
export async function waitForDns(addr: string, port: number, apex: string, ms: number): Promise<boolean> {
  const t0 = Date.now()
  while (Date.now() - t0 < ms) {
    if ((await dig(addr, port, [apex, 'SOA'])).includes('status: NOERROR')) return true
    await sleep(200)
  }
  return false
}

/** The answers every server must agree on: A, AAAA, SRV and an NXDOMAIN. */
export async function sampleAnswers(
  addr: string,
  port: number,
  domain: string,
  node: string,
): Promise<string> {
  const parts: string[] = []
  for (const [name, type] of [
    [`${node}.${domain}`, 'A'],
    [`${node}.${domain}`, 'AAAA'],
    [`${node}._agent._tcp.${domain}`, 'SRV'],
  ]) {
    parts.push((await dig(addr, port, ['+short', name!, type!])).trim())
  }
  parts.push(/status: ([A-Z]+)/.exec(await dig(addr, port, [`missing-x.${domain}`, 'A']))?.[1] ?? '?')
  return parts.join(' | ')
}
