// Control of one nfqdelay process (netns-tests/tools/nfqdelay.c) running inside a lab namespace. It holds the
// packets of some NFQUEUE queues for a set time; faults.ts points iptables rules at those queues. Delay changes
// go over the program's stdin and are acknowledged line by line, so when setDelay() resolves the new delay is
// in force for the next packet. Closing stdin ends the program (it also dies with the test process), which is
// why a crashed test never leaves a packet holder behind.

import { type ChildProcess, spawn } from 'node:child_process'
import { appendFileSync, closeSync, existsSync, openSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { HarnessError } from './errors.js'
import { killGroup, pidAlive } from './exec.js'
import { repoPaths } from './repo.js'

export interface QueueDelay {
  queue: number
  delayMs: number
  jitterMs: number
}

const REPLY_TIMEOUT_MS = 5_000

const usec = (ms: number) => Math.round(ms * 1000)

export class DelayHolder {
  readonly pid: number
  readonly logPath: string
  private readonly child: ChildProcess
  private readonly lines: string[] = []
  private waiter: (() => void) | undefined
  private chain: Promise<unknown> = Promise.resolve()
  private exited = false

  private constructor(child: ChildProcess, logPath: string) {
    this.child = child
    this.pid = child.pid!
    this.logPath = logPath
    child.once('exit', () => {
      this.exited = true
      this.waiter?.()
    })
    child.stdin?.on('error', () => {})
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        appendFileSync(logPath, `> ${line}\n`)
      } catch {}
      this.lines.push(line)
      this.waiter?.()
    })
  }

  /** Starts nfqdelay in namespace ns for the given queues and waits for its "ready" line. */
  static async start(ns: string, queues: readonly QueueDelay[], logPath: string): Promise<DelayHolder> {
    const bin = repoPaths.nfqdelay()
    if (!existsSync(bin)) {
      throw new HarnessError(
        'DEPS_MISSING',
        `${bin} is missing: run scripts/ensure-deps.sh (it builds nfqdelay)`,
      )
    }
    const specs = queues.map((q) => `${q.queue}:${usec(q.delayMs)}:${usec(q.jitterMs)}`)
    const fd = openSync(logPath, 'a')
    let child: ChildProcess
    try {
      // Own process group (detached) so it is signalled only by PID, never by a terminal's Ctrl-C mid-cleanup.
      child = spawn('ip', ['netns', 'exec', ns, bin, ...specs], {
        stdio: ['pipe', 'pipe', fd],
        detached: true,
      })
    } finally {
      closeSync(fd)
    }
    child.on('error', () => {})
    if (child.pid === undefined) throw new HarnessError('DELAY_PROGRAM', `cannot start nfqdelay in ${ns}`)
    child.unref()
    const holder = new DelayHolder(child, logPath)
    const ready = await holder.nextLine()
    if (!ready?.startsWith('ready')) {
      await holder.stop()
      throw new HarnessError(
        'DELAY_PROGRAM',
        `nfqdelay in ${ns} did not start (got ${ready ?? 'nothing'}); see ${logPath}`,
      )
    }
    return holder
  }

  get alive(): boolean {
    return !this.exited && pidAlive(this.pid)
  }

  /** Changes one queue's delay; resolves once nfqdelay has acknowledged it. */
  setDelay(q: QueueDelay): Promise<void> {
    return this.request(`delay ${q.queue} ${usec(q.delayMs)} ${usec(q.jitterMs)}`, 1).then(([reply]) => {
      if (!reply?.startsWith('ok delay')) {
        throw new HarnessError(
          'DELAY_PROGRAM',
          `nfqdelay rejected delay ${q.delayMs} ms on queue ${q.queue}: ${reply}`,
        )
      }
    })
  }

  /** Per-queue packet counters: proof that traffic really went through the delay. */
  stats(queueCount: number): Promise<Map<number, { packets: number; overflow: number; queued: number }>> {
    return this.request('stats', queueCount).then((lines) => {
      const out = new Map<number, { packets: number; overflow: number; queued: number }>()
      for (const l of lines) {
        const m = /^stats (\d+) packets (\d+) overflow (\d+) queued (\d+)$/.exec(l)
        if (m) out.set(Number(m[1]), { packets: Number(m[2]), overflow: Number(m[3]), queued: Number(m[4]) })
      }
      return out
    })
  }

  /** Ends the program: stdin EOF (it releases held packets and exits), then TERM, then KILL; all bounded. */
  async stop(): Promise<void> {
    if (this.exited) return
    this.child.stdin?.end()
    if (await this.waitExit(2_000)) return
    killGroup(this.pid, 'SIGTERM')
    if (await this.waitExit(2_000)) return
    killGroup(this.pid, 'SIGKILL')
    if (!(await this.waitExit(5_000))) {
      throw new HarnessError('STOP_FAILED', `nfqdelay (pid ${this.pid}) survived SIGKILL`)
    }
  }

  private waitExit(ms: number): Promise<boolean> {
    if (this.exited) return Promise.resolve(true)
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(this.exited), ms)
      this.child.once('exit', () => {
        clearTimeout(t)
        resolve(true)
      })
    })
  }

  /** One request at a time: nfqdelay answers in order, so replies are matched by position. */
  private request(command: string, replyLines: number): Promise<string[]> {
    const run = async () => {
      if (!this.alive)
        throw new HarnessError(
          'DELAY_PROGRAM',
          `nfqdelay (pid ${this.pid}) is not running; see ${this.logPath}`,
        )
      this.lines.length = 0
      this.child.stdin!.write(`${command}\n`)
      const out: string[] = []
      for (let i = 0; i < replyLines; i++) {
        const l = await this.nextLine()
        if (l === undefined) {
          throw new HarnessError('DELAY_PROGRAM', `nfqdelay did not answer "${command}"; see ${this.logPath}`)
        }
        out.push(l)
      }
      return out
    }
    const p = this.chain.then(run, run)
    this.chain = p.catch(() => {})
    return p
  }

  private async nextLine(): Promise<string | undefined> {
    const deadline = Date.now() + REPLY_TIMEOUT_MS
    while (this.lines.length === 0) {
      if (this.exited || Date.now() >= deadline) return undefined
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()))
        this.waiter = () => {
          clearTimeout(t)
          resolve()
        }
      })
      this.waiter = undefined
    }
    return this.lines.shift()
  }
}
