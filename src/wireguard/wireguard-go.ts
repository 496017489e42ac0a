// The userspace backend: `wireguard-go -f NAME` as a supervised child of the daemon, for kernels without the
// WireGuard module. wireguard-go creates the TUN device in the namespace it runs in and serves `wg` on the UAPI
// socket /var/run/wireguard/NAME.sock, a path shared by every namespace (so names must be unique machine-wide).
// A clean TERM removes the socket; a KILL (or a crash) leaves it behind, and a stale socket makes the next
// wireguard-go of that name fail, so we remove it before every start — but only after checking nobody answers.

import { unlink } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import type { SpawnedProcess } from '../os/exec.js'
import { pathExists as exists } from '../os/fs.js'
import type { BackendContext, CreateHooks, WireGuardBackend } from './backend.js'
import { WireGuardError } from './errors.js'
import { deleteLink, type IpContext } from './ip.js'
import { type BackoffOptions, Supervisor } from './supervisor.js'
import { UapiControl } from './uapi.js'

export const DEFAULT_RUN_DIR = '/var/run/wireguard'

export interface WireGuardGoOptions {
  /** Where wireguard-go puts UAPI sockets; only tests change it. */
  runDir?: string
  /** wireguard-go LOG_LEVEL: 'error' (default), 'verbose' or 'silent'. */
  logLevel?: 'error' | 'verbose' | 'silent'
  /** How long a fresh wireguard-go may take to open its socket. */
  startTimeoutMs?: number
  stopTimeoutMs?: number
  backoff?: Partial<BackoffOptions>
  /** Program to run; default 'wireguard-go'. */
  command?: string
}

// wireguard-go opens its socket some 10-30 ms after it starts; a check is a stat and, once there, a connect.
const POLL_MS = 5

export class WireGuardGoBackend implements WireGuardBackend {
  readonly kind = 'wireguard-go' as const
  /** Keys and peers straight over the UAPI socket `wg` would use, without running `wg`. */
  readonly control = new UapiControl((name) => this.socketPath(name))
  private readonly ctx: BackendContext
  private readonly opts: WireGuardGoOptions
  private supervisor: Supervisor | undefined

  constructor(ctx: BackendContext, opts: WireGuardGoOptions = {}) {
    this.ctx = ctx
    this.opts = opts
  }

  get pid(): number | undefined {
    return this.supervisor?.pid
  }

  /** Successful restarts of wireguard-go since create(). */
  get restarts(): number {
    return this.supervisor?.restarts ?? 0
  }

  socketPath(name: string): string {
    return join(this.opts.runDir ?? DEFAULT_RUN_DIR, `${name}.sock`)
  }

  async create(name: string, hooks: CreateHooks): Promise<void> {
    if (this.supervisor !== undefined)
      throw new WireGuardError('WG_ALREADY_UP', `wireguard-go for ${name} already running`)
    const ip: IpContext =
      this.ctx.netns === undefined ? { exec: this.ctx.exec } : { exec: this.ctx.exec, netns: this.ctx.netns }
    // A stale interface (and an orphaned wireguard-go: the daemon was KILLed) shows as the interface or its
    // control socket; with neither there is nothing to remove, and no `ip` process to run.
    const stale =
      (await this.ctx.host?.interfaceExists(name)) !== false || (await exists(this.socketPath(name)))
    if (stale && (await deleteLink(ip, name))) {
      // An orphaned wireguard-go (the daemon was KILLed) exits when its TUN device is deleted; give it a moment
      // to remove its socket itself before we decide whether the socket is stale.
      this.ctx.log.warn({ name }, 'removed a stale WireGuard interface left by an earlier run')
      await waitFor(async () => !(await exists(this.socketPath(name))), 3_000)
    }
    const supervisor = new Supervisor({
      exec: this.ctx.exec,
      cmd: this.opts.command ?? 'wireguard-go',
      args: ['-f', name],
      ...(this.ctx.netns !== undefined ? { netns: this.ctx.netns } : {}),
      // FOREGROUND=1 also silences the "kernel has first class support" banner, which is not an error for us.
      env: { WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: this.opts.logLevel ?? 'error' },
      label: `wireguard-go ${name}`,
      log: this.ctx.log,
      ...(this.opts.backoff !== undefined ? { backoff: this.opts.backoff } : {}),
      ...(this.opts.stopTimeoutMs !== undefined ? { stopTimeoutMs: this.opts.stopTimeoutMs } : {}),
      prepare: async () => {
        // After a crash the TUN device died with the process; the socket may not have.
        await this.removeStaleSocket(name)
      },
      ready: (proc) => this.waitForSocket(name, proc),
      onRestart: async (pid) => {
        this.ctx.log.warn({ name, pid }, 'wireguard-go restarted; re-applying interface state')
        await hooks.onRecreated()
      },
    })
    try {
      await supervisor.start()
    } catch (err) {
      const output = supervisor.recentOutput.join(' | ')
      throw new WireGuardError(
        err instanceof WireGuardError ? err.code : 'WG_START_FAILED',
        `wireguard-go ${name} did not start: ${(err as Error).message}${output === '' ? '' : ` (output: ${output})`}`,
        { cause: err },
      )
    }
    this.supervisor = supervisor
  }

