// Discovery: finds the federation's other routers and hands the transport raw encrypted connections to
// them. It owns one HyperDHT node and one Hyperswarm on it, announces and looks up the federation topic,
// dials static peers directly, and keeps all of that working when the DHT was unreachable at start or the
// underlay address changed. Every connection it emits is a Noise secret stream whose `remotePublicKey` is
// the peer's node key (authenticated by the handshake); whether that key belongs to the federation is the
// transport's question (certificates), not discovery's.
//
// Facts this is built on (research/feasibility.md §1):
//   - Two routers joining at the same moment can miss each other (announce and lookup cross), and hyperswarm
//     re-queries only every 10 min. So after each (re)join the topic is re-queried a bounded number of times
//     until every peer found is connected.
//   - An unreachable bootstrap raises no error: the DHT "bootstraps" in ~6 s with `host === null`, and stays
//     unable to find anything. So a health loop watches `dht.host`/`dht.online`, kicks the DHT (refresh) with
//     backoff while offline, and on coming online re-announces the server key and re-queries the topic.
//   - Hyperswarm gives a peer up after a few failed redials (attempts > 3) and looks the topic up again only
//     every 10 min, so after a partition longer than its retries the two sides never redial each other. So
//     a connection that closes (not by us) marks its peer lost, and while any peer is lost the topic is
//     re-queried with backoff (2 s doubling to 30 s, for at most an hour per peer): a lookup that finds the
//     peer again resets hyperswarm's attempts and redials it.
//   - The announced address can go stale when the underlay changes (DHCP, a new NAT mapping). hyperdht
//     notices local interface changes itself, but about 5 s late (it polls), so discovery compares the host's
//     addresses every second instead; a change re-announces and emits 'network-change' (the daemon then
//     checks its peer links: those over the old address are dead), a timer re-announces anyway, and
//     reannounce() lets the daemon ask for it explicitly.
//
// Static peers with a key are dialled with `dht.connect(key, { relayAddresses: [peer's DHT host:port] })`:
// the handshake goes straight to the peer's own DHT node, which answers for its own server, so no DHT
// lookup is needed and it works on a LAN with no DHT at all. The peer's DHT UDP port (discovery.port) must be
// reachable from here. A static peer is redialled with backoff whenever no connection to it is open.
// Address-only static peers are used as DHT contacts (see addresses.ts).

import { EventEmitter } from 'node:events'
import type NoiseSecretStream from '@hyperswarm/secret-stream'
import type HyperDHT from 'hyperdht'
import DHT from 'hyperdht'
import Hyperswarm from 'hyperswarm'
import pino, { type Logger } from 'pino'
import {
  formatHostPort,
  type HostPort,
  interfaceSignature,
  parseHostPort,
  parseStaticPeer,
  type StaticPeer,
} from './addresses.js'
import { DEFAULT_DHT_PORT, DEFAULT_EXTRA_NODES, destroyDht, FederationDhtNodes } from './dht-nodes.js'
import { DiscoveryError } from './errors.js'
import { refreshPause } from './refresh.js'
import { StaticDialer } from './static-peers.js'
import { TOPIC_BYTES } from './topic.js'

/** What discovery emits: the encrypted duplex; `remotePublicKey` is the peer's authenticated node key. */
export type PeerConnection = NoiseSecretStream

export interface ConnectionInfo {
  /** 'topic': found on the federation topic (or dialled us); 'static': we dialled a configured static peer. */
  origin: 'topic' | 'static'
  /** We opened the connection (Noise initiator). */
  initiator: boolean
}

