// Our side of the network suites: a mesh of real `blackroad daemon` processes on lab hosts (enrolled in a test
// federation by the harness's Mesh), started without waiting so start-up can be timed, queried over their
// local API (the same requests `blackroad peers --json` / `routes --json` make), and stopped again.

import { rmSync } from 'node:fs'
import path from 'node:path'
import type { Lab } from '../../netns-tests/lib/lab.js'
import { DHT_PORT, Mesh, type MeshNode, type MeshNodeSpec } from '../../netns-tests/lib/mesh.js'
import type { Host } from '../../netns-tests/lib/topology.js'
import { waitFor } from '../../netns-tests/lib/wait.js'
import { BlackroadClient, type PeerInfo, type RouteInfo } from '../../src/client/index.js'
import { networkSchema, wireguardSchema } from '../../src/config/schema-network.js'
import { childPids, pidIs, stopPid } from './sys.js'

export { DHT_PORT }

export interface StartTimes {
  /** Date.now() just before the process was spawned. */
  spawnedAt: number
  /** The daemon's own log: first line ("blackroad daemon starting", i.e. Node and modules loaded) and "ready". */
  startingAt: number
  readyAt: number
  /** CPU the daemon had used when it logged "ready" (its own figure; NaN from a daemon that does not log it). */
  startupCpuMs: number
}

/** One parsed line of a daemon's JSON log (pino), with its time as epoch ms. */
export type LogEvent = Record<string, unknown> & { t: number; msg?: string }

export interface OurMeshOptions {
  /** Daemon log level (default info, what a user runs). */
  logLevel?: string
  /** Prometheus endpoint on (the daemon's default) or off. */
  metrics?: boolean
}

/** The daemon's defaults that change results, read from its config schema (so the comment cannot go stale). */
export function ourDefaults(): {
  probeMs: number
  watchProbeMs: number
  idleProbeMs: number
  deadMs: number
  mtu: number
} {
  const net = networkSchema.parse(undefined)
  return {
    probeMs: net.probe_interval,
    watchProbeMs: net.watch_probe_interval,
    idleProbeMs: net.idle_probe_interval,
    deadMs: net.dead_link_timeout,
    mtu: wireguardSchema.parse(undefined).mtu,
  }
}

/** Settings the suites print as comments. */
export function ourSettings(): string {
  const d = ourDefaults()
  return `ours: network.probe_interval=${d.probeMs}ms network.watch_probe_interval=${d.watchProbeMs}ms network.idle_probe_interval=${d.idleProbeMs}ms network.dead_link_timeout=${d.deadMs}ms (the daemon's defaults), WireGuard via wireguard-go, mtu ${d.mtu}`
}

export class OurMesh {
  readonly mesh: Mesh
  readonly spawnedAt = new Map<MeshNode, number>()
  private readonly clients = new Map<MeshNode, BlackroadClient>()

  constructor(
    readonly lab: Lab,
    private readonly opts: OurMeshOptions = {},
  ) {
    this.mesh = new Mesh(lab)
  }

  get nodes(): MeshNode[] {
    return this.mesh.nodes
  }

  /** Enrols nodes (fresh state: any earlier run's directory for the host is removed) without starting them. */
  async enrol(specs: MeshNodeSpec[], bootstrap: string[]): Promise<MeshNode[]> {
    for (const s of specs)
      rmSync(path.join(this.lab.scratchDir, s.host.name), { recursive: true, force: true })
    const before = this.mesh.nodes.length
    await this.mesh.start(
      specs.map((s) => ({
        ...s,
        deferStart: true,
        config: {
          ...s.config,
          // BRT_LOG_LEVEL (e.g. debug, with BRT_KEEP_LOGS=1) overrides the suite's level when looking into a run.
          logging: {
            level: process.env.BRT_LOG_LEVEL ?? this.opts.logLevel ?? 'info',
            format: 'json',
            ...s.config?.logging,
          },
          metrics: { enabled: this.opts.metrics ?? false, ...s.config?.metrics },
        },
      })),
      bootstrap,
    )
    return this.mesh.nodes.slice(before)
  }

  /** Spawns a node's daemon; waits for `status` to answer only when wait is true. */
  async start(n: MeshNode, wait = false): Promise<void> {
    this.spawnedAt.set(n, Date.now())
    n.daemon = await this.lab.startDaemon(n.host, n.config, { noWait: !wait, readyTimeoutMs: 60_000 })
  }

  /** Spawns a node's daemon held: it starts on launch(n) (see Host.spawnHeld). */
  async prepare(n: MeshNode): Promise<void> {
    n.daemon = await this.lab.startDaemon(n.host, n.config, { held: true })
  }

