// Running short commands: the one place the harness starts a process and waits for it. Every command has a
// time budget (killed by PID, with its process group, when over), a capped output buffer, a typed result, and
// a line in the lab's command log, so a failed test shows exactly which `ip`/`iptables` call did what.

import { spawn } from 'node:child_process'
import { HarnessError } from './errors.js'

export interface ExecOptions {
  /** Kill the command (SIGKILL to its process group) after this long; default 30 s. */
  timeoutMs?: number
  /** Written to the command's stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string
  /** Extra environment variables (merged over the test process's environment, unless envOnly). */
  env?: Record<string, string>
  /** The command's environment is exactly `env`: nothing of the test process's (e.g. serviceEnv in repo.ts). */
  envOnly?: boolean
  cwd?: string
  /** Throw HarnessError EXEC_FAILED / EXEC_TIMEOUT instead of returning an unsuccessful result. */
  check?: boolean
  /** Keep at most this many bytes of stdout and of stderr (default 4 MiB); the rest is counted, not kept. */
  maxOutputBytes?: number
}

export interface ExecResult {
  argv: readonly string[]
  /** Exit code, or null when the command was ended by a signal. */
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  durationMs: number
  timedOut: boolean
  /** code === 0 and not timed out. */
  ok: boolean
}

/** Where command lines and their outcomes go (the lab's lab.log); optional so helpers work without a lab. */
export interface CommandLog {
  command(where: string, argv: readonly string[]): void
  outcome(result: ExecResult): void
}

const DEFAULT_TIMEOUT_MS = 30_000
const DEFAULT_MAX_OUTPUT = 4 * 1024 * 1024

/** Shell-like rendering of argv for logs and messages (quoted only where needed). */
export function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ')
}

export function describeResult(r: ExecResult): string {
  const how = r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : `exit code ${r.code}`
  const err = r.stderr.trim() || r.stdout.trim()
  return `\`${formatArgv(r.argv)}\` failed (${how}, ${Math.round(r.durationMs)} ms)${err ? `: ${err.slice(0, 2000)}` : ''}`
}

export function execCommand(
  argv: readonly string[],
  opts: ExecOptions = {},
  log?: CommandLog,
  where = 'root',
): Promise<ExecResult> {
  const [file, ...args] = argv
  if (file === undefined) return Promise.reject(new HarnessError('EXEC_FAILED', 'empty command'))
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const maxOut = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT
  log?.command(where, argv)
  const started = performance.now()
  return new Promise((resolve, reject) => {
    // detached: the command leads its own process group, so a timeout kills what it started too (sh -c ...).
    const child = spawn(file, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: childEnv(opts),
      cwd: opts.cwd,
      detached: true,
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    let outLen = 0
    let errLen = 0
    child.stdout?.on('data', (b: Buffer) => {
      if (outLen < maxOut) out.push(b.subarray(0, maxOut - outLen))
      outLen += b.length
    })
    child.stderr?.on('data', (b: Buffer) => {
      if (errLen < maxOut) err.push(b.subarray(0, maxOut - errLen))
      errLen += b.length
    })
    if (opts.input !== undefined) {
      child.stdin?.on('error', () => {}) // the command may exit without reading; EPIPE is not our failure
      child.stdin?.end(opts.input)
    }
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      killGroup(child.pid, 'SIGKILL')
    }, timeoutMs)
    child.on('error', (e) => {
      clearTimeout(timer)
      const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'DEPS_MISSING' : 'EXEC_FAILED'
      reject(new HarnessError(code, `cannot run ${formatArgv(argv)}: ${e.message}`, { argv }, { cause: e }))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const result: ExecResult = {
        argv,
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        durationMs: performance.now() - started,
        timedOut,
        ok: code === 0 && !timedOut,
      }
      log?.outcome(result)
      if (opts.check && !result.ok) {
        reject(
          new HarnessError(timedOut ? 'EXEC_TIMEOUT' : 'EXEC_FAILED', describeResult(result), { result }),
        )
      } else {
        resolve(result)
      }
    })
  })
}

/** Signals a process group led by pid (falling back to the process alone); ignores "no such process". */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (pid === undefined || pid <= 0) return false
  try {
    process.kill(-pid, signal)
    return true
  } catch {
    try {
      process.kill(pid, signal)
      return true
    } catch {
      return false
    }
  }
}

/** True while a process with this pid exists (a zombie counts until reaped). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** A child's environment: the test process's with `env` over it, or only `env` when envOnly is set. */
export function childEnv(opts: { env?: Record<string, string>; envOnly?: boolean }): NodeJS.ProcessEnv {
  if (opts.envOnly) return { ...opts.env }
  return opts.env ? { ...process.env, ...opts.env } : process.env
}
