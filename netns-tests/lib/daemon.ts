// Running real `blackroad daemon` processes in a lab. The contract with the daemon (src/cli, src/config):
//   - config is YAML; the harness writes it from a plain object, after pointing node.state_dir and api.socket
//     into a per-daemon scratch dir (/tmp/brt-<pid>-<seq>/<name>/, short because Unix socket paths are limited
//     to 107 bytes) unless the test set them; api.group defaults to root (test machines have no blackroad group);
//     wireguard.interface defaults to a name unique on the machine (wireguard-go's UAPI sockets in
//     /var/run/wireguard are shared by all namespaces, so every daemon's 'brmesh0' would collide);
//   - started as `node <flags> dist/bin/blackroad-cli.cjs daemon --config <file>` inside the host's namespace (npm run build
//     first), output captured in <host>.daemon.log;
//   - ready when the socket exists and `blackroad status --json --socket <sock>` exits 0 (bounded wait; a daemon
//     that exits meanwhile fails at once, with its log tail in the error);
//   - `stop()` sends SIGTERM and requires exit code 0: a daemon that cannot shut down cleanly is a bug.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { stringify } from 'yaml'
import { HarnessError } from './errors.js'
import type { ExecResult } from './exec.js'
import type { Lab } from './lab.js'
import { describeExit, type ExitStatus, type Proc } from './proc.js'
import { repoPaths, serviceEnv, shebangFlags } from './repo.js'
import type { HeldProc, Host } from './topology.js'
import { sleepMs } from './wait.js'

export interface DaemonOptions {
  /** Distinguishes several daemons on one host (scratch dir and log name); default: the host's name. */
  name?: string
  /** Wait this long for the socket and a successful status (default 30 s). */
  readyTimeoutMs?: number
  /** Do not wait for readiness (a test of a daemon that must fail to start). */
  noWait?: boolean
  /** Extra arguments after `daemon --config <file>`. */
  extraArgs?: string[]
  env?: Record<string, string>
  /** SIGTERM grace before SIGKILL in stop() (default 10 s). */
  stopTimeoutMs?: number
  /** Spawn held (Host.spawnHeld): the daemon starts on release(); implies noWait. For timing start-ups. */
  held?: boolean
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

type Config = Record<string, unknown>

function section(config: Config, key: string): Config {
  const v = config[key]
  if (v === undefined) {
    const fresh: Config = {}
    config[key] = fresh
    return fresh
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new HarnessError('DAEMON', `config.${key} must be a mapping`)
  }
  return v as Config
}

export class DaemonHandle {
  readonly host: Host
  readonly name: string
  readonly dir: string
  readonly configPath: string
  readonly socketPath: string
  readonly stateDir: string
  /** The config as written (with the harness's paths filled in). */
  readonly config: Config
  private readonly opts: DaemonOptions
  private current: Proc | undefined
  private held: HeldProc | undefined

  /** The WireGuard interface the daemon creates (also its UAPI socket name). */
  readonly wgInterface: string

  constructor(host: Host, name: string, dir: string, config: Config, opts: DaemonOptions, wgDefault: string) {
    this.host = host
    this.name = name
    this.dir = dir
    this.opts = opts
    this.config = config
    this.configPath = path.join(dir, 'config.yaml')
    const node = section(config, 'node')
    const api = section(config, 'api')
    node.state_dir ??= path.join(dir, 'state')
    api.socket ??= path.join(dir, 'api.sock')
    api.group ??= 'root'
    const wg = section(config, 'wireguard')
    wg.interface ??= wgDefault
    this.wgInterface = String(wg.interface)
    this.stateDir = String(node.state_dir)
    this.socketPath = String(api.socket)
  }

  get proc(): Proc {
    if (!this.current) throw new HarnessError('DAEMON', `daemon ${this.name} was never started`)
    return this.current
  }

  get logPath(): string {
    return this.proc.logPath
  }

  get alive(): boolean {
    return this.current?.alive ?? false
  }

  get pid(): number {
    return this.proc.pid
  }