export interface DiscoveryOptions {
  /** The node key: identity, hyperswarm key and Noise static key. */
  keyPair: { publicKey: Buffer; secretKey: Buffer }
  /** From deriveTopic(federation id, secret). */
  topic: Uint8Array
  /** DHT bootstrap nodes, "host:port". Unset = hyperdht's public bootstrap nodes; [] = none (static peers only). */
  bootstrap?: readonly string[]
  /** "<key>@host:port" (dialled directly) or "host:port" (a DHT contact), or parsed entries. */
  staticPeers?: readonly (string | StaticPeer)[]
  /** UDP port of the DHT node (default 49737; hyperdht takes a random one if it is busy, and we log it). In
   *  bootstrap mode the router's DHT node is the bootstrapper, on bootstrapNode.port, and this is unused. */
  port?: number
  /** Address the DHT sockets bind (default 0.0.0.0). */
  bindHost?: string
  /** Run the federation's bootstrap node (+ extra DHT nodes) here; the swarm then runs on the bootstrapper. */
  bootstrapNode?: { host: string; port?: number; extraNodes?: number } | null
  /** Most peer connections the swarm keeps (hyperswarm's maxPeers, default 64); routing relays beyond that. */
  maxPeers?: number
  /** Announce on the topic so others can dial us (default true); false = only look up and dial. */
  announce?: boolean
  /**
   * Topic re-queries after a (re)join (refresh.ts): the first after refreshFirstMs (default 250 ms), pauses
   * doubling to refreshIntervalMs (default 2 s), at most refreshAttempts (default 8).
   */
  refreshFirstMs?: number
  refreshIntervalMs?: number
  refreshAttempts?: number
  /** Re-query backoff while a peer whose connection closed has not come back (defaults 2 s to 30 s). */
  lostRetryMinMs?: number
  lostRetryMaxMs?: number
  /** How long a lost peer is looked for (default 1 h). */
  lostForgetMs?: number
  /** A connection that lived this long counts as accepted, and its peer is looked for when it closes (5 s). */
  provenConnectionMs?: number
  /**
   * How often this host's addresses are compared with the last look (default 1 s; 0 = only hyperdht's own
   * watch, which notices about 5 s late). A change re-announces and emits 'network-change'.
   */
  interfaceCheckMs?: number
  /** Interfaces whose addresses do not count (the mesh's own WireGuard interface). */
  ignoreInterfaces?: readonly string[]
  /** Periodic re-announce, so a changed address is published (default 5 min: config discovery.refresh_interval). */
  reannounceIntervalMs?: number
  /** How often the health loop looks at the DHT while online (default 5 s). */
  healthIntervalMs?: number
  /** Backoff while the DHT is offline: first and largest pause (default 1 s, 30 s). */
  offlineRetryMinMs?: number
  offlineRetryMaxMs?: number
  /** Backoff between dials of a static peer (default 1 s, 60 s). */
  staticRetryMinMs?: number
  staticRetryMaxMs?: number
  /**
   * close() waits this long for a clean unannounce before tearing down by force (default 1 s; on a LAN it takes
   * milliseconds, and a DHT going away at the same time, a whole site powering down, would hold every stop).
   */
  closeTimeoutMs?: number
  logger?: Logger
}

export type DiscoveryState = 'new' | 'starting' | 'online' | 'offline' | 'closed'

export interface DiscoveryStatus {
  state: DiscoveryState
  /** Our address as the DHT sees it (after NAT), or null when no DHT node answered yet. */
  publicAddress: HostPort | null
  firewalled: boolean
  /** Behind a NAT that changes port per destination: hole punching to another such NAT will fail. */
  randomizedNat: boolean
  /** The DHT node's UDP address on this machine: what other nodes put in their static_peers. */
  localAddress: HostPort | null
  connections: number
  /** Addresses of the federation DHT nodes run here (bootstrap mode), else []. */
  federationDhtNodes: readonly HostPort[]
  /** Hole punches that succeeded, by the kind of NAT on the far side (hyperdht's counters). */
  holepunches: { consistent: number; random: number; open: number }
}

export interface DiscoveryEvents {
  connection: [conn: PeerConnection, info: ConnectionInfo]
  online: []
  offline: []
  /** This host's addresses changed (the 1 s check, or hyperdht's watch with it off); old links may be dead. */
  'network-change': []
}

const noop = () => {}

