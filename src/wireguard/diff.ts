// Desired-state diffing for the WireGuard interface (pure), in the spirit of tailscale's wgengine Reconfig: the
// caller says what the interface should look like, we compare with what `wg show dump` and `ip route` report and
// produce the smallest set of changes, so applying the same desired state twice changes nothing.
//
// Order inside the single `wg set` we emit (why):
//   1. interface attributes (private-key, listen-port). `wg` sends them before peers anyway. Changing the private
//      key keeps every peer (WireGuard recomputes each peer's static-static secret and expires the sessions), so a
//      rotation never drops peers; the next packet starts a handshake with the new key.
//   2. new peers, then updated peers that take a prefix from another peer, then other updates. A prefix belongs to
//      one peer at a time and assigning it to a peer moves it, so letting the gaining peer claim it first means
//      there is never an instant where the prefix has no peer.
//   3. removals last. A rotated peer (old key gone, new key present with its allowed-ips/endpoint) is therefore
//      "add new key (allowed-ips move to it), then remove old key" in one invocation: packets match the new key
//      from the next packet on, never nothing.

import { canonicalEndpoint, canonicalPrefix } from './cidr.js'
import type { LiveInterface, LivePeer } from './dump.js'
import { configInvalid } from './errors.js'
import { clampPrivateKey, keyToBase64, publicKeyOf } from './keys.js'

export interface PeerConfig {
  publicKey: string | Buffer
  /**
   * 'ip:port' or '[ipv6]:port' (IP literals only). Omitted: whatever the device learned or had is kept — WireGuard
   * cannot clear an endpoint, and a roaming peer updates it by itself.
   */
  endpoint?: string
  allowedIps: string[]
  /** Seconds, 1..65535; omitted or 0 = off. */
  persistentKeepalive?: number
  /** Omitted = no preshared key (an existing one is removed). */
  presharedKey?: string | Buffer
}

export interface DesiredState {
  privateKey: string | Buffer
  /** UDP port; 0 = let the device choose and never change it afterwards. */
  listenPort: number
  peers: PeerConfig[]
  /** Prefixes routed into the interface (owned by us, tagged with our route protocol). */
  routes: string[]
}

export interface NormalizedPeer {
  publicKey: string
  endpoint: string | null
  allowedIps: string[]
  persistentKeepalive: number
  presharedKey: string | null
}

/** Desired state in canonical text form: keys base64, prefixes masked and sorted, peers sorted by key. */
export interface NormalizedDesired {
  privateKey: string
  publicKey: string
  listenPort: number
  peers: NormalizedPeer[]
  routes: string[]
}

/** What to change on one peer. Absent fields are left as they are. */
export interface PeerChange {
  publicKey: string
  remove?: true
  /** Base64 to set, null to clear. */
  presharedKey?: string | null
  endpoint?: string
  persistentKeepalive?: number
  /** Replaces the peer's whole list. */
  allowedIps?: string[]
}

export interface WgPlan {
  privateKey?: string
  listenPort?: number
  /** In application order (see the header comment). */
  peers: PeerChange[]
  routesAdd: string[]
  routesRemove: string[]
  /** One human-readable line per change, for logs and the API; secrets never appear. */
  actions: string[]
}

const short = (key: string): string => `${key.slice(0, 8)}…`

function uintField(value: number, max: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max)
    throw configInvalid(`${what}: ${value} is not 0..${max}`)
  return value
}

const sortedUnique = (items: string[]): string[] => [...new Set(items)].sort()

