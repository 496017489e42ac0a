// Makes the machine able to run a network suite: the netns harness's own needs (scripts/ensure-deps.sh: ip,
// iptables, wg, wireguard-go, iperf3, the nfqdelay program) and the Debian packages of the anchors a suite
// compares with (nebula, babeld, serf, ...), installed with apt-get only when their commands are missing.

import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { repoPaths, repoRoot } from '../../netns-tests/lib/repo.js'

/** Command that proves a Debian package is installed, by package. */
const COMMAND_OF: Record<string, string> = {
  nebula: 'nebula',
  babeld: 'babeld',
  serf: 'serf',
  iperf3: 'iperf3',
  'wireguard-go': 'wireguard-go',
  'wireguard-tools': 'wg',
  'iputils-ping': 'ping',
  'nats-server': 'nats-server',
  'etcd-server': 'etcd',
}

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore', timeout: 10_000 }).status === 0
}

function run(argv: string[], log: (m: string) => void, timeoutMs: number): void {
  log(`# ${argv.join(' ')}`)
  const r = spawnSync(argv[0]!, argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: timeoutMs,
    maxBuffer: 16 * 1024 * 1024,
  })
  if (r.status !== 0) {
    const out = `${r.stdout?.toString() ?? ''}${r.stderr?.toString() ?? ''}`
      .trim()
      .split('\n')
      .slice(-15)
      .join('\n')
    throw new Error(`\`${argv.join(' ')}\` failed (${r.error?.message ?? `exit ${r.status}`}):\n${out}`)
  }
}

/** The harness's dependencies: runs scripts/ensure-deps.sh when nfqdelay or a base command is missing. */
export function ensureHarness(log: (m: string) => void): void {
  const base = ['ip', 'iptables', 'wg', 'wireguard-go', 'iperf3', 'ping']
  if (existsSync(repoPaths.nfqdelay()) && base.every(hasCommand)) return
  log('bench: installing the netns harness dependencies (scripts/ensure-deps.sh)')
  run(['bash', path.join(repoRoot(), 'scripts', 'ensure-deps.sh')], log, 15 * 60_000)
}

/** Installs the Debian packages whose commands are missing (apt-get update once, waits for the dpkg lock). */
export function ensurePackages(packages: readonly string[], log: (m: string) => void): void {
  const missing = packages.filter((p) => !hasCommand(COMMAND_OF[p] ?? p))
  if (missing.length === 0) return
  log(`bench: installing anchor packages: ${missing.join(' ')}`)
  run(['apt-get', '-o', 'DPkg::Lock::Timeout=300', 'update', '-q'], log, 10 * 60_000)
  run(
    [
      'apt-get',
      '-o',
      'DPkg::Lock::Timeout=300',
      'install',
      '-y',
      '-q',
      '--no-install-recommends',
      ...missing,
    ],
    log,
    15 * 60_000,
  )
  const still = missing.filter((p) => !hasCommand(COMMAND_OF[p] ?? p))
  if (still.length > 0) throw new Error(`packages installed but commands still missing: ${still.join(' ')}`)
}

/** First line of a version command's output ('' when it fails). */
export function versionOf(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 })
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? ''
}
