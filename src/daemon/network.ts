// The network core of the daemon: wires discovery (HyperDHT topic), peer links (certificate-checked), the
// routing driver (probes, link-state, paths) and the WireGuard device together, and turns the routing plan
// into WireGuard peers. It implements no layer; it carries messages between them and keeps WireGuard in step
// with the plan: one reconfigure at a time, always with the newest plan.

import { createSocket } from 'node:dgram'
import { EventEmitter } from 'node:events'
import { isIPv4 } from 'node:net'
import path from 'node:path'
import type { Logger } from 'pino'
import { Counter, type Registry } from 'prom-client'
import type { Config } from '../config/index.js'
import { REVOCATION_CHANNEL, RevocationGossip } from '../control/revocation-gossip.js'
import { Discovery, deriveTopic, localBootstrapAddress } from '../discovery/index.js'
import { writeFileAtomic } from '../identity/files.js'
import {
  CertBook,
  generateX25519KeyPair,
  type KeyPair,
  meshIpv6Prefix,
  type NodeCertificate,
  revocationListCodec,
  type X25519KeyPair,
} from '../identity/index.js'
import { RoutingDriver } from '../routing/driver.js'
import { canonicalCidr } from '../routing/index.js'
import { LANE_DROPPED_BY_PEER, LinkManager, type PeerLink } from '../transport/index.js'
import { encodeWith } from '../wire/index.js'
import { signWgKeyAnnouncement, WgKeyBook } from '../wireguard/announce.js'
import { WireGuardDevice } from '../wireguard/index.js'
import { FloodCertificates } from './flood-certs.js'
import { HandshakeSync, lookDelayMs } from './handshake-sync.js'
import {
  decodeRoutingFrame,
  encodeLinkStateFrame,
  encodeWgConfiguredFrame,
  encodeWgKeyFrame,
  judgeLinkStateFrame,
} from './mesh-frames.js'
import { TRAFFIC_MIN_BYTES, type Transfer, wantsFastProbing } from './traffic.js'
import { REVOCATIONS_FILE, type TrustMaterial } from './trust.js'

export const MESH_V4_ROUTE = '100.64.0.0/10'

export interface NetworkCoreOptions {
  config: Config
  logger: Logger
  registry: Registry
  nodeKey: KeyPair
  nodeId: string
  trust: TrustMaterial
}

/** How often WireGuard's per-peer counters are read to see which links carry traffic. */
const TRAFFIC_CHECK_MS = 1_000

/**
 * Peer-link keepalive for a probe pace: a PING only after a bit more than an idle probe interval of silence
 * (an idle link still hears the peer's probes), dead after three of those or 5 s.
 */
export function linkTimings(network: { probe_interval: number; idle_probe_interval: number }): {
  keepAliveIntervalMs: number
  deadAfterMs: number
} {
  const keepAliveIntervalMs = Math.max(1_000, network.idle_probe_interval + network.probe_interval)
  return { keepAliveIntervalMs, deadAfterMs: Math.max(5_000, 3 * keepAliveIntervalMs) }
}

export class NetworkCore extends EventEmitter<{ applied: []; 'link-down': [peer: string] }> {
  readonly certs: CertBook
  readonly wgKeys = new WgKeyBook()
  readonly device: WireGuardDevice
  readonly routing: RoutingDriver
  /** Root-signed revocations: enforced here, persisted, and passed on to every neighbour. */
  readonly revocations: RevocationGossip
  links: LinkManager | null = null
  private discovery: Discovery | null = null
  private wgKey: X25519KeyPair = generateX25519KeyPair()
  private wgSeq = Date.now()
  private applying: Promise<void> | null = null
  private applyAgain = false
  private lastApplied: string | null = null
  private lastAppliedAt = 0
  private readonly hsync = new HandshakeSync()
  private readonly floodCerts = new FloodCertificates()
  /** WireGuard keys (base64) of peers whose entry the next apply removes and adds back (handshake-sync.ts). */
  private readonly resetKeys = new Set<string>()
  private rotationTimer: NodeJS.Timeout | null = null
  private trafficTimer: NodeJS.Timeout | null = null
  /** Direct peer → its WireGuard counters at the last traffic check. */
  private wgBytes = new Map<string, Transfer>()
  /** Node id → the base64 WireGuard key the last apply() configured for it (its direct peers). */
  private configuredKeys: ReadonlyMap<string, string> = new Map()
  /** Neighbour → bytes received on its peer link's non-routing channels since the last traffic check. */
  private readonly linkBytes = new Map<string, number>()
  private stopped = false
  private readonly log: Logger
  private readonly routesIntoMesh: string[]
  private readonly counters: { frames: Counter<'type' | 'result'>; probes: Counter<'result'> }