/** Validates and canonicalises a desired state; WG_CONFIG_INVALID names the offending peer and field. */
export function normalizeDesired(desired: DesiredState): NormalizedDesired {
  keyToBase64(desired.privateKey, 'privateKey')
  const privateKey = clampPrivateKey(desired.privateKey)
  const publicKey = publicKeyOf(privateKey)
  const listenPort = uintField(desired.listenPort, 65535, 'listenPort')
  const owner = new Map<string, string>()
  const seen = new Set<string>()
  const peers = desired.peers.map((p, i): NormalizedPeer => {
    const where = `peers[${i}]`
    const key = keyToBase64(p.publicKey, `${where}.publicKey`)
    if (key === publicKey) throw configInvalid(`${where}: peer key equals this interface's own public key`)
    if (seen.has(key)) throw configInvalid(`${where}: peer ${key} listed twice`)
    seen.add(key)
    const allowedIps = sortedUnique(
      p.allowedIps.map((a, j) => canonicalPrefix(a, `${where}.allowedIps[${j}]`)),
    )
    for (const prefix of allowedIps) {
      const other = owner.get(prefix)
      if (other !== undefined)
        throw configInvalid(`${where}: allowed-ip ${prefix} also given to peer ${other}`)
      owner.set(prefix, key)
    }
    return {
      publicKey: key,
      endpoint: p.endpoint === undefined ? null : canonicalEndpoint(p.endpoint, `${where}.endpoint`),
      allowedIps,
      persistentKeepalive: uintField(p.persistentKeepalive ?? 0, 65535, `${where}.persistentKeepalive`),
      presharedKey:
        p.presharedKey === undefined ? null : keyToBase64(p.presharedKey, `${where}.presharedKey`),
    }
  })
  peers.sort((a, b) => (a.publicKey < b.publicKey ? -1 : a.publicKey > b.publicKey ? 1 : 0))
  const routes = sortedUnique(desired.routes.map((r, j) => canonicalPrefix(r, `routes[${j}]`)))
  return { privateKey, publicKey, listenPort, peers, routes }
}

/**
 * A session whose last handshake is younger than this (seconds) is alive: WireGuard re-handshakes every 2
 * minutes while packets flow and persistent keepalives keep them flowing.
 */
export const LIVE_SESSION_S = 180

function diffPeer(
  want: NormalizedPeer,
  have: LivePeer,
  actions: string[],
  nowSec: number | undefined,
): PeerChange | undefined {
  const change: PeerChange = { publicKey: want.publicKey }
  const what: string[] = []
  // Our endpoint is a hint (the peer link's address and the announced port). WireGuard replaces it with the
  // address an authenticated packet last came from (roaming): behind a symmetric NAT that is a port only the
  // NAT knows, and the only one that works. While the session is alive the learned address wins; ours is
  // pushed again only when the session is dead (or was never up), so a moved peer is still found.
  const sessionAlive =
    nowSec !== undefined && have.latestHandshake > 0 && nowSec - have.latestHandshake < LIVE_SESSION_S
  if (want.presharedKey !== have.presharedKey) {
    change.presharedKey = want.presharedKey
    what.push(want.presharedKey === null ? 'remove preshared key' : 'set preshared key')
  }
  if (
    want.endpoint !== null &&
    want.endpoint !== have.endpoint &&
    !(sessionAlive && have.endpoint !== null)
  ) {
    change.endpoint = want.endpoint
    what.push(`endpoint ${have.endpoint ?? '(none)'} -> ${want.endpoint}`)
  }
  if (want.persistentKeepalive !== have.persistentKeepalive) {
    change.persistentKeepalive = want.persistentKeepalive
    what.push(`keepalive ${have.persistentKeepalive} -> ${want.persistentKeepalive}`)
  }
  const haveIps = sortedUnique(have.allowedIps)
  const added = want.allowedIps.filter((ip) => !haveIps.includes(ip))
  const removed = haveIps.filter((ip) => !want.allowedIps.includes(ip))
  if (added.length > 0 || removed.length > 0) {
    change.allowedIps = want.allowedIps
    what.push(`allowed-ips ${[...added.map((a) => `+${a}`), ...removed.map((r) => `-${r}`)].join(' ')}`)
  }
  if (what.length === 0) return undefined
  actions.push(`update peer ${short(want.publicKey)}: ${what.join(', ')}`)
  return change
}

/**
 * The changes that turn `live` (+ the routes we own now) into `desired`. Pure; `actions` is empty exactly when
 * nothing needs to change.
 */