export class Discovery extends EventEmitter<DiscoveryEvents> {
  private readonly opts: Required<
    Omit<
      DiscoveryOptions,
      'bootstrap' | 'staticPeers' | 'bootstrapNode' | 'logger' | 'bindHost' | 'ignoreInterfaces'
    >
  >
  private readonly log: Logger
  private readonly bootstrap: string[] | undefined
  private readonly statics: StaticDialer
  private state: DiscoveryState = 'new'
  private dht: HyperDHT | null = null
  private swarm: Hyperswarm | null = null
  private fedNodes: FederationDhtNodes | null = null
  private session: Hyperswarm.DiscoverySession | null = null
  /** Every open connection we emitted, by remote key (hex). */
  private readonly open = new Map<string, Set<PeerConnection>>()
  private healthTimer: NodeJS.Timeout | null = null
  private refreshTimer: NodeJS.Timeout | null = null
  private reannounceTimer: NodeJS.Timeout | null = null
  private interfaceTimer: NodeJS.Timeout | null = null
  private offlineBackoffMs: number
  /** The next topic re-query's number since the last (re)join (refresh.ts). */
  private refreshStepNo = 0
  /** Peers whose last connection closed (key hex -> when), until they are connected again. */
  private readonly lost = new Map<string, number>()
  private lostTimer: NodeJS.Timeout | null = null
  private lostBackoffMs = 0

  constructor(private readonly options: DiscoveryOptions) {
    super()
    if (!(options.topic instanceof Uint8Array) || options.topic.length !== TOPIC_BYTES) {
      throw new DiscoveryError('INVALID_OPTIONS', `topic must be ${TOPIC_BYTES} bytes (use deriveTopic)`)
    }
    this.opts = {
      keyPair: options.keyPair,
      topic: options.topic,
      port: options.port ?? DEFAULT_DHT_PORT,
      announce: options.announce ?? true,
      maxPeers: options.maxPeers ?? 64,
      refreshFirstMs: options.refreshFirstMs ?? 250,
      refreshIntervalMs: options.refreshIntervalMs ?? 2000,
      refreshAttempts: options.refreshAttempts ?? 8,
      reannounceIntervalMs: options.reannounceIntervalMs ?? 5 * 60_000,
      interfaceCheckMs: options.interfaceCheckMs ?? 1000,
      healthIntervalMs: options.healthIntervalMs ?? 5000,
      offlineRetryMinMs: options.offlineRetryMinMs ?? 1000,
      offlineRetryMaxMs: options.offlineRetryMaxMs ?? 30_000,
      lostRetryMinMs: options.lostRetryMinMs ?? 2000,
      lostRetryMaxMs: options.lostRetryMaxMs ?? 30_000,
      lostForgetMs: options.lostForgetMs ?? 60 * 60_000,
      provenConnectionMs: options.provenConnectionMs ?? 5000,
      staticRetryMinMs: options.staticRetryMinMs ?? 1000,
      staticRetryMaxMs: options.staticRetryMaxMs ?? 60_000,
      closeTimeoutMs: options.closeTimeoutMs ?? 1000,
    }
    for (const [k, v] of Object.entries(this.opts)) {
      if (typeof v === 'number' && !(Number.isInteger(v) && v >= 0 && v <= 2 ** 31 - 1)) {
        throw new DiscoveryError(
          'INVALID_OPTIONS',
          `${k} must be an integer number of ms (or a count) >= 0, got ${v}`,
        )
      }
    }
    this.log = options.logger ?? pino({ level: 'silent' })
    this.offlineBackoffMs = this.opts.offlineRetryMinMs

    const peers = (options.staticPeers ?? []).map((p) => (typeof p === 'string' ? parseStaticPeer(p) : p))
    const contacts = peers.filter((p) => p.publicKey === null).map(formatHostPort)
    for (const b of options.bootstrap ?? []) parseHostPort(b, 'bootstrap node')
    this.bootstrap =
      options.bootstrap === undefined && contacts.length === 0
        ? undefined
        : [...(options.bootstrap ?? []), ...contacts]
    this.statics = new StaticDialer({
      peers: peers.filter((p) => p.publicKey !== null && !p.publicKey.equals(options.keyPair.publicKey)),
      keyPair: options.keyPair,
      minRetryMs: this.opts.staticRetryMinMs,
      maxRetryMs: this.opts.staticRetryMaxMs,
      logger: this.log,
      isConnected: (key) => this.open.has(key),
      onOpen: (conn) => this.adopt(conn, { origin: 'static', initiator: true }),
    })
  }

