// The one place the daemon runs other programs (`wg`, `ip`, `sysctl`, `wireguard-go`...). Everything above talks
// to the small `Exec` interface so it can be tested against a fake; this file is the real implementation over execa,
// with a timeout on every call, an optional network namespace, and failures turned into an ExecError with a stable
// code, the command line and the program's stderr (never its stdin, which may carry a secret).

import { execa, type ResultPromise } from 'execa'

export type ExecErrorCode = 'EXEC_FAILED' | 'EXEC_TIMEOUT' | 'EXEC_NOT_FOUND'

export const DEFAULT_TIMEOUT_MS = 5_000
/** After a timeout's SIGTERM, how long a program gets before SIGKILL. Short: our programs are quick or stuck. */
const FORCE_KILL_AFTER_MS = 1_000

export interface RunOptions {
  /** Written to the program's stdin. Use it (or a 0600 file) for secrets: argv is world-readable in /proc. */
  input?: string | Buffer
  /** Killed (TERM, then KILL) after this long; default 5 s. */
  timeoutMs?: number
  /** Run inside this named network namespace (`ip netns exec NAME ...`). */
  netns?: string
  /** Extra environment variables, on top of the daemon's own. */
  env?: Record<string, string>
  /** When false, a non-zero exit status is returned in `code` instead of thrown. Timeouts still throw. */
  reject?: boolean
}

export interface RunResult {
  stdout: string
  stderr: string
  /** Exit status; 0 unless `reject: false` was given. */
  code: number
}

export interface SpawnOptions {
  netns?: string
  env?: Record<string, string>
  /** Called with each line the program writes, without the newline. */
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void
}

/** How a spawned program ended: an exit status, a signal, or a failure to start at all (error). */
export interface ExitInfo {
  code: number | null
  signal: string | null
  error?: ExecError
}

/** A long-running program started by `spawn`: the supervisor's view of it. */
export interface SpawnedProcess {
  readonly pid: number | undefined
  readonly commandLine: string
  /** Settles once, when the process has ended; never rejects. */
  readonly exited: Promise<ExitInfo>
  /** Sends a signal; false when the process is already gone. */
  kill(signal: NodeJS.Signals): boolean
}

/** The boundary the OS-facing layers are written against. */
export interface Exec {
  run(cmd: string, args: readonly string[], options?: RunOptions): Promise<RunResult>
  spawn(cmd: string, args: readonly string[], options?: SpawnOptions): SpawnedProcess
}

export class ExecError extends Error {
  readonly code: ExecErrorCode
  /** The full command line as it was run (including the `ip netns exec` prefix). */
  readonly command: string
  readonly stderr: string
  readonly exitCode: number | undefined
  readonly signal: string | undefined

  constructor(
    code: ExecErrorCode,
    command: string,
    details: { stderr?: string; exitCode?: number; signal?: string; reason?: string },
  ) {
    super(ExecError.describe(code, command, details))
    this.name = 'ExecError'
    this.code = code
    this.command = command
    this.stderr = details.stderr ?? ''
    this.exitCode = details.exitCode
    this.signal = details.signal
  }

  private static describe(
    code: ExecErrorCode,
    command: string,
    d: { stderr?: string; exitCode?: number; signal?: string; reason?: string },
  ): string {
    const what =
      d.reason ??
      (code === 'EXEC_NOT_FOUND'
        ? 'program not found'
        : d.signal !== undefined
          ? `killed by ${d.signal}`
          : `exit status ${d.exitCode ?? '?'}`)
    const err = (d.stderr ?? '').trim()
    return `${command}: ${what}${err === '' ? '' : `: ${lastLines(err, 5)}`}`
  }
}

function lastLines(text: string, n: number): string {
  const lines = text.split('\n')
  return lines.slice(Math.max(0, lines.length - n)).join(' | ')
}