export function planReconfigure(
  live: LiveInterface,
  liveRoutes: readonly string[],
  desired: NormalizedDesired,
  /** Unix seconds; with it, a live session's learned endpoint is kept (see diffPeer). */
  nowSec?: number,
): WgPlan {
  const actions: string[] = []
  const plan: WgPlan = { peers: [], routesAdd: [], routesRemove: [], actions }
  if (live.privateKey !== desired.privateKey) {
    plan.privateKey = desired.privateKey
    actions.push(`set private key (public key ${short(desired.publicKey)})`)
  }
  if (desired.listenPort !== 0 && live.listenPort !== desired.listenPort) {
    plan.listenPort = desired.listenPort
    actions.push(`listen-port ${live.listenPort} -> ${desired.listenPort}`)
  }

  const livePeers = new Map(live.peers.map((p) => [p.publicKey, p]))
  const liveOwner = new Map<string, string>()
  for (const p of live.peers) for (const ip of p.allowedIps) liveOwner.set(ip, p.publicKey)
  const added: PeerChange[] = []
  const updated: { change: PeerChange; takes: boolean }[] = []
  for (const want of desired.peers) {
    const have = livePeers.get(want.publicKey)
    if (have === undefined) {
      const change: PeerChange = { publicKey: want.publicKey }
      if (want.presharedKey !== null) change.presharedKey = want.presharedKey
      if (want.endpoint !== null) change.endpoint = want.endpoint
      if (want.persistentKeepalive !== 0) change.persistentKeepalive = want.persistentKeepalive
      if (want.allowedIps.length > 0) change.allowedIps = want.allowedIps
      added.push(change)
      const ep = want.endpoint === null ? '' : ` endpoint ${want.endpoint}`
      actions.push(
        `add peer ${short(want.publicKey)}${ep} allowed-ips ${want.allowedIps.join(',') || '(none)'}`,
      )
      continue
    }
    const change = diffPeer(want, have, actions, nowSec)
    if (change === undefined) continue
    const takes = (change.allowedIps ?? []).some((ip) => {
      const o = liveOwner.get(ip)
      return o !== undefined && o !== want.publicKey
    })
    updated.push({ change, takes })
  }
  const wanted = new Set(desired.peers.map((p) => p.publicKey))
  const removed: PeerChange[] = []
  for (const have of live.peers) {
    if (wanted.has(have.publicKey)) continue
    removed.push({ publicKey: have.publicKey, remove: true })
    actions.push(`remove peer ${short(have.publicKey)}`)
  }
  plan.peers = [
    ...added,
    ...updated.filter((u) => u.takes).map((u) => u.change),
    ...updated.filter((u) => !u.takes).map((u) => u.change),
    ...removed,
  ]

  const have = new Set(liveRoutes)
  const want = new Set(desired.routes)
  plan.routesAdd = desired.routes.filter((r) => !have.has(r))
  plan.routesRemove = sortedUnique([...have].filter((r) => !want.has(r)))
  for (const r of plan.routesAdd) actions.push(`add route ${r}`)
  for (const r of plan.routesRemove) actions.push(`remove route ${r}`)
  return plan
}

/** True when the plan has something for `wg set` (as opposed to routes only, or nothing). */
export function planNeedsWgSet(plan: WgPlan): boolean {
  return plan.privateKey !== undefined || plan.listenPort !== undefined || plan.peers.length > 0
}

/**
 * The argv of the single `wg set` applying the plan. Secrets go through files: `secretFile` is called with each
 * secret (private key, preshared keys) and returns a path to a 0600 file holding it; argv never holds a secret.
 */
export function wgSetArgs(name: string, plan: WgPlan, secretFile: (secret: string) => string): string[] {
  const args = ['set', name]
  if (plan.privateKey !== undefined) args.push('private-key', secretFile(plan.privateKey))
  if (plan.listenPort !== undefined) args.push('listen-port', String(plan.listenPort))
  for (const p of plan.peers) {
    args.push('peer', p.publicKey)
    if (p.remove === true) {
      args.push('remove')
      continue
    }
    // /dev/null is wg's documented way to remove a preshared key.
    if (p.presharedKey !== undefined)
      args.push('preshared-key', p.presharedKey === null ? '/dev/null' : secretFile(p.presharedKey))
    if (p.endpoint !== undefined) args.push('endpoint', p.endpoint)
    if (p.persistentKeepalive !== undefined)
      args.push('persistent-keepalive', p.persistentKeepalive === 0 ? 'off' : String(p.persistentKeepalive))
    // `wg set ... allowed-ips` replaces the peer's list; an empty argument clears it.
    if (p.allowedIps !== undefined) args.push('allowed-ips', p.allowedIps.join(','))
  }
  return args
}
