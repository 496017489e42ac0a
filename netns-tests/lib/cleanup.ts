// Making sure nothing outlives a test run.
// - Process hooks: while a lab is open, SIGINT/SIGTERM run every open lab's cleanup (bounded) before exiting,
//   and the 'exit' hook does a synchronous last-resort cleanup (kill by PID, delete namespaces) for labs that
//   were never closed (process.exit(), an uncaught exception).
// - sweepStale(): leftovers of earlier runs whose owning process is dead (a SIGKILLed test can run no hook):
//   namespaces brt-<pid>-*, root-namespace interfaces brt<pid36>*, WireGuard sockets /var/run/wireguard/brt*.sock
//   and scratch dirs /tmp/brt-<pid>-*. Only names with our prefix and a dead owner are touched.
// - Scanners used by Lab.assertClean() to prove a run left nothing behind.

import { spawnSync } from 'node:child_process'
import { readdirSync, readlinkSync, rmSync, statSync, unlinkSync } from 'node:fs'
import { connect } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { execCommand, pidAlive } from './exec.js'
import { PREFIX, pidOfInterface, pidOfNamespace, pidOfScratchDir } from './names.js'

export const WIREGUARD_SOCKET_DIR = '/var/run/wireguard'

/** A lab as the process hooks see it. */
export interface OpenLab {
  /** Whether a namespace, interface, socket or scratch-dir name belongs to this lab (tells this process's live
   * objects from leftovers of a dead run that had the same pid). */
  owns(name: string): boolean
  closeForSignal(): Promise<void>
  closeSync(): void
}

const open = new Set<OpenLab>()
let hooksInstalled = false
let signalled = false

function onSignal(signal: NodeJS.Signals): void {
  if (signalled) return
  signalled = true
  const code = signal === 'SIGINT' ? 130 : 143
  process.stderr.write(`netns harness: ${signal}: cleaning up ${open.size} lab(s)\n`)
  const all = Promise.allSettled([...open].map((l) => l.closeForSignal()))
  const limit = new Promise((resolve) => setTimeout(resolve, 20_000).unref())
  void Promise.race([all, limit]).finally(() => process.exit(code))
}

function onExit(): void {
  for (const l of open) l.closeSync()
}

export function registerOpenLab(lab: OpenLab): void {
  open.add(lab)
  if (!hooksInstalled) {
    hooksInstalled = true
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    process.on('exit', onExit)
  }
}

export function unregisterOpenLab(lab: OpenLab): void {
  open.delete(lab)
  if (open.size === 0 && hooksInstalled && !signalled) {
    // Give the default signal behaviour back when no lab needs protecting.
    hooksInstalled = false
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    process.off('exit', onExit)
  }
}

/** Whether the owner of a name with this pid is gone. Our own pid is stale unless an open lab owns the name. */
function ownerDead(pid: number, name: string): boolean {
  if (pid === process.pid) return ![...open].some((l) => l.owns(name))
  return !pidAlive(pid)
}

export async function listNamespaces(): Promise<string[]> {
  const r = await execCommand(['ip', 'netns', 'list'], { timeoutMs: 10_000, check: true })
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '')
}

/** Interface names in the root namespace (only veths with type='veth': the only kind a lab ever creates). */
export async function listRootInterfaces(type?: 'veth'): Promise<string[]> {
  const argv = ['ip', '-o', 'link', 'show', ...(type ? ['type', type] : [])]
  const r = await execCommand(argv, { timeoutMs: 10_000, check: true })
  return r.stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n !== '')
}

export function listWireguardSockets(): string[] {
  try {
    return readdirSync(WIREGUARD_SOCKET_DIR).filter((f) => f.startsWith(PREFIX) && f.endsWith('.sock'))
  } catch {
    return []
  }
}

export function listScratchDirs(): string[] {
  try {
    return readdirSync(os.tmpdir()).filter((f) => pidOfScratchDir(f) !== undefined)
  } catch {
    return []
  }
}

