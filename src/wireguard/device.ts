// The node's one WireGuard interface, owned by the daemon and driven by desired state: up() creates it,
// reconfigure(desired) reads the live state, applies only the difference and says what changed, stats() reports
// per-peer counters, down() removes everything up() and later calls created. Operations run one at a time.
// Keys and peers are read and set through the backend's WgControl (wireguard-go: its UAPI socket; else `wg`);
// our routes are taken as this device last set them for ROUTES_TRUSTED_MS, then listed again.
//
// Key rotation. Our own key: reconfigure with a new privateKey sets it in the same `wg set` as any peer change;
// WireGuard keeps all peers and re-handshakes on the next packet. A peer's key: its new key appears in desired
// state with the old key's allowed-ips; diff.ts adds the new key before removing the old one in one `wg set`.
// For the least loss across the federation, peers should apply the rotated node's new public key first and the
// rotating node swap its private key right after: the rotating node's first packet then starts a handshake the
// peers already accept (see the netns test, which measures it).

import { type Exec, systemExec } from '../os/exec.js'
import { commandHost, type HostAccess, procHost } from '../os/host.js'
import { type BackendKind, detectBackend, KernelBackend, type WireGuardBackend } from './backend.js'
import { canonicalPrefix } from './cidr.js'
import { type WgControl, WgTool } from './control.js'
import {
  type DesiredState,
  type NormalizedDesired,
  normalizeDesired,
  planNeedsWgSet,
  planReconfigure,
} from './diff.js'
import type { LiveInterface } from './dump.js'
import { WireGuardError } from './errors.js'
import {
  enableForwarding,
  type ForwardingOptions,
  type ForwardingRestore,
  restoreForwarding,
} from './forwarding.js'
import {
  addAddressArgs,
  addRouteArgs,
  canonicalAddress,
  DEFAULT_ROUTE_PROTOCOL,
  type IpContext,
  ipBatch,
  listOwnedRoutes,
  mtuAndUpArgs,
  removeRoute,
} from './ip.js'
import { keyToBase64, publicKeyOf } from './keys.js'
import { type Log, silentLog } from './supervisor.js'
import { WireGuardGoBackend, type WireGuardGoOptions } from './wireguard-go.js'

export interface UpConfig {
  /** Interface name: 1-15 of [A-Za-z0-9_=+.-], unique on the machine (wireguard-go sockets are global). */
  name: string
  /** X25519 private key, 32 bytes (or base64). */
  privateKey: Buffer | string
  listenPort: number
  mtu: number
  /** This node's mesh addresses with their prefix length, e.g. '100.64.0.5/32', 'fd12:3456::5/128'. */
  addresses: string[]
  /** Prefixes to route into the interface right away; later reconfigure() calls own the route set. */
  routes?: string[]
}

export interface ReconfigureResult {
  changed: boolean
  /** Human-readable, one per change, secrets never included. */
  actions: string[]
}

export interface PeerStats {
  publicKey: string
  endpoint: string | null
  /** Milliseconds since the epoch; 0 = never. */
  latestHandshake: number
  rxBytes: number
  txBytes: number
  allowedIps: string[]
  /** Seconds; 0 = off. */
  persistentKeepalive: number
}

export interface DeviceOptions {
  exec?: Exec
  /** 'auto' (default) tries the kernel, then wireguard-go. A backend object is used as is (tests). */
  backend?: 'auto' | BackendKind | WireGuardBackend
  /** Network namespace the interface lives in (tests and multi-node labs); default: the daemon's. */
  netns?: string
  log?: Log
  /** Protocol number tagging our routes. */
  routeProtocol?: number
  wireguardGo?: WireGuardGoOptions
  /** Directory for the short-lived 0600 key files (default /dev/shm). */
  secretDir?: string
  /** Timeout for each `wg`/`ip` call. */
  commandTimeoutMs?: number
}

const NAME = /^[A-Za-z0-9_=+.-]{1,15}$/

/**
 * How long the routes this device just set are taken as the live ones without listing them again (two `ip`
 * processes per reconfigure otherwise; a join reconfigures several times in its first second). Only an
 * operator removes our routes behind our back, and the next listing after this puts them back.
 */
const ROUTES_TRUSTED_MS = 30_000

type State = 'down' | 'starting' | 'up' | 'stopping'