  constructor(private readonly opts: NetworkCoreOptions) {
    super()
    const { trust, config } = opts
    this.log = opts.logger.child({ subsystem: 'network' })
    this.certs = new CertBook({
      rootPublicKey: trust.federation.rootPublicKey,
      federationId: trust.federation.id,
      revocations: trust.revocations,
    })
    const own = this.certs.addCert(trust.certificate, Buffer.from(trust.certificateBytes))
    if (!own.ok)
      throw Object.assign(new Error(`this node's certificate is not valid: ${own.message}`), {
        code: own.code,
      })
    this.routesIntoMesh = [MESH_V4_ROUTE, meshIpv6Prefix(trust.federation.id)]
    const wgLog = opts.logger.child({ subsystem: 'wireguard' })
    // At debug level wireguard-go's own log (handshakes sent, received, dropped) joins ours, at debug.
    this.device = new WireGuardDevice({
      log: wgLog,
      ...(wgLog.isLevelEnabled('debug') ? { wireguardGo: { logLevel: 'verbose' } } : {}),
    })
    this.counters = {
      frames: new Counter({
        name: 'blackroad_routing_frames_total',
        help: 'Frames on the routing channel by type and result (accepted, stale, bad-signature, malformed, ...)',
        labelNames: ['type', 'result'],
        registers: [opts.registry],
      }),
      probes: new Counter({
        name: 'blackroad_routing_probes_received_total',
        help: 'Probe datagrams from peer links by result (accepted, malformed, not-linked)',
        labelNames: ['result'],
        registers: [opts.registry],
      }),
    }
    this.routing = new RoutingDriver({
      localId: opts.nodeId,
      nodeKey: opts.nodeKey,
      keyOf: (id) => this.certs.get(id)?.publicKey,
      addressesOf: (id) => this.addressesOf(id),
      probeIntervalMs: config.network.probe_interval,
      deadLinkTimeoutMs: config.network.dead_link_timeout,
      idleProbeIntervalMs: config.network.idle_probe_interval,
      watchProbeIntervalMs: config.network.watch_probe_interval,
      transport: {
        sendProbe: (peer, datagram) => this.links?.get(peer)?.sendDatagram(datagram) ?? false,
        sendRecord: (peer, origin, record) => {
          const cert = this.certs.bytesOf(origin)
          const link = this.links?.get(peer)
          if (cert && link)
            link.send('routing', encodeLinkStateFrame(this.floodCerts.toSend(link, origin, cert), record))
        },
      },
    })
    this.routing.on('record', (status) => this.counters.frames.inc({ type: 'link-state', result: status }))
    this.routing.on('plan', (_plan, changes) => {
      if (changes.length > 0)
        this.log.info({ changes: changes.map((c) => `${c.kind} ${c.destination}`) }, 'routes changed')
      this.scheduleApply()
    })
    this.routing.on('link', (e) => {
      this.log.info(
        {
          peer: e.peer,
          event: e.type,
          rtt_us: e.metrics.srttMicros,
          base_rtt_us: e.metrics.baseRttMicros,
          loss_permille: e.metrics.lossPermille,
        },
        'link state',
      )
      // Routing's failure detector (probes): the control plane takes it as a hint about a silent leader.
      if (e.type === 'link-down') this.emit('link-down', e.peer)
    })
    this.revocations = new RevocationGossip({
      set: trust.revocations,
      persist: (list) =>
        writeFileAtomic(
          path.join(config.node.state_dir, REVOCATIONS_FILE),
          encodeWith(revocationListCodec, [...list]),
        ),
      send: (peer, frame) => this.links?.get(peer)?.send(REVOCATION_CHANNEL, frame),
      peers: () => this.links?.peers() ?? [],
      onRevoked: (rev) => this.cutOff(rev.nodeId),
      registry: opts.registry,
    })
  }

  /** A node was revoked: links to it fail re-verification and close, its certificate and routes go. */
  private cutOff(nodeId: string): void {
    const closed = this.links?.recheck() ?? 0
    this.certs.prune()
    this.log.warn({ node: nodeId, links_closed: closed }, 'node revoked: cut off')
    this.scheduleApply()
  }