  /** Starts a daemon prepare() spawned held. */
  launch(n: MeshNode): void {
    this.spawnedAt.set(n, Date.now())
    n.daemon!.release()
  }

  /** Waits until the daemon logged "ready" (or throws if it exited) and returns its start-up times. */
  async waitReady(n: MeshNode, timeoutMs = 60_000): Promise<StartTimes> {
    const r = await waitFor(() => (n.daemon!.alive ? (this.times(n) ?? false) : 'exited'), {
      timeoutMs,
      intervalMs: 20,
      what: `daemon ${n.node.name} ready`,
    })
    if (r === 'exited')
      throw new Error(`daemon ${n.node.name} exited: ${n.daemon!.proc.logText().slice(-1500)}`)
    return r
  }

  /** Start-up times from the daemon's log, once it logged "ready". */
  times(n: MeshNode): StartTimes | null {
    const ev = this.events(n)
    const ready = ev.find((e) => e.msg === 'blackroad daemon ready')
    if (ready === undefined) return null
    const startingAt = ev.find((e) => e.msg === 'blackroad daemon starting')?.t ?? Number.NaN
    const cpu = typeof ready.startup_cpu_ms === 'number' ? ready.startup_cpu_ms : Number.NaN
    return { spawnedAt: this.spawnedAt.get(n)!, startingAt, readyAt: ready.t, startupCpuMs: cpu }
  }

  /** The daemon's JSON log lines of this run with their time (epoch ms), oldest first. */
  events(n: MeshNode): LogEvent[] {
    const out: LogEvent[] = []
    for (const line of n.daemon!.proc.logText().split('\n')) {
      if (!line.startsWith('{')) continue
      try {
        const j = JSON.parse(line) as Record<string, unknown>
        const t = typeof j.time === 'number' ? j.time : Date.parse(String(j.time))
        if (Number.isFinite(t)) out.push({ ...j, t })
      } catch {}
    }
    return out
  }

  /** ms from `since` to the first log event at or after it that matches, or null. */
  firstEventMs(n: MeshNode, since: number, match: (e: LogEvent) => boolean): number | null {
    const e = this.events(n).find((x) => x.t >= since && match(x))
    return e ? e.t - since : null
  }

  client(n: MeshNode): BlackroadClient {
    let c = this.clients.get(n)
    if (!c) {
      c = new BlackroadClient({ socketPath: n.daemon!.socketPath, timeoutMs: 5_000 })
      this.clients.set(n, c)
    }
    return c
  }

  routes(n: MeshNode): Promise<RouteInfo[]> {
    return this.client(n).routes()
  }

  peers(n: MeshNode): Promise<PeerInfo[]> {
    return this.client(n).peers()
  }

  /** PID of the node's wireguard-go (a child of the daemon), if it runs one. */
  wireguardGoPid(n: MeshNode): number | undefined {
    return childPids(n.daemon!.pid, 'wireguard-go')[0]
  }

  /**
   * SIGKILLs a node: the daemon and its wireguard-go (which the daemon starts in a process group of its own, so
   * it would outlive the daemon and keep the node's WireGuard port and interface).
   */
  async killNode(n: MeshNode): Promise<void> {
    const wg = this.wireguardGoPid(n)
    await n.daemon!.kill('SIGKILL')
    if (wg !== undefined) await stopPid(wg, 'wireguard-go', 0)
  }

  /**
   * Stops every running daemon with SIGTERM to the daemon alone, as an operator's `kill` would (the harness's
   * stop() signals the whole process group), escalating after 10 s; then makes sure no wireguard-go of ours
   * survived its daemon (the next run's daemon in the same namespace would find its port taken). Logs every
   * unclean exit with the log's tail.
   */
  async stopAll(log: (m: string) => void): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => {
        if (!n.daemon?.alive) return
        const wg = this.wireguardGoPid(n)
        const proc = n.daemon.proc
        try {
          process.kill(proc.pid, 'SIGTERM')
        } catch {}
        const s = await proc.waitExit(10_000).catch(() => proc.stop(1_000))
        if (s.code !== 0) {
          const tail = proc.logText().trimEnd().split('\n').slice(-4).join('\n    ')
          log(
            `# warning: daemon ${n.node.name} exit ${s.code ?? s.signal} on SIGTERM; log tail:\n    ${tail}`,
          )
        }
        if (wg !== undefined && pidIs(wg, 'wireguard-go')) {
          log(`# warning: daemon ${n.node.name} left its wireguard-go (pid ${wg}) running; stopping it`)
          await stopPid(wg, 'wireguard-go')
        }
      }),
    )
    this.clients.clear()
  }
}

/** "host:port" of a host's DHT node on its first interface (for discovery.bootstrap). */
export function dhtAddress(h: Host): string {
  return `${h.addr()}:${DHT_PORT}`
}
