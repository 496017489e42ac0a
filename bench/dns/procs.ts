// Processes the DNS bench starts: each in its own process group (so forked workers are covered), tracked by PID,
// stopped by PID (TERM, then KILL after 5 s), also on failure and on Ctrl-C; and the CPU time a group has used,
// read from /proc, which is what "queries per server core" divides by.

import { spawn } from 'node:child_process'
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs'

const STOP_GRACE_MS = 5000

export interface Started {
  name: string
  pid: number
  log: string
}

export class Processes {
  private readonly live = new Map<number, Started>()
  private readonly onSignal = (): void => {
    this.killAllNow()
    process.exit(130)
  }

  constructor() {
    process.once('SIGINT', this.onSignal)
    process.once('SIGTERM', this.onSignal)
    // Last resort if the bench dies without reaching its finally: nothing we started outlives us.
    process.once('exit', () => this.killAllNow())
  }

  start(name: string, cmd: string, args: readonly string[], log: string, cwd?: string): Started {
    const fd = openSync(log, 'a')
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], ...(cwd ? { cwd } : {}) })
    closeSync(fd)
    if (child.pid === undefined) throw new Error(`bench: could not start ${name} (${cmd})`)
    child.on('error', () => {})
    const p = { name, pid: child.pid, log }
    this.live.set(p.pid, p)
    return p
  }

  alive(pid: number): boolean {
    try {
      process.kill(pid, 0)
      return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z'
    } catch {
      return false
    }
  }

  async stop(pid: number): Promise<void> {
    if (!this.live.has(pid)) return
    signalGroup(pid, 'SIGTERM')
    const t0 = Date.now()
    while (this.alive(pid) && Date.now() - t0 < STOP_GRACE_MS) await sleep(50)
    if (this.alive(pid)) signalGroup(pid, 'SIGKILL')
    this.live.delete(pid)
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.live.keys()].map((pid) => this.stop(pid)))
    process.off('SIGINT', this.onSignal)
    process.off('SIGTERM', this.onSignal)
  }

  private killAllNow(): void {
    for (const pid of this.live.keys()) signalGroup(pid, 'SIGKILL')
    this.live.clear()
  }
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig)
  } catch {
    try {
      process.kill(pid, sig)
    } catch {
      // already gone
    }
  }
}

/** user+system CPU ticks of every live process in process group `pgid` (fields 14 and 15 of /proc/PID/stat). */
export function groupCpuTicks(pgid: number): number {
  let ticks = 0
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8')
    } catch {
      continue
    }
    // Fields after the ")" that closes the command name: state ppid pgrp ... utime (12th) stime (13th).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(f[2]) === pgid) ticks += Number(f[11]) + Number(f[12])
  }
  return ticks
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