  /** @internal writes the config, starts the process and (unless noWait) waits until it answers. */
  async start(): Promise<void> {
    const cli = repoPaths.cliMain()
    if (!existsSync(cli)) throw new HarnessError('DEPS_MISSING', `${cli} is missing: run npm run build first`)
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    writeFileSync(this.configPath, stringify(this.config))
    const argv = [
      process.execPath,
      ...shebangFlags(cli),
      // For profiling a run (e.g. BRT_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof"); unset in tests.
      ...(process.env.BRT_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? []),
      cli,
      'daemon',
      '--config',
      this.configPath,
      ...(this.opts.extraArgs ?? []),
    ]
    const opts = {
      logName: this.name === this.host.name ? 'daemon' : `daemon-${this.name}`,
      env: serviceEnv(cli, this.opts.env),
      envOnly: true,
    }
    if (this.opts.held) {
      const held = this.host.spawnHeld(argv, opts)
      this.current = held.proc
      this.held = held
      return
    }
    this.current = this.host.spawn(argv, opts)
    if (!this.opts.noWait) await this.waitReady(this.opts.readyTimeoutMs ?? 30_000)
  }

  /** Starts a daemon spawned with `held` (once). */
  release(): void {
    if (this.held === undefined) throw new HarnessError('DAEMON', `daemon ${this.name} is not held`)
    this.held.release()
    this.held = undefined
  }

  /**
   * Runs `blackroad <args...> --socket <sock>` inside the daemon's namespace, with the command's shebang flags
   * as the installed command runs (V8 takes the bundle's code cache only under those flags: without them each
   * call compiles the whole bundle, ~0.3 s instead of ~0.2 s, and the tests that poll lose resolution).
   */
  async cli(args: readonly string[], timeoutMs = 30_000): Promise<CliResult> {
    const cli = repoPaths.cliMain()
    const r: ExecResult = await this.host.exec(
      [process.execPath, ...shebangFlags(cli), cli, ...args, '--socket', this.socketPath],
      { timeoutMs, env: serviceEnv(cli), envOnly: true },
    )
    return { code: r.code, stdout: r.stdout, stderr: r.stderr }
  }

  /** Parsed `status --json`; throws DAEMON with the CLI's output when it fails. */
  async status(): Promise<Record<string, unknown>> {
    const r = await this.cli(['status', '--json'])
    if (r.code !== 0)
      throw new HarnessError(
        'DAEMON',
        `status of ${this.name} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`,
      )
    try {
      return JSON.parse(r.stdout) as Record<string, unknown>
    } catch (e) {
      throw new HarnessError(
        'DAEMON',
        `status of ${this.name} is not JSON: ${r.stdout.slice(0, 500)}`,
        {},
        { cause: e },
      )
    }
  }

  /** Sends a signal (SIGKILL also waits for the death to be recorded). */
  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    return this.proc.kill(signal)
  }

  /** SIGTERM, wait, and insist on exit code 0 (SIGKILL after stopTimeoutMs counts as a failure). */
  async stop(): Promise<ExitStatus> {
    const s = await this.proc.stop(this.opts.stopTimeoutMs ?? 10_000)
    if (s.code !== 0) {
      throw new HarnessError(
        'DAEMON',
        `daemon ${this.name} did not exit cleanly on SIGTERM (${describeExit(s)}); log: ${this.logPath}`,
        {
          exit: s,
        },
      )
    }
    return s
  }

  /** Stops the daemon if it runs (cleanly, or by SIGKILL if it was already killed) and starts it again. */
  async restart(): Promise<void> {
    if (this.alive) await this.stop()
    await this.start()
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs
    let last = 'socket not created yet'
    for (let i = 0; i < Math.ceil(timeoutMs / 200) + 1; i++) {
      if (!this.proc.alive) {
        throw new HarnessError(
          'DAEMON',
          `daemon ${this.name} exited during start-up (${describeExit(this.proc.exitStatus!)}); log ${this.logPath}:\n${tail(this.proc.logText())}`,
        )
      }
      if (existsSync(this.socketPath)) {
        const r = await this.cli(['status', '--json'], 10_000)
        if (r.code === 0) return
        last = `status exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 300)}`
      }
      if (performance.now() >= deadline) break
      await sleepMs(200)
    }
    throw new HarnessError(
      'DAEMON',
      `daemon ${this.name} not ready after ${timeoutMs} ms (${last}); log ${this.logPath}:\n${tail(this.proc.logText())}`,
    )
  }
}

function tail(text: string, lines = 30): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n')
}

/** Implementation of Lab.startDaemon. */
export async function startDaemon(
  lab: Lab,
  host: Host,
  config: Config,
  opts: DaemonOptions = {},
): Promise<DaemonHandle> {
  const name = opts.name ?? host.name
  const dir = path.join(lab.scratchDir, name)
  const d = new DaemonHandle(host, name, dir, structuredClone(config), opts, lab.ifName('w'))
  lab.log.note(
    `daemon ${name} on ${host.name}: config ${d.configPath} socket ${d.socketPath} wg ${d.wgInterface}`,
  )
  await d.start()
  return d
}
