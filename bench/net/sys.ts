// Process and host measurements the network suites share: resident memory and CPU time of a PID from /proc,
// the children of a process (the daemon's wireguard-go), the load average, and small timing helpers.

import { readdirSync, readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { readStat, statCpuTicks, threadsNamed } from '../../netns-tests/lib/procfs.js'
import type { Host } from '../../netns-tests/lib/topology.js'

export { sleep }

/** A field of /proc/<pid>/status in KiB (VmRSS, RssAnon, RssFile...), or NaN when the process is gone. */
export function statusKiB(pid: number, field = 'VmRSS'): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)
    return m ? Number(m[1]) : Number.NaN
  } catch {
    return Number.NaN
  }
}

export const rssKiB = (pid: number) => statusKiB(pid, 'VmRSS')

/** utime + stime of a process in clock ticks (NaN when gone). */
export function cpuTicks(pid: number): number {
  const s = readStat(`/proc/${pid}/stat`)
  return s === null ? Number.NaN : statCpuTicks(s.fields)
}

/** utime + stime, in clock ticks, of the threads of pid named comm (0 when there are none or pid is gone). */
export function threadCpuTicks(pid: number, comm: string): number {
  return threadsNamed(pid, comm).reduce((sum, t) => sum + t.cpuTicks, 0)
}

/** Clock ticks per second (USER_HZ; 100 on every Linux this runs on). */
export const CLK_TCK = 100

function statOf(pid: number): { ppid: number; comm: string; state: string } | null {
  const s = readStat(`/proc/${pid}/stat`)
  return s === null ? null : { ppid: Number(s.fields[1]), comm: s.comm, state: s.fields[0] ?? '' }
}

/** Direct children of pid whose command name is comm (any when comm is undefined). */
export function childPids(pid: number, comm?: string): number[] {
  const out: number[] = []
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    const s = statOf(Number(e))
    if (s && s.ppid === pid && (comm === undefined || s.comm === comm)) out.push(Number(e))
  }
  return out
}

export function hostNote(): string {
  const [l1, l5] = loadavg()
  return `host: ${cpus().length} cores, load average ${l1!.toFixed(2)} ${l5!.toFixed(2)}; node ${process.version}`
}

/** Rounds to one decimal (ms, MiB in the report). */
export const round1 = (x: number) => Math.round(x * 10) / 10

/** Whether pid runs (not a zombie) with command name comm: guards against signalling a reused PID. */
export function pidIs(pid: number, comm: string): boolean {
  const s = statOf(pid)
  return s !== null && s.comm === comm && s.state !== 'Z'
}

/**
 * Stops a process this bench started indirectly (a daemon's wireguard-go left behind when the daemon died): by
 * PID and only while it still is `comm`; SIGTERM, then SIGKILL after graceMs; bounded. True when it is gone.
 */
export async function stopPid(pid: number, comm: string, graceMs = 2_000): Promise<boolean> {
  for (const [signal, waitMs] of [
    ['SIGTERM', graceMs],
    ['SIGKILL', 3_000],
  ] as const) {
    if (!pidIs(pid, comm)) return true
    try {
      process.kill(pid, signal)
    } catch {
      return true
    }
    for (let i = 0; i < waitMs / 20 && pidIs(pid, comm); i++) await sleep(20)
  }
  return !pidIs(pid, comm)
}

/** Packets and bytes a lab host has sent on its first interface so far (the kernel's tx counters). */
export async function txCounters(h: Host): Promise<[number, number]> {
  const dev = h.iface().name
  const r = await h.execOk([
    'cat',
    `/sys/class/net/${dev}/statistics/tx_packets`,
    `/sys/class/net/${dev}/statistics/tx_bytes`,
  ])
  const [p, b] = r.stdout.trim().split(/\s+/).map(Number)
  return [p!, b!]
}