/** The network-namespace inode of a named namespace (what /proc/<pid>/ns/net links to), if it exists. */
export function namespaceInode(ns: string): number | undefined {
  try {
    return statSync(`/run/netns/${ns}`).ino
  } catch {
    return undefined
  }
}

/** PIDs of every process whose network namespace is one of the given inodes (a namespace kept alive by them). */
export function processesInNamespaces(inodes: ReadonlySet<number>): number[] {
  const found: number[] = []
  if (inodes.size === 0) return found
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return found
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue
    try {
      const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${e}/ns/net`))
      if (m && inodes.has(Number(m[1]))) found.push(Number(e))
    } catch {
      // the process exited while we looked, or is a kernel thread: not a leftover
    }
  }
  return found
}

export interface SweepReport {
  namespaces: string[]
  processes: number[]
  interfaces: string[]
  sockets: string[]
  dirs: string[]
}

/**
 * Removes leftovers of dead runs (see the file comment). Safe to call at any time, also while other runs are
 * active on the machine: objects whose owner is alive are never touched. Lab.create() calls it once per process.
 */
export async function sweepStale(): Promise<SweepReport> {
  const report: SweepReport = { namespaces: [], processes: [], interfaces: [], sockets: [], dirs: [] }
  for (const ns of await listNamespaces()) {
    const pid = pidOfNamespace(ns)
    if (pid === undefined || !ownerDead(pid, ns)) continue
    // Orphans of the dead run still inside (a daemon, wireguard-go, nfqdelay): they hold the namespace alive.
    const pids = await execCommand(['ip', 'netns', 'pids', ns], { timeoutMs: 10_000 })
    for (const p of pids.stdout.split('\n').filter((s) => /^\d+$/.test(s.trim()))) {
      try {
        process.kill(Number(p), 'SIGKILL')
        report.processes.push(Number(p))
      } catch {}
    }
    await execCommand(['ip', 'netns', 'del', ns], { timeoutMs: 10_000 })
    report.namespaces.push(ns)
  }
  // Labs never create interfaces in the root namespace; a veth with our name there is debris of an older tool.
  for (const ifname of await listRootInterfaces('veth')) {
    const pid = pidOfInterface(ifname)
    if (pid === undefined || !ownerDead(pid, ifname)) continue
    await execCommand(['ip', 'link', 'del', ifname], { timeoutMs: 10_000 })
    report.interfaces.push(ifname)
  }
  for (const sock of listWireguardSockets()) {
    const pid = pidOfInterface(sock)
    if (pid === undefined || !ownerDead(pid, sock)) continue
    // A socket someone still listens on belongs to a running wireguard-go, whatever its name says: keep it.
    if (await socketListening(path.join(WIREGUARD_SOCKET_DIR, sock))) continue
    try {
      unlinkSync(path.join(WIREGUARD_SOCKET_DIR, sock))
      report.sockets.push(sock)
    } catch {}
  }
  for (const dir of listScratchDirs()) {
    const pid = pidOfScratchDir(dir)
    if (pid === undefined || !ownerDead(pid, dir)) continue
    rmSync(path.join(os.tmpdir(), dir), { recursive: true, force: true })
    report.dirs.push(dir)
  }
  return report
}

/** Whether a process accepts connections on a Unix socket (bounded: 1 s). */
function socketListening(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(socketPath)
    const done = (v: boolean) => {
      c.destroy()
      resolve(v)
    }
    c.once('connect', () => done(true))
    c.once('error', () => done(false))
    c.setTimeout(1_000, () => done(false))
  })
}

/** Synchronous namespace deletion for the 'exit' hook (no event loop left to await anything). */
export function deleteNamespacesSync(names: readonly string[]): void {
  if (names.length === 0) return
  spawnSync('ip', ['-force', '-batch', '-'], {
    input: names.map((n) => `netns del ${n}\n`).join(''),
    timeout: 10_000,
  })
}