  async destroy(name: string): Promise<void> {
    const supervisor = this.supervisor
    this.supervisor = undefined
    const problems: unknown[] = []
    if (supervisor !== undefined) await supervisor.stop().catch((e: unknown) => problems.push(e))
    // After a KILL the socket stays; the TUN device disappears with the process, but check anyway.
    await unlinkIfExists(this.socketPath(name)).catch((e: unknown) => problems.push(e))
    const ip: IpContext =
      this.ctx.netns === undefined ? { exec: this.ctx.exec } : { exec: this.ctx.exec, netns: this.ctx.netns }
    await deleteLink(ip, name).catch((e: unknown) => problems.push(e))
    if (problems.length > 0) {
      throw new WireGuardError('WG_DOWN_INCOMPLETE', `removing wireguard-go ${name} left something behind`, {
        causes: problems,
      })
    }
  }

  /** Removes NAME.sock when nothing listens on it; WG_NAME_IN_USE when something does. */
  private async removeStaleSocket(name: string): Promise<void> {
    const path = this.socketPath(name)
    if (!(await exists(path))) return
    if (await answers(path)) {
      throw new WireGuardError(
        'WG_NAME_IN_USE',
        `${path} is served by another wireguard-go (interface names are machine-wide); pick another name or stop it`,
      )
    }
    this.ctx.log.warn({ path }, 'removing stale wireguard-go socket')
    await unlinkIfExists(path)
  }

  private async waitForSocket(name: string, proc: SpawnedProcess): Promise<void> {
    const path = this.socketPath(name)
    const timeoutMs = this.opts.startTimeoutMs ?? 5_000
    let exited = false
    void proc.exited.then(() => {
      exited = true
    })
    // The socket file appears at bind(), a moment before wireguard-go listens on it: wait until it answers.
    const ok = await waitFor(async () => exited || ((await exists(path)) && (await answers(path))), timeoutMs)
    if (exited) throw new WireGuardError('WG_START_FAILED', 'wireguard-go exited before opening its socket')
    if (!ok) throw new WireGuardError('WG_START_FAILED', `no socket at ${path} after ${timeoutMs} ms`)
  }
}

async function unlinkIfExists(path: string): Promise<void> {
  try {
    await unlink(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}

/**
 * True when a process accepts connections on the Unix socket. A stale socket refuses at once; a timeout means
 * something is there but slow, which we must not delete.
 */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ path })
    const done = (ok: boolean): void => {
      sock.destroy()
      resolve(ok)
    }
    sock.setTimeout(1_000, () => done(true))
    sock.once('connect', () => done(true))
    sock.once('error', () => done(false))
  })
}

/** Polls `check` every POLL_MS until it is true or `timeoutMs` passed; returns the last result. */
async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() >= deadline) return false
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}
