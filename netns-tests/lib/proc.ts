// Long-lived processes of a test (daemons, iperf3 servers, listeners): started with output going to a log
// file, tracked by PID, signalled by PID (their own process group, so helpers they start go with them), and
// stopped TERM-then-KILL with bounded waits. Exit status is recorded the moment the process ends, so "is it
// dead?" is a fact the test can assert, not a guess.

import { type ChildProcess, spawn } from 'node:child_process'
import { appendFileSync, closeSync, fstatSync, openSync, readFileSync, writeSync } from 'node:fs'
import type { Writable } from 'node:stream'
import { HarnessError } from './errors.js'
import { childEnv, formatArgv, killGroup } from './exec.js'
import { sleepMs } from './wait.js'

export interface SpawnOptions {
  /** Base name of the log file (<logName>.log in the lab's log dir); defaults to the program's name. */
  logName?: string
  env?: Record<string, string>
  /** The process's environment is exactly `env` (see ExecOptions.envOnly). */
  envOnly?: boolean
  cwd?: string
  /** 'pipe' gives the test a writable stdin (proc.stdin); default: /dev/null. */
  stdin?: 'ignore' | 'pipe'
}

export interface ExitStatus {
  code: number | null
  signal: NodeJS.Signals | null
}

export function describeExit(s: ExitStatus): string {
  return s.signal ? `killed by ${s.signal}` : `exit code ${s.code}`
}

export class Proc {
  readonly name: string
  readonly argv: readonly string[]
  readonly pid: number
  readonly logPath: string
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>
  readonly stdin: Writable | null
  private status: ExitStatus | undefined
  private readonly child: ChildProcess
  /** Where this process's output starts in the log (after our header line, and after earlier runs' output). */
  private readonly logOffset: number

  private constructor(
    name: string,
    argv: readonly string[],
    logPath: string,
    child: ChildProcess,
    pid: number,
    logOffset: number,
  ) {
    this.logOffset = logOffset
    this.name = name
    this.argv = argv
    this.logPath = logPath
    this.child = child
    this.pid = pid
    this.stdin = child.stdin
    this.stdin?.on('error', () => {}) // writing to a process that died is reported through its exit status
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.status = { code, signal }
        resolve(this.status)
      })
    })
  }

  /**
   * Starts argv with stdout and stderr appended to logPath. Synchronous: the pid is known at once, so a test can
   * hand the process to the lab's cleanup before anything else can fail. Throws SPAWN_FAILED when it cannot start.
   */
  static start(name: string, argv: readonly string[], logPath: string, opts: SpawnOptions = {}): Proc {
    const [file, ...args] = argv
    if (file === undefined) throw new HarnessError('SPAWN_FAILED', `empty command for ${name}`)
    const fd = openSync(logPath, 'a')
    let child: ChildProcess
    let offset: number
    try {
      writeSync(fd, `# ${new Date().toISOString()} start: ${formatArgv(argv)}\n`)
      offset = fstatSync(fd).size
      // detached: the process leads its own group, so stop() also reaches whatever it forks (wireguard-go...)
      child = spawn(file, args, {
        stdio: [opts.stdin ?? 'ignore', fd, fd],
        env: childEnv(opts),
        cwd: opts.cwd,
        detached: true,
      })
    } finally {
      closeSync(fd) // the child holds its own copy
    }
    child.on('error', (e) => {
      try {
        appendFileSync(logPath, `# harness: ${e.message}\n`)
      } catch {}
    })
    if (child.pid === undefined) {
      throw new HarnessError('SPAWN_FAILED', `cannot start ${name} (${formatArgv(argv)})`, { argv })
    }
    // A forgotten process must not keep the test process alive; the lab's exit hook still kills it.
    child.unref()
    return new Proc(name, argv, logPath, child, child.pid, offset)
  }

  get alive(): boolean {
    return this.status === undefined
  }

  /** How it ended, or undefined while it runs. */
  get exitStatus(): ExitStatus | undefined {
    return this.status
  }

  /**
   * Sends a signal to the process group. For SIGKILL it also waits (bounded, 5 s) until the exit is recorded,
   * so `await p.kill('SIGKILL'); p.alive === false` holds.
   */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.alive) return
    killGroup(this.pid, signal)
    if (signal === 'SIGKILL') await this.waitExit(5_000)
  }

  /** Waits for the exit; throws WAIT_TIMEOUT if it has not happened within timeoutMs. */
  async waitExit(timeoutMs: number): Promise<ExitStatus> {
    if (this.status) return this.status
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs)
    })
    const s = await Promise.race([this.exited, timeout])
    clearTimeout(timer)
    if (s === undefined) {
      throw new HarnessError(
        'WAIT_TIMEOUT',
        `${this.name} (pid ${this.pid}) did not exit within ${timeoutMs} ms`,
      )
    }
    return s
  }

  /**
   * SIGTERM, wait up to graceMs, then SIGKILL and wait again. Resolves with how it ended. Throws STOP_FAILED
   * only if it survives SIGKILL (a process stuck in the kernel), which the test must hear about.
   */
  async stop(graceMs = 5_000): Promise<ExitStatus> {
    if (this.status) return this.status
    if (this.child.stdin && !this.child.stdin.destroyed) this.child.stdin.end()
    killGroup(this.pid, 'SIGCONT') // a SIGSTOPped process cannot act on SIGTERM
    killGroup(this.pid, 'SIGTERM')
    try {
      return await this.waitExit(graceMs)
    } catch {
      killGroup(this.pid, 'SIGKILL')
      try {
        return await this.waitExit(5_000)
      } catch {
        throw new HarnessError('STOP_FAILED', `${this.name} (pid ${this.pid}) survived SIGKILL`, {
          pid: this.pid,
        })
      }
    }
  }

  /** What this process has written so far ('' if the log cannot be read); the whole file with all=true. */
  logText(all = false): string {
    try {
      const buf = readFileSync(this.logPath)
      return buf.subarray(all ? 0 : this.logOffset).toString('utf8')
    } catch {
      return ''
    }
  }

  /** Waits until the log contains text (or matches a regexp); bounded. Useful for "listening" lines. */
  async waitForLog(pattern: string | RegExp, timeoutMs = 10_000): Promise<void> {
    const deadline = performance.now() + timeoutMs
    for (let i = 0; i < Math.ceil(timeoutMs / 25) + 1; i++) {
      const text = this.logText()
      if (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text)) return
      if (!this.alive) break
      if (performance.now() > deadline) break
      await sleepMs(25)
    }
    const why = this.alive ? `within ${timeoutMs} ms` : `before it exited (${describeExit(this.status!)})`
    throw new HarnessError(
      'WAIT_TIMEOUT',
      `${this.name} did not log ${String(pattern)} ${why}; log: ${this.logPath}`,
    )
  }
}