  /** Installs a renewed certificate of this node: new links present it, up links receive it in a CERT frame. */
  installCertificate(cert: NodeCertificate, bytes: Uint8Array): void {
    const own = this.certs.addCert(cert, Buffer.from(bytes))
    if (!own.ok)
      throw Object.assign(new Error(`renewed certificate is not valid: ${own.message}`), { code: own.code })
    this.opts.trust.certificate = cert
    this.opts.trust.certificateBytes = bytes
    this.links?.setCertificate(bytes)
  }

  get certificate() {
    return this.opts.trust.certificate
  }

  /** The node's mesh prefixes, from its certificate: the only addresses the federation vouches for. */
  addressesOf(nodeId: string): string[] {
    const cert = this.certs.get(nodeId)
    if (!cert) return []
    const out: string[] = []
    if (cert.addresses.ipv4) out.push(canonicalCidr(`${cert.addresses.ipv4}/32`) ?? '')
    if (cert.addresses.ipv6) out.push(canonicalCidr(`${cert.addresses.ipv6}/128`) ?? '')
    return out.filter(Boolean).sort()
  }

  /** This node's mesh addresses without prefix length, as its WireGuard interface holds them after start(). */
  ownAddresses(): string[] {
    return this.addressesOf(this.opts.nodeId).map((p) => p.slice(0, p.indexOf('/')))
  }

  async start(): Promise<void> {
    const { config, trust, nodeKey } = this.opts
    // The interface comes up (wireguard-go started, addresses and routes set) while discovery finds the peers
    // and their links come up: nothing on a peer link needs the tunnel, and the device runs every later
    // reconfigure (the first peers) behind up(). Every router may relay for others (multi-hop paths), so
    // forwarding is on for the mesh, queued behind up() too. Both are awaited once discovery started.
    const up = this.device.up({
      name: config.wireguard.interface,
      privateKey: this.wgKey.secretKey,
      listenPort: config.wireguard.listen_port,
      mtu: config.wireguard.mtu,
      addresses: this.addressesOf(this.opts.nodeId),
      routes: this.routesIntoMesh,
    })
    up.catch(() => {})
    const forwarding = this.device.enableForwarding({ ipv4: true, ipv6: true })
    forwarding.catch(() => {})

    const links = new LinkManager({
      localPublicKey: nodeKey.publicKey,
      certificate: trust.certificateBytes,
      trust: {
        rootPublicKey: trust.federation.rootPublicKey,
        federationId: trust.federation.id,
        isRevoked: (c) => trust.revocations.isRevoked(c),
        clockSkewMs: 60_000,
      },
      registry: this.opts.registry,
      logger: this.opts.logger.child({ subsystem: 'links' }),
      // An idle link's only traffic is the peer's probe, at least every idle_probe_interval: the link's own
      // keepalive waits a little longer, so it adds nothing to a quiet mesh.
      ...linkTimings(config.network),
      lanes: config.network.tcp_lane ? { keyPair: nodeKey, port: config.network.tcp_lane_port } : null,
    })
    this.links = links
    links.addChannel(REVOCATION_CHANNEL)
    links.on('link-up', (peer, link) => this.onLinkUp(peer, link))
    links.on('link-down', (peer, reason) => {
      this.log.info({ peer, reason }, 'peer link down')
      this.hsync.forget(peer)
      this.routing.neighbourDown(peer)
    })
    links.on('rejected', (reason, key) =>
      this.log.warn({ reason, key: key.toString('hex').slice(0, 16) }, 'peer refused'),
    )

    const bootstrap = config.discovery.bootstrap
    const own = config.node.bootstrap ? localBootstrapAddress(bootstrap) : null
    if (config.node.bootstrap && !own) {
      this.log.warn(
        { bootstrap },
        'node.bootstrap is set but no discovery.bootstrap entry is an address of this machine',
      )
    }
    const discovery = new Discovery({
      keyPair: { publicKey: nodeKey.publicKey, secretKey: nodeKey.secretKey },
      topic: deriveTopic(trust.federation.id, trust.secret),
      bootstrap,
      staticPeers: config.discovery.static_peers,
      port: config.discovery.port,
      bootstrapNode: own ? { host: own.host, port: own.port, extraNodes: 2 } : null,
      reannounceIntervalMs: config.discovery.refresh_interval,
      // Our own tunnel's addresses come and go with the daemon; they are not the underlay.
      ignoreInterfaces: [config.wireguard.interface],
      logger: this.opts.logger.child({ subsystem: 'discovery' }),
    })
    this.discovery = discovery
    discovery.on('connection', (conn) => links.accept(conn))
    // Links over an address this host no longer has are dead without anything saying so: check them now, so
    // discovery dials again at once instead of after the keepalive's dead interval.
    discovery.on('network-change', () => void links.checkLinks())
    this.routing.start()
    await Promise.all([up, discovery.start(), links.listenLanes()])
    await forwarding
    this.rotationTimer = setInterval(() => {
      this.rotateKey().catch((err) => this.log.error({ err }, 'scheduled WireGuard key rotation failed'))
    }, config.wireguard.key_rotation)
    this.rotationTimer.unref()
    this.trafficTimer = setInterval(() => {
      this.checkTraffic().catch((err) => this.log.debug({ err }, 'WireGuard traffic check failed'))
    }, TRAFFIC_CHECK_MS)
    this.trafficTimer.unref()
  }