  /**
   * Binds the DHT sockets (and starts the federation DHT nodes in bootstrap mode), then joins the topic in
   * the background. Resolves once the ports are bound; connections arrive as 'connection' events.
   */
  async start(): Promise<void> {
    if (this.state !== 'new')
      throw new DiscoveryError('CLOSED', `discovery cannot start: it is ${this.state}`)
    this.state = 'starting'
    const o = this.options
    const bind = o.bindHost !== undefined ? { host: o.bindHost } : {}
    if (o.bootstrapNode) {
      const nodes = await FederationDhtNodes.start({
        ...o.bootstrapNode,
        extraNodes: o.bootstrapNode.extraNodes ?? DEFAULT_EXTRA_NODES,
        peers: (this.bootstrap ?? []).map((b) => parseHostPort(b)),
        ...(o.bindHost !== undefined ? { bindHost: o.bindHost } : {}),
      })
      if (this.isClosed()) {
        await nodes.close({ bootstrapper: true }) // close() ran while they started
        return
      }
      this.fedNodes = nodes
      this.dht = nodes.bootstrapper
      this.log.info({ nodes: this.fedNodes.addresses.map(formatHostPort) }, 'federation DHT nodes running')
    } else {
      this.dht = new DHT({
        ...bind,
        port: this.opts.port,
        ...(this.bootstrap ? { bootstrap: this.bootstrap } : {}),
      })
      await this.dht.bind()
      const port = this.dht.localAddress()?.port
      if (port !== undefined && port !== this.opts.port) {
        this.log.warn(
          { wanted: this.opts.port, got: port },
          'DHT port busy; static peers that list this node will not reach it',
        )
      }
    }
    if (this.isClosed()) return // close() ran while binding; it destroyed this.dht
    const swarm = new Hyperswarm({ dht: this.dht, keyPair: this.opts.keyPair, maxPeers: this.opts.maxPeers })
    this.swarm = swarm
    swarm.on('connection', (conn) => this.adopt(conn, { origin: 'topic', initiator: conn.isInitiator }))
    this.watchInterfaces(this.dht)
    this.statics.start(this.dht)
    this.joinWhenBootstrapped(this.dht)
  }

  /**
   * Compares this host's addresses with the last look every interfaceCheckMs, or, with the check off, takes
   * hyperdht's own (slow) watch: one watcher, so one change is handled once. hyperdht refreshes its servers on
   * its own event either way.
   */
  private watchInterfaces(dht: HyperDHT): void {
    if (this.opts.interfaceCheckMs === 0) {
      dht.on('network-change', () => this.onNetworkChange('dht'))
      return
    }
    const ignore = new Set(this.options.ignoreInterfaces ?? [])
    let last = interfaceSignature(ignore)
    this.interfaceTimer = setInterval(() => {
      const now = interfaceSignature(ignore)
      if (now === last) return
      last = now
      this.onNetworkChange('poll')
    }, this.opts.interfaceCheckMs)
    this.interfaceTimer.unref?.()
  }

  private onNetworkChange(seenBy: 'poll' | 'dht'): void {
    this.log.info({ seen_by: seenBy }, 'network interfaces changed; re-announcing')
    this.reannounce()
    this.emit('network-change')
  }

  /** Re-announce this node and re-query the topic now: call after the underlay address changed. */
  reannounce(): void {
    if (!this.swarm || this.state === 'closed' || this.state === 'new') return
    this.swarm.server.refresh()
    this.startRefreshLoop()
  }

  status(): DiscoveryStatus {
    const dht = this.dht
    const host = dht?.host ?? null
    let connections = 0
    for (const set of this.open.values()) connections += set.size
    return {
      state: this.state,
      publicAddress: host !== null && dht ? { host, port: dht.port } : null,
      firewalled: dht?.firewalled ?? true,
      randomizedNat: dht?.randomized ?? false,
      localAddress: this.localAddress(),
      connections,
      federationDhtNodes: this.fedNodes?.addresses ?? [],
      holepunches: { ...(dht?.stats.punches ?? { consistent: 0, random: 0, open: 0 }) },
    }
  }