/** Shell-like rendering for messages and logs; arguments with spaces or quotes are single-quoted. */
export function formatCommand(cmd: string, args: readonly string[]): string {
  return [cmd, ...args]
    .map((a) => (a === '' || /[^\w@%+=:,./-]/.test(a) ? `'${a.replace(/'/g, `'\\''`)}'` : a))
    .join(' ')
}

function withNetns(cmd: string, args: readonly string[], netns: string | undefined): [string, string[]] {
  // `ip netns exec` execs the program in place (no fork), so the pid we get is the program's and signals reach it.
  return netns === undefined ? [cmd, [...args]] : ['ip', ['netns', 'exec', netns, cmd, ...args]]
}

// `ip netns exec` reports a missing program with its own message and exit status 1 (or 255 on older iproute2).
const NETNS_NOT_FOUND = /^exec of ".*" failed: No such file or directory/m

async function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [file, argv] = withNetns(cmd, args, options.netns)
  const commandLine = formatCommand(file, argv)
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const child = execa(file, argv, {
    reject: false,
    // Own process group, so a timeout kills the program and anything it started: a grandchild holding our
    // stdout pipe open would otherwise keep the call waiting long after the program itself was killed.
    detached: true,
    stripFinalNewline: false,
    env: options.env,
    extendEnv: true,
    // A program must never wait on the daemon's own stdin.
    ...(options.input !== undefined ? { input: options.input } : { stdin: 'ignore' as const }),
  })
  let timedOut = false
  const timers: NodeJS.Timeout[] = []
  const killGroup = (signal: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal)
    } catch {
      // Already gone.
    }
  }
  timers.push(
    setTimeout(() => {
      timedOut = true
      killGroup('SIGTERM')
      timers.push(
        setTimeout(() => {
          killGroup('SIGKILL')
          // Last resort (a process outside the group holds the pipes): stop waiting for output.
          timers.push(
            setTimeout(() => {
              child.stdout?.destroy()
              child.stderr?.destroy()
            }, 500),
          )
        }, FORCE_KILL_AFTER_MS),
      )
    }, timeoutMs),
  )
  const r = await child.finally(() => {
    for (const t of timers) clearTimeout(t)
  })
  const stdout = String(r.stdout ?? '')
  const stderr = String(r.stderr ?? '')
  if (timedOut) {
    throw new ExecError('EXEC_TIMEOUT', commandLine, { stderr, reason: `timed out after ${timeoutMs} ms` })
  }
  if (
    r.code === 'ENOENT' ||
    (options.netns !== undefined && r.exitCode !== 0 && NETNS_NOT_FOUND.test(stderr))
  ) {
    throw new ExecError('EXEC_NOT_FOUND', commandLine, { stderr })
  }
  if (r.exitCode === undefined) {
    // Killed by a signal, or failed to spawn for another reason (EACCES...).
    const reason = r.signal === undefined ? (r.code ?? r.shortMessage) : undefined
    throw new ExecError('EXEC_FAILED', commandLine, {
      stderr,
      ...(r.signal !== undefined ? { signal: r.signal } : {}),
      ...(reason !== undefined ? { reason } : {}),
    })
  }
  if (r.exitCode !== 0 && options.reject !== false) {
    throw new ExecError('EXEC_FAILED', commandLine, { stderr, exitCode: r.exitCode })
  }
  return { stdout, stderr, code: r.exitCode }
}

function forwardLines(
  stream: NodeJS.ReadableStream | null,
  name: 'stdout' | 'stderr',
  onLine: SpawnOptions['onLine'],
): void {
  if (stream === null) return
  if (onLine === undefined) {
    stream.resume()
    return
  }
  let pending = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    pending += chunk
    let nl = pending.indexOf('\n')
    while (nl !== -1) {
      onLine(name, pending.slice(0, nl).replace(/\r$/, ''))
      pending = pending.slice(nl + 1)
      nl = pending.indexOf('\n')
    }
    // A program that never prints a newline must not grow this buffer without bound.
    if (pending.length > 64 * 1024) {
      onLine(name, pending)
      pending = ''
    }
  })
  stream.on('end', () => {
    if (pending !== '') onLine(name, pending)
    pending = ''
  })
}

function spawn(cmd: string, args: readonly string[], options: SpawnOptions = {}): SpawnedProcess {
  const [file, argv] = withNetns(cmd, args, options.netns)
  const commandLine = formatCommand(file, argv)
  const child: ResultPromise = execa(file, argv, {
    reject: false,
    buffer: false,
    stdin: 'ignore',
    env: options.env,
    extendEnv: true,
    // execa's default: the child is killed when the daemon exits normally (not on SIGKILL; see the supervisor).
    cleanup: true,
    // Its own process group: a signal to the daemon's group (Ctrl-C, systemd's SIGTERM with KillMode=mixed goes to
    // the main process only, but a terminal or a test harness signals the group) must not stop a supervised
    // child behind the daemon's back; the daemon stops its children itself, in order.
    detached: true,
  })
  forwardLines(child.stdout, 'stdout', options.onLine)
  forwardLines(child.stderr, 'stderr', options.onLine)
  const exited: Promise<ExitInfo> = child.then(
    (r) => {
      if (r.code === 'ENOENT') {
        return { code: null, signal: null, error: new ExecError('EXEC_NOT_FOUND', commandLine, {}) }
      }
      if (r.exitCode === undefined && r.signal === undefined) {
        const reason = r.code ?? r.shortMessage ?? 'failed to start'
        return { code: null, signal: null, error: new ExecError('EXEC_FAILED', commandLine, { reason }) }
      }
      return { code: r.exitCode ?? null, signal: r.signal ?? null }
    },
    (err: unknown) => ({
      code: null,
      signal: null,
      error: new ExecError('EXEC_FAILED', commandLine, { reason: String(err) }),
    }),
  )
  return {
    pid: child.pid,
    commandLine,
    exited,
    kill: (signal) => child.kill(signal),
  }
}

/** The real implementation. */
export const systemExec: Exec = { run, spawn }

export { run, spawn }
