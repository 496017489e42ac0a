// Keeps one long-running helper process alive (for us: `wireguard-go -f NAME`). If it dies, it is restarted with
// exponential backoff, its output is logged, and the owner is told so it can re-apply the state the dead process
// took with it. Stopping sends TERM, then KILL after a grace period. It works on the Exec boundary, so unit tests
// drive it with a fake process.

import type { Exec, ExitInfo, SpawnedProcess } from '../os/exec.js'

/** The part of pino's Logger we use, so any pino logger (or a test double) fits. */
export interface Log {
  debug(obj: object, msg: string): void
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} }

export interface BackoffOptions {
  /** First restart delay. */
  initialMs: number
  maxMs: number
  /** A process that stayed up this long starts the next backoff from initialMs again. */
  resetAfterMs: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 10_000, resetAfterMs: 30_000 }

export interface SupervisorOptions {
  exec: Exec
  cmd: string
  args: string[]
  netns?: string
  env?: Record<string, string>
  /** Label for logs ("wireguard-go brw0"). */
  label: string
  log?: Log
  backoff?: Partial<BackoffOptions>
  /** Grace period between TERM and KILL on stop. */
  stopTimeoutMs?: number
  /** Runs before every start, e.g. to remove a stale socket. */
  prepare?: () => Promise<void>
  /** Resolves once a fresh process is usable; a rejection counts as a failed start (the process is killed). */
  ready?: (proc: SpawnedProcess) => Promise<void>
  /** Called after a restart (not the first start) became ready. Errors are logged, not fatal. */
  onRestart?: (pid: number | undefined) => Promise<void>
}

const OUTPUT_LINES_KEPT = 20

export class Supervisor {
  private readonly opts: SupervisorOptions
  private readonly log: Log
  private readonly backoff: BackoffOptions
  private proc: SpawnedProcess | undefined
  private startedAt = 0
  private stopping = false
  private nextDelayMs: number
  private timer: NodeJS.Timeout | undefined
  private attempt: Promise<void> | undefined
  private restartCount = 0
  private readonly recent: string[] = []

  constructor(opts: SupervisorOptions) {
    this.opts = opts
    this.log = opts.log ?? silentLog
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff }
    this.nextDelayMs = this.backoff.initialMs
  }

  get pid(): number | undefined {
    return this.proc?.pid
  }

  /** Successful restarts since start(). */
  get restarts(): number {
    return this.restartCount
  }

  /** The last lines the process printed (both streams), for error messages. */
  get recentOutput(): string[] {
    return [...this.recent]
  }

  /** First start: throws if the process does not become ready; then supervision begins. */
  async start(): Promise<void> {
    if (this.proc !== undefined) throw new Error(`${this.opts.label}: already started`)
    this.stopping = false
    await this.launch()
  }

  /** Stops supervision and the process: TERM, then KILL after stopTimeoutMs. Idempotent. */
  async stop(): Promise<void> {
    this.stopping = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    // A restart attempt in flight finishes first (it sees `stopping` and kills what it started).
    await this.attempt?.catch(() => {})
    const proc = this.proc
    this.proc = undefined
    if (proc !== undefined) await this.terminate(proc)
  }

  private async launch(): Promise<void> {
    await this.opts.prepare?.()
    const proc = this.opts.exec.spawn(this.opts.cmd, this.opts.args, {
      ...(this.opts.netns !== undefined ? { netns: this.opts.netns } : {}),
      ...(this.opts.env !== undefined ? { env: this.opts.env } : {}),
      onLine: (stream, line) => this.onLine(proc, stream, line),
    })
    this.proc = proc
    this.startedAt = Date.now()
    try {
      await Promise.race([
        this.opts.ready?.(proc) ?? Promise.resolve(),
        proc.exited.then((info) => {
          throw info.error ?? new Error(`exited during start (${describeExit(info)})`)
        }),
      ])
    } catch (err) {
      this.proc = undefined
      await this.terminate(proc)
      throw err
    }
    // Watched only once started: a death during start is the caller's failure, not a restart. If it died in the
    // meantime, the already-settled promise still runs this and the restart path takes over.
    void proc.exited.then((info) => this.onExit(proc, info))
    this.log.info({ pid: proc.pid, cmd: proc.commandLine }, `${this.opts.label} started`)
  }

  private onLine(proc: SpawnedProcess, stream: 'stdout' | 'stderr', line: string): void {
    this.recent.push(line)
    if (this.recent.length > OUTPUT_LINES_KEPT) this.recent.shift()
    const fields = { pid: proc.pid, stream }
    if (stream === 'stderr' || /\bERROR\b/.test(line)) this.log.warn(fields, `${this.opts.label}: ${line}`)
    else this.log.debug(fields, `${this.opts.label}: ${line}`)
  }

  private onExit(proc: SpawnedProcess, info: ExitInfo): void {
    if (this.proc !== proc || this.stopping) return
    this.proc = undefined
    const upMs = Date.now() - this.startedAt
    if (upMs >= this.backoff.resetAfterMs) this.nextDelayMs = this.backoff.initialMs
    this.log.warn(
      {
        pid: proc.pid,
        exit: describeExit(info),
        upMs,
        restartInMs: this.nextDelayMs,
        lastOutput: this.recentOutput.slice(-5),
      },
      `${this.opts.label} died; restarting`,
    )
    this.scheduleRestart()
  }

  private scheduleRestart(): void {
    const delay = this.nextDelayMs
    this.nextDelayMs = Math.min(this.backoff.maxMs, this.nextDelayMs * 2)
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.attempt = this.restart().finally(() => {
        this.attempt = undefined
      })
    }, delay)
  }

  private async restart(): Promise<void> {
    if (this.stopping) return
    try {
      await this.launch()
    } catch (err) {
      if (this.stopping) return
      this.log.error({ err: String(err), retryInMs: this.nextDelayMs }, `${this.opts.label} restart failed`)
      this.scheduleRestart()
      return
    }
    if (this.stopping) return // stop() is waiting for this attempt and will stop the new process
    this.restartCount++
    try {
      await this.opts.onRestart?.(this.proc?.pid)
    } catch (err) {
      this.log.error({ err: String(err) }, `${this.opts.label}: re-applying state after restart failed`)
    }
  }

  private async terminate(proc: SpawnedProcess): Promise<void> {
    const grace = this.opts.stopTimeoutMs ?? 3_000
    proc.kill('SIGTERM')
    if (await settlesWithin(proc.exited, grace)) return
    this.log.warn({ pid: proc.pid }, `${this.opts.label} ignored SIGTERM for ${grace} ms; sending SIGKILL`)
    proc.kill('SIGKILL')
    // The kernel reaps a KILLed process promptly; the bound only guards against a broken Exec fake.
    await settlesWithin(proc.exited, grace)
  }
}

function describeExit(info: ExitInfo): string {
  if (info.error !== undefined) return info.error.message
  return info.signal !== null ? `signal ${info.signal}` : `exit status ${info.code}`
}

async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  try {
    return await Promise.race([p.then(() => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}