export class WireGuardDevice {
  private readonly exec: Exec
  private readonly host: HostAccess
  /** `wg`, for backends that offer no control of their own (the kernel's). */
  private readonly wgTool: WgTool
  private readonly opts: DeviceOptions
  private readonly log: Log
  private readonly routeProtocol: number
  private state: State = 'down'
  private queue: Promise<unknown> = Promise.resolve()
  private backend: WireGuardBackend | undefined
  private config: UpConfig | undefined
  private desired: NormalizedDesired | undefined
  /** Our routes as this device last set or listed them, and when (see ROUTES_TRUSTED_MS). */
  private routesKnown: { routes: string[]; at: number } | undefined
  private forwarding: ForwardingRestore = []

  constructor(opts: DeviceOptions = {}) {
    this.exec = opts.exec ?? systemExec
    // The daemon's own namespace is read from /proc and /sys; another Exec or namespace through commands.
    this.host =
      opts.exec === undefined && opts.netns === undefined ? procHost() : commandHost(this.exec, opts.netns)
    this.opts = opts
    this.wgTool = new WgTool({
      exec: this.exec,
      ...this.runOpts(),
      ...(opts.secretDir !== undefined ? { secretDir: opts.secretDir } : {}),
    })
    this.log = opts.log ?? silentLog
    this.routeProtocol = opts.routeProtocol ?? DEFAULT_ROUTE_PROTOCOL
  }

  get name(): string | undefined {
    return this.config?.name
  }

  get backendKind(): BackendKind | undefined {
    return this.backend?.kind
  }

  /** wireguard-go's pid (undefined for the kernel backend or when down). */
  get pid(): number | undefined {
    return this.backend?.pid
  }

  /** Our current public key (after the last reconfigure, else from up()). */
  get publicKey(): string | undefined {
    if (this.desired !== undefined) return this.desired.publicKey
    return this.config === undefined ? undefined : publicKeyOf(this.config.privateKey)
  }

  up(config: UpConfig): Promise<void> {
    if (this.state !== 'down')
      return Promise.reject(new WireGuardError('WG_ALREADY_UP', `device is ${this.state}`))
    // Validate everything before creating anything.
    if (!NAME.test(config.name)) {
      return Promise.reject(
        new WireGuardError(
          'WG_CONFIG_INVALID',
          `interface name '${config.name}' is not 1-15 of [A-Za-z0-9_=+.-]`,
        ),
      )
    }
    let checked: UpConfig
    try {
      checked = this.checkUpConfig(config)
    } catch (err) {
      return Promise.reject(err)
    }
    this.state = 'starting'
    return this.serial(async () => {
      try {
        const backend = await this.resolveBackend()
        this.backend = backend
        this.config = checked
        await backend.create(checked.name, { onRecreated: () => this.onRecreated() })
        await this.configureInterface(
          checked,
          keyToBase64(checked.privateKey, 'privateKey'),
          checked.routes ?? [],
        )
        // A new link has no routes but the ones just added.
        this.routesKnown = { routes: [...(checked.routes ?? [])].sort(), at: Date.now() }
        this.state = 'up'
        this.log.info(
          { name: checked.name, backend: backend.kind, pid: backend.pid },
          'WireGuard interface up',
        )
      } catch (err) {
        // Leave no half-made interface or orphaned process behind.
        await this.backend?.destroy(checked.name).catch(() => {})
        this.backend = undefined
        this.config = undefined
        this.state = 'down'
        throw err instanceof WireGuardError
          ? err
          : new WireGuardError('WG_START_FAILED', `up ${checked.name}: ${(err as Error).message}`, {
              cause: err,
            })
      }
    })
  }