  /** Where this node's DHT server socket listens: the address other nodes list as its static peer entry. */
  private localAddress(): HostPort | null {
    const local = this.dht?.localAddress()
    if (!local) return null
    const bound = this.options.bindHost
    // localAddress() guesses the LAN address; a socket bound to one address is only reachable there.
    return bound && bound !== '0.0.0.0' ? { host: bound, port: local.port } : local
  }

  /** Destroys the swarm, the DHT nodes and every connection; leaves no timers, so the process can exit. */
  async close(): Promise<void> {
    if (this.state === 'closed') return
    this.state = 'closed'
    for (const t of [
      this.healthTimer,
      this.refreshTimer,
      this.reannounceTimer,
      this.lostTimer,
      this.interfaceTimer,
    ])
      if (t) clearTimeout(t)
    this.healthTimer = this.refreshTimer = this.reannounceTimer = this.lostTimer = this.interfaceTimer = null
    this.statics.close()
    for (const set of this.open.values()) for (const c of set) c.destroy()
    const swarm = this.swarm
    if (swarm) {
      // A clean destroy unannounces from the DHT, which can hang on timeouts when the DHT is unreachable.
      let timer: NodeJS.Timeout | undefined
      const timedOut = await Promise.race([
        swarm.destroy().then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), this.opts.closeTimeoutMs)
        }),
      ]).catch(() => true)
      clearTimeout(timer)
      if (timedOut) {
        // Closing the DHT's sockets fails the requests the clean destroy still waits for; a forced destroy
        // of the swarm alone would wait for them too (its server close unannounces as well).
        await this.dht?.destroy({ force: true }).catch(noop)
        await swarm.destroy({ force: true }).catch(noop)
      }
    } else if (this.dht) {
      await destroyDht(this.dht)
    }
    // swarm.destroy() destroyed the bootstrapper (the swarm's DHT) already.
    await this.fedNodes?.close({ bootstrapper: !swarm })
  }

  private adopt(conn: PeerConnection, info: ConnectionInfo): void {
    // Hyperswarm destroys duplicate connections with an error; without a listener that would crash us.
    conn.on('error', noop)
    if (this.state === 'closed' || conn.destroyed) {
      conn.destroy()
      return
    }
    const key = conn.remotePublicKey.toString('hex')
    const set = this.open.get(key) ?? new Set<PeerConnection>()
    this.open.set(key, set)
    set.add(conn)
    const openedAt = Date.now()
    conn.once('close', () => {
      set.delete(conn)
      if (set.size > 0) return
      this.open.delete(key)
      this.statics.disconnected(key)
      // Only a connection that lived: one the transport refused at once (revoked, another federation) is
      // not a peer to look for again.
      if (this.state !== 'closed' && Date.now() - openedAt >= this.opts.provenConnectionMs) this.peerLost(key)
    })
    this.lost.delete(key)
    this.log.debug({ peer: key.slice(0, 16), ...info, remote: remoteOf(conn) }, 'peer connection')
    this.emit('connection', conn, info)
  }

  private async joinWhenBootstrapped(dht: HyperDHT): Promise<void> {
    try {
      await dht.fullyBootstrapped()
    } catch (err) {
      this.log.error({ err }, 'DHT failed to start')
      return
    }
    if (this.state !== 'starting' || !this.swarm) return
    this.session = this.swarm.join(this.opts.topic, { client: true, server: this.opts.announce })
    this.state = 'offline'
    this.health()
    if (this.opts.reannounceIntervalMs > 0) {
      const every = this.opts.reannounceIntervalMs
      const tick = () => {
        if (this.isClosed()) return
        this.reannounce()
        this.reannounceTimer = setTimeout(tick, every)
      }
      this.reannounceTimer = setTimeout(tick, every)
    }
  }

  /** One step of the health loop; reschedules itself. */
  private health(): void {
    this.healthTimer = null
    const dht = this.dht
    if (!dht || this.state === 'closed') return
    const online = dht.host !== null && dht.online
    let next = this.opts.healthIntervalMs
    if (online && this.state !== 'online') {
      this.state = 'online'
      this.offlineBackoffMs = this.opts.offlineRetryMinMs
      const s = this.status()
      this.log.info(
        {
          address: s.publicAddress && formatHostPort(s.publicAddress),
          firewalled: s.firewalled,
          randomizedNat: s.randomizedNat,
        },
        'DHT online; announcing',
      )
      if (s.randomizedNat)
        this.log.warn(
          'behind a NAT that randomizes ports: links to peers behind the same kind of NAT will fail',
        )
      this.emit('online')
      this.reannounce()
    } else if (!online) {
      if (this.state === 'online') {
        this.log.warn('DHT offline (no DHT node answers); retrying with backoff')
        this.state = 'offline'
        this.emit('offline')
      }
      // Re-contacts the bootstrap nodes when the routing table is empty.
      dht.refresh()
      next = this.offlineBackoffMs
      this.offlineBackoffMs = Math.min(this.offlineBackoffMs * 2, this.opts.offlineRetryMaxMs)
    }
    this.healthTimer = setTimeout(() => this.health(), next)
  }

  /** Re-queries the topic on the refresh schedule (refresh.ts), from its start, until all found peers are connected. */
  private startRefreshLoop(): void {
    if (!this.session) return
    this.refreshStepNo = 0
    if (this.refreshTimer) clearTimeout(this.refreshTimer)
    this.refreshTimer = null
    this.scheduleRefresh(false)
  }

  private scheduleRefresh(converged: boolean): void {
    const pause = refreshPause(
      {
        firstMs: this.opts.refreshFirstMs,
        intervalMs: this.opts.refreshIntervalMs,
        attempts: this.opts.refreshAttempts,
      },
      this.refreshStepNo,
      converged,
    )
    if (pause !== null) this.refreshTimer = setTimeout(() => this.refreshStep(), pause)
  }

  private async refreshStep(): Promise<void> {
    this.refreshTimer = null
    const session = this.session
    if (!session || this.state === 'closed') return
    this.refreshStepNo++
    await session.refresh({ client: true, server: this.opts.announce }).catch((err: unknown) => {
      this.log.debug({ err }, 'topic refresh failed')
    })
    if (this.isClosed() || this.refreshTimer) return
    this.scheduleRefresh(this.converged())
  }

  /** Peers that lost their last connection and have not come back (for tests and status). */
  get lostPeers(): number {
    return this.lost.size
  }

  private peerLost(key: string): void {
    if (this.lost.has(key)) return
    this.lost.set(key, Date.now())
    this.lostBackoffMs = this.opts.lostRetryMinMs
    if (this.lostTimer) clearTimeout(this.lostTimer)
    this.lostTimer = setTimeout(() => this.lostStep(), this.lostBackoffMs)
    this.lostTimer.unref?.()
  }

  /** Re-queries the topic while a lost peer has not reconnected, with backoff; forgets peers gone too long. */
  private async lostStep(): Promise<void> {
    this.lostTimer = null
    const now = Date.now()
    for (const [key, since] of this.lost) if (now - since > this.opts.lostForgetMs) this.lost.delete(key)
    const session = this.session
    if (this.lost.size === 0 || !session || this.isClosed()) return
    this.log.debug({ lost: this.lost.size }, 're-querying the topic for lost peers')
    await session.refresh({ client: true, server: this.opts.announce }).catch((err: unknown) => {
      this.log.debug({ err }, 'topic refresh for lost peers failed')
    })
    if (this.isClosed() || this.lostTimer || this.lost.size === 0) return
    this.lostBackoffMs = Math.min(this.lostBackoffMs * 2, this.opts.lostRetryMaxMs)
    this.lostTimer = setTimeout(() => this.lostStep(), this.lostBackoffMs)
    this.lostTimer.unref?.()
  }

  /** A method, not a property test, so TypeScript does not narrow `state` across an await. */
  private isClosed(): boolean {
    return this.state === 'closed'
  }

  /** Every peer the swarm has heard of on the topic has an open connection (and there is at least one). */
  private converged(): boolean {
    const swarm = this.swarm
    if (!swarm || this.open.size === 0) return false
    for (const [key, info] of swarm.peers) if (!info.banned && !this.open.has(key)) return false
    return true
  }
}

function remoteOf(conn: PeerConnection): string | null {
  const raw = conn.rawStream
  return raw?.remoteHost ? `${raw.remoteHost}:${raw.remotePort}` : null
}