  /**
   * Tells routing which links carried traffic since the last check (WireGuard counters of direct peers, bus
   * bytes on peer links), beyond what periodic refreshes and WireGuard's own packets amount to: those links
   * are probed fast, so a silent failure under traffic is noticed within the dead-link timeout.
   */
  private async checkTraffic(): Promise<void> {
    if (this.stopped) return
    for (const [peer, bytes] of this.linkBytes) if (bytes >= TRAFFIC_MIN_BYTES) this.routing.noteTraffic(peer)
    this.linkBytes.clear()
    if (this.configuredKeys.size === 0) return
    const nodeOfKey = new Map<string, string>()
    for (const [node, key] of this.configuredKeys) nodeOfKey.set(key, node)
    const seen = new Map<string, Transfer>()
    for (const s of await this.device.stats()) {
      const node = nodeOfKey.get(s.publicKey)
      if (node === undefined) continue
      const now = { rx: s.rxBytes, tx: s.txBytes }
      seen.set(node, now)
      const before = this.wgBytes.get(node)
      if (before !== undefined && wantsFastProbing(before, now)) this.routing.noteTraffic(node)
    }
    this.wgBytes = seen
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.rotationTimer) clearInterval(this.rotationTimer)
    if (this.trafficTimer) clearInterval(this.trafficTimer)
    this.routing.stop()
    // Links first, so peers get a CLOSE frame (a clean 'peer left') before discovery tears the connections down.
    await this.links?.close().catch((err) => this.log.warn({ err }, 'link manager close failed'))
    await this.discovery?.close().catch((err) => this.log.warn({ err }, 'discovery close failed'))
    await this.applying?.catch(() => {})
    await this.device.down()
  }

  /** Rotates the WireGuard key: peers learn the new public key first, then this node switches to it. */
  async rotateKey(): Promise<{ publicKey: string; seq: number }> {
    const next = generateX25519KeyPair()
    const seq = ++this.wgSeq
    const frame = encodeWgKeyFrame(this.announcement(next.publicKey, seq))
    for (const peer of this.links?.peers() ?? []) this.links?.get(peer)?.send('routing', frame)
    // Give peers a moment to move our allowed-ips to the new key before our own side switches.
    await new Promise((r) => setTimeout(r, 150))
    this.wgKey = next
    await this.applyNow()
    // A peer that sent a handshake initiation inside that moment used our new public key while we still held the
    // old private key: it was dropped, and the peer retries only after WireGuard's 5 s rekey timeout. Handshake
    // now from our side (the first packet to each peer starts one), so traffic flows on the next packet.
    await this.nudgePeers()
    this.log.info({ seq, public_key: next.publicKey.toString('base64') }, 'WireGuard key rotated')
    return { publicKey: next.publicKey.toString('base64'), seq }
  }

  get wgPublicKey(): string {
    return this.wgKey.publicKey.toString('base64')
  }

  discoveryStatus() {
    return this.discovery?.status() ?? null
  }

  /**
   * A neighbour configured our current key while we have no session with it: our first initiation was likely
   * dropped before it knew us, and WireGuard would wait 5 s to retry. Reset our side (see handshake-sync.ts).
   */
  private async onConfigured(peer: string, theirView: Uint8Array): Promise<void> {
    const ann = this.wgKeys.get(peer)
    // A frame about a key we no longer use says nothing about our current entry: no need to read WireGuard.
    if (!ann || this.stopped || Buffer.from(theirView).toString('base64') !== this.wgPublicKey) return
    const key = Buffer.from(ann.publicKey).toString('base64')
    // Not at once: the neighbour's own initiation is likely on its way (when to look: handshake-sync.ts).
    const delay = lookDelayMs(this.wgPublicKey, key, this.routing.metrics(peer)?.srttMicros)
    await new Promise((r) => setTimeout(r, delay).unref())
    if (this.stopped || this.wgKeys.get(peer) !== ann) return
    let live: Awaited<ReturnType<WireGuardDevice['stats']>>
    try {
      live = await this.device.stats()
    } catch {
      return
    }
    const s = live.find((x) => x.publicKey === key)
    const ours = {
      currentKey: this.wgPublicKey,
      configured: s !== undefined,
      latestHandshakeMs: s?.latestHandshake ?? 0,
    }
    if (!this.hsync.shouldReset(peer, Buffer.from(theirView).toString('base64'), ours, Date.now())) return
    this.log.debug(
      { peer },
      'WireGuard: neighbour configured us before a first handshake; resetting our peer entry',
    )
    this.resetKeys.add(key)
    this.lastApplied = null
    this.scheduleApply()
  }

  /** Sends one empty datagram (discard port) through the tunnel to each direct peer, which makes WireGuard handshake. */
  private async nudgePeers(only?: ReadonlySet<string>): Promise<void> {
    const targets = this.routing.plan.peers
      .filter((p) => only === undefined || only.has(p.nodeId))
      .map((p) => this.certs.get(p.nodeId)?.addresses)
      .map((a) => a?.ipv4 ?? a?.ipv6)
      .filter((a): a is string => typeof a === 'string' && a !== '')
    const send = async (family: 'udp4' | 'udp6', addrs: string[]) => {
      if (addrs.length === 0) return
      const sock = createSocket(family)
      sock.on('error', () => {})
      const datagram = Buffer.alloc(0)
      const sendTo = (a: string) => new Promise<void>((resolve) => sock.send(datagram, 9, a, () => resolve()))
      await Promise.all(addrs.map(sendTo))
      sock.close()
    }
    const v4 = targets.filter((a) => isIPv4(a))
    const v6 = targets.filter((a) => !isIPv4(a))
    await Promise.all([send('udp4', v4), send('udp6', v6)]).catch((err) =>
      this.log.debug({ err }, 'handshake nudge failed'),
    )
  }

  private announcement(publicKey: Buffer, seq: number) {
    return signWgKeyAnnouncement(
      { publicKey, listenPort: this.opts.config.wireguard.listen_port, seq, issuedAt: Date.now() },
      this.opts.nodeKey,
    )
  }

  private onLinkUp(peer: string, link: PeerLink): void {
    const cert = link.peerCertificate
    if (cert) this.certs.addCert(cert)
    this.log.info({ peer, name: cert?.name, remote: link.remoteAddress }, 'peer link up')
    link.on('message', (channel, payload) => this.onMessage(peer, channel, payload))
    // Probes are the only datagrams so far (their first byte names the kind: routing/probe-wire.ts).
    link.on('datagram', (d) => this.counters.probes.inc({ result: this.routing.onProbeDatagram(peer, d) }))
    // A lane the peer did not drop itself may have died with the peer's daemon (its kernel closed it): check.
    link.on('lane', (up, reason) => {
      if (!up && reason !== LANE_DROPPED_BY_PEER) this.routing.suspect(peer)
    })
    link.send('routing', encodeWgKeyFrame(this.announcement(this.wgKey.publicKey, this.wgSeq)))
    this.revocations.syncTo(peer)
    this.routing.neighbourUp(peer)
  }

  private onMessage(peer: string, channel: string, payload: Uint8Array): void {
    // The bus and the protocols on it: counted, and judged with WireGuard's counters (checkTraffic).
    if (channel !== 'routing') this.linkBytes.set(peer, (this.linkBytes.get(peer) ?? 0) + payload.length)
    if (channel === REVOCATION_CHANNEL) {
      this.revocations.receive(peer, payload)
      return
    }
    if (channel !== 'routing') return
    let frame: ReturnType<typeof decodeRoutingFrame>
    try {
      frame = decodeRoutingFrame(payload)
    } catch {
      this.counters.frames.inc({ type: 'unknown', result: 'malformed' })
      return
    }
    if (frame.type === 'link-state') {
      const verdict = judgeLinkStateFrame(this.certs, frame, (id) => this.addressesOf(id))
      if (verdict !== 'ok') {
        this.counters.frames.inc({ type: 'link-state', result: verdict })
        return
      }
      this.routing.onRecord(peer, frame.record)
      return
    }
    if (frame.type === 'wg-configured') {
      this.counters.frames.inc({ type: 'wg-configured', result: 'accepted' })
      void this.onConfigured(peer, frame.key)
      return
    }
    const key = this.certs.get(peer)?.publicKey
    if (!key) return
    const v = this.wgKeys.accept(peer, key, frame.record)
    this.counters.frames.inc({ type: 'wg-key', result: v.ok ? 'accepted' : v.reason })
    if (v.ok) this.scheduleApply()
  }

  private scheduleApply(): void {
    if (this.stopped) return
    if (this.applying) {
      this.applyAgain = true
      return
    }
    this.applying = this.apply().finally(() => {
      this.applying = null
      if (this.applyAgain) {
        this.applyAgain = false
        this.scheduleApply()
      }
    })
  }

  private async applyNow(): Promise<void> {
    while (this.applying) await this.applying.catch(() => {})
    this.applying = this.apply().finally(() => (this.applying = null))
    await this.applying
  }

  /** Makes WireGuard match the routing plan: one peer per direct neighbour whose WireGuard key we know. */
  private async apply(): Promise<void> {
    const peers = []
    /** Node id → the base64 WireGuard key configured for it. */
    const configured = new Map<string, string>()
    for (const p of this.routing.plan.peers) {
      const ann = this.wgKeys.get(p.nodeId)
      if (!ann) continue
      configured.set(p.nodeId, Buffer.from(ann.publicKey).toString('base64'))
      const remote = this.links?.remoteAddress(p.nodeId)
      const host = remote ? (remote.host.includes(':') ? `[${remote.host}]` : remote.host) : null
      peers.push({
        publicKey: Buffer.from(ann.publicKey),
        ...(host && ann.listenPort ? { endpoint: `${host}:${ann.listenPort}` } : {}),
        allowedIps: p.allowedIps,
        persistentKeepalive: Math.round(this.opts.config.wireguard.persistent_keepalive / 1000),
      })
    }
    this.configuredKeys = configured
    const desired = {
      privateKey: this.wgKey.secretKey,
      listenPort: this.opts.config.wireguard.listen_port,
      peers,
      routes: this.routesIntoMesh,
    }
    // Most plans differ from the last one only in metrics, not in peers: reading WireGuard back (two processes
    // per call) for those dominated idle CPU. Identical desired state is skipped, with a full re-check every 30 s
    // in case something outside the daemon changed the interface.
    const signature = JSON.stringify(desired)
    if (signature === this.lastApplied && Date.now() - this.lastAppliedAt < 30_000) return
    try {
      // Peers to reset go out in one reconfigure and come back in the next (handshake-sync.ts); one that has
      // handshaked since the decision keeps its session.
      const configuredKeys = new Set(configured.values())
      const reset = new Set([...this.resetKeys].filter((k) => configuredKeys.has(k)))
      this.resetKeys.clear()
      if (reset.size > 0) {
        const live = await this.device.stats().catch(() => [])
        for (const s of live) if (s.latestHandshake > 0) reset.delete(s.publicKey)
      }
      if (reset.size > 0)
        await this.device.reconfigure({
          ...desired,
          peers: peers.filter((p) => !reset.has(p.publicKey.toString('base64'))),
        })
      // The device logs what it changed ('WireGuard reconfigured').
      await this.device.reconfigure(desired)
      this.lastApplied = signature
      this.lastAppliedAt = Date.now()
      if (reset.size > 0)
        await this.nudgePeers(new Set([...configured].filter(([, k]) => reset.has(k)).map(([id]) => id)))
      for (const peer of this.hsync.toTell(configured)) {
        const ann = this.wgKeys.get(peer)
        if (ann) this.links?.get(peer)?.send('routing', encodeWgConfiguredFrame(ann.publicKey))
      }
      this.emit('applied')
    } catch (err) {
      this.log.error({ err }, 'WireGuard reconfigure failed; retrying')
      setTimeout(() => this.scheduleApply(), 500).unref()
    }
  }
}