  /** Makes the interface match `desired`, changing only what differs. */
  reconfigure(desired: DesiredState): Promise<ReconfigureResult> {
    let normalized: NormalizedDesired
    try {
      normalized = normalizeDesired(desired)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.serial(async () => {
      const name = this.requireUp()
      // Remembered before applying: if wireguard-go dies mid-way, the restart applies what was asked for.
      this.desired = normalized
      return this.apply(name, normalized)
    })
  }

  async stats(): Promise<PeerStats[]> {
    return this.serial(async () => {
      const live = await this.readLive(this.requireUp())
      return live.peers.map((p) => ({
        publicKey: p.publicKey,
        endpoint: p.endpoint,
        latestHandshake: p.latestHandshake * 1000,
        rxBytes: p.rxBytes,
        txBytes: p.txBytes,
        allowedIps: p.allowedIps,
        persistentKeepalive: p.persistentKeepalive,
      }))
    })
  }

  /** Turns on IPv4/IPv6 forwarding in the device's namespace (relays); down() restores what this turned on. */
  enableForwarding(options: ForwardingOptions = {}): Promise<void> {
    return this.serial(async () => {
      const changed = await enableForwarding(this.host, options)
      this.forwarding.push(...changed)
      if (changed.length > 0) this.log.info({ sysctls: changed.map((c) => c.key) }, 'IP forwarding enabled')
    })
  }

  /** Removes routes, interface, wireguard-go and its socket, and restores forwarding. Idempotent. */
  down(): Promise<void> {
    // Set synchronously: a wireguard-go restart racing with down() must not queue its re-apply behind us.
    const wasActive = this.state !== 'down'
    if (wasActive) this.state = 'stopping'
    return this.serial(async () => {
      const problems: unknown[] = []
      const config = this.config
      if (config !== undefined && this.backend !== undefined) {
        // Our routes die with the link. Only when removing the link failed are they removed one by one, so
        // they do not keep pointing into a link that stays (four `ip` processes a normal stop does not need).
        const destroyed = await this.backend.destroy(config.name).then(
          () => true,
          (e: unknown) => {
            problems.push(e)
            return false
          },
        )
        if (!destroyed)
          await listOwnedRoutes(this.ip(), config.name, this.routeProtocol)
            .then(async (routes) => {
              for (const r of routes) await removeRoute(this.ip(), config.name, r, this.routeProtocol)
            })
            .catch(() => {}) // no link, no routes
      }
      const restore = this.forwarding
      this.forwarding = []
      await restoreForwarding(this.host, restore).catch((e: unknown) => problems.push(e))
      this.backend = undefined
      this.config = undefined
      this.desired = undefined
      this.routesKnown = undefined
      this.state = 'down'
      if (problems.length > 0) {
        throw new WireGuardError(
          'WG_DOWN_INCOMPLETE',
          `down ${config?.name ?? ''}: ${problems.map((p) => String(p)).join('; ')}`,
          { causes: problems },
        )
      }
      if (wasActive) this.log.info({ name: config?.name }, 'WireGuard interface down')
    })
  }

  private async apply(name: string, desired: NormalizedDesired): Promise<ReconfigureResult> {
    const live = await this.readLive(name)
    const known = this.routesKnown
    this.routesKnown = undefined // until this apply has succeeded
    const trusted = known !== undefined && Date.now() - known.at < ROUTES_TRUSTED_MS ? known : undefined
    const listedAt = trusted?.at ?? Date.now()
    const liveRoutes =
      trusted?.routes ??
      (await this.wrap('listing routes', () => listOwnedRoutes(this.ip(), name, this.routeProtocol)))
    const plan = planReconfigure(live, liveRoutes, desired, Math.floor(Date.now() / 1000))
    if (planNeedsWgSet(plan)) await this.wrap('wg set', () => this.control().set(name, plan))
    // Routes after peers, so a newly routed prefix already has a peer to go to.
    if (plan.routesAdd.length > 0) {
      await this.wrap(`adding routes ${plan.routesAdd.join(' ')}`, () =>
        ipBatch(
          this.ip(),
          plan.routesAdd.map((r) => addRouteArgs(name, r, this.routeProtocol)),
        ),
      )
    }
    for (const r of plan.routesRemove)
      await this.wrap(`removing route ${r}`, () => removeRoute(this.ip(), name, r, this.routeProtocol))
    // Our routes are now exactly the desired ones; trusted until ROUTES_TRUSTED_MS after they were last listed.
    this.routesKnown = { routes: desired.routes, at: listedAt }
    if (plan.actions.length > 0) this.log.info({ name, actions: plan.actions }, 'WireGuard reconfigured')
    return { changed: plan.actions.length > 0, actions: plan.actions }
  }

  /** Interface-level setup: private key and port, then addresses, MTU, link up and `routes` in one `ip`. */
  private async configureInterface(config: UpConfig, privateKey: string, routes: string[]): Promise<void> {
    const plan = {
      privateKey,
      listenPort: config.listenPort,
      peers: [],
      routesAdd: [],
      routesRemove: [],
      actions: [],
    }
    await this.wrap('wg set', () => this.control().set(config.name, plan))
    // Routes after the link is up: the kernel refuses a route into a device that is down.
    const commands = [
      ...config.addresses.map((a) => addAddressArgs(config.name, a)),
      mtuAndUpArgs(config.name, config.mtu),
      ...routes.map((r) => addRouteArgs(config.name, r, this.routeProtocol)),
    ]
    await this.wrap(`addresses, link up and routes of ${config.name}`, () => ipBatch(this.ip(), commands))
  }

  /** wireguard-go came back without any of our state: put it all back. */
  private onRecreated(): Promise<void> {
    if (this.state !== 'up') return Promise.resolve()
    return this.serial(async () => {
      const config = this.config
      if (this.state !== 'up' || config === undefined) return
      this.routesKnown = undefined // a new interface: what we knew went with the old one
      const desired = this.desired
      // With a desired state, apply() puts its routes back; else the routes up() was given.
      await this.configureInterface(
        config,
        desired?.privateKey ?? keyToBase64(config.privateKey, 'privateKey'),
        desired === undefined ? (config.routes ?? []) : [],
      )
      if (desired !== undefined) await this.apply(config.name, desired)
      this.log.info({ name: config.name, pid: this.backend?.pid }, 'WireGuard state re-applied after restart')
    })
  }

  private readLive(name: string): Promise<LiveInterface> {
    return this.wrap('wg show dump', () => this.control().show(name))
  }

  private control(): WgControl {
    return this.backend?.control ?? this.wgTool
  }

  private checkUpConfig(config: UpConfig): UpConfig {
    // A copy as text: the caller may wipe its Buffer, and a wireguard-go restart needs the key again.
    const privateKey = keyToBase64(config.privateKey, 'privateKey')
    const intIn = (v: number, lo: number, hi: number, what: string): void => {
      if (!Number.isInteger(v) || v < lo || v > hi)
        throw new WireGuardError('WG_CONFIG_INVALID', `${what}: ${v} is not ${lo}..${hi}`)
    }
    intIn(config.listenPort, 0, 65535, 'listenPort')
    // 1280 is the IPv6 minimum; the mesh always carries IPv6.
    intIn(config.mtu, 1280, 65535, 'mtu')
    const addresses = config.addresses.map((a) => canonicalAddress(a))
    const routes = [...new Set((config.routes ?? []).map((r, i) => canonicalPrefix(r, `routes[${i}]`)))]
    return { ...config, privateKey, addresses, routes }
  }

  private async resolveBackend(): Promise<WireGuardBackend> {
    const choice = this.opts.backend ?? 'auto'
    if (typeof choice === 'object') return choice
    const ctx = {
      exec: this.exec,
      host: this.host,
      log: this.log,
      ...(this.opts.netns !== undefined ? { netns: this.opts.netns } : {}),
    }
    const kind = choice === 'auto' ? await detectBackend(ctx) : choice
    return kind === 'kernel' ? new KernelBackend(ctx) : new WireGuardGoBackend(ctx, this.opts.wireguardGo)
  }

  private requireUp(): string {
    if (this.state !== 'up' || this.config === undefined)
      throw new WireGuardError('WG_NOT_UP', `device is ${this.state}`)
    return this.config.name
  }

  private ip(): IpContext {
    return { exec: this.exec, ...this.runOpts() }
  }

  private runOpts(): { netns?: string; timeoutMs?: number } {
    return {
      ...(this.opts.netns !== undefined ? { netns: this.opts.netns } : {}),
      ...(this.opts.commandTimeoutMs !== undefined ? { timeoutMs: this.opts.commandTimeoutMs } : {}),
    }
  }

  /** Runs one OS step; failures become WG_APPLY_FAILED naming the step, the ExecError kept as cause. */
  private async wrap<T>(step: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (err instanceof WireGuardError) throw err
      throw new WireGuardError('WG_APPLY_FAILED', `${step}: ${(err as Error).message}`, { cause: err })
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn, fn)
    this.queue = result.catch(() => {})
    return result
  }
}
