// The first WireGuard handshake between two routers races their configuration: each adds the other when its
// peer link comes up, and the initiation of whichever is faster reaches a side that does not know its key yet
// and is dropped. WireGuard then waits REKEY_TIMEOUT (5 s) before it tries again, and it ignores any prompt to
// handshake sooner. Usually the slower side's own initiation wins the race the other way; behind a symmetric
// NAT it cannot (its packets go to a port the NAT never opened), so the path waited those 5 s or a keepalive.
//
// So each router tells a neighbour, over their authenticated peer link, once it has configured that
// neighbour's current WireGuard key ("configured" frame naming the key). A router told so while it has no
// session with that neighbour resets its side (the peer entry is removed and added back, which clears
// WireGuard's retry timer) and sends a packet through the tunnel: the initiation now meets a configured peer.
// Resets are rate-limited per neighbour, so two routers cannot keep resetting each other.
//
// A router does not look at once. The neighbour sends the frame right after configuring us, and by then its
// own WireGuard has usually sent an initiation too (a peer with a persistent keepalive handshakes as soon as it
// is added): that initiation, which meets a configured peer, is already on its way. Resetting before it lands
// throws away the session it makes, and the reset's own initiation can then be dropped by WireGuard's flood
// and replay checks (one initiation per 20 ms, timestamps in steps of about 17 ms), leaving the pair waiting
// for the other side's later look or the 5 s retry; measured in the join bench, ~1 run in 10 took 2.3 s that
// way. So the side with the lower key looks after a few round trips (lookDelayMs), and the side with the higher
// key later still, by which time the other side's reset has usually handshaked (two resets at once would
// throw away each other's session, and the endpoint learned through a NAT).

export interface HandshakeSyncOptions {
  /** Minimum time between two resets of the same neighbour. */
  resetIntervalMs?: number
}

/** The lower-key side's look waits at least this long, and for LOOK_RTTS round trips of the link. */
export const FIRST_LOOK_MS = 150
/** The higher-key side's look comes this much after the lower-key side's. */
export const SECOND_LOOK_EXTRA_MS = 1_350
const LOOK_RTTS = 3

/**
 * How long after a neighbour's "configured" frame to look for a session (and reset without one): the side with
 * the lower WireGuard key (base64 order) first, the other SECOND_LOOK_EXTRA_MS later. `rttMicros` is the
 * link's round-trip time when known.
 */
export function lookDelayMs(ourKey: string, theirKey: string, rttMicros: number | null | undefined): number {
  const first = Math.max(FIRST_LOOK_MS, Math.ceil((LOOK_RTTS * (rttMicros ?? 0)) / 1000))
  return ourKey > theirKey ? first + SECOND_LOOK_EXTRA_MS : first
}

export class HandshakeSync {
  /** Neighbour → base64 WireGuard key we last told it we configured. */
  private readonly told = new Map<string, string>()
  /** Neighbour → when we last reset our peer entry for it. */
  private readonly resetAt = new Map<string, number>()
  private readonly resetIntervalMs: number

  constructor(opts: HandshakeSyncOptions = {}) {
    this.resetIntervalMs = opts.resetIntervalMs ?? 15_000
  }

  /**
   * After WireGuard was reconfigured: the neighbours (node id → the key now configured for it) configured for
   * the first time since their link came up. A key rotation is not told: the rotating side re-handshakes by
   * itself, and a reset then would only cut the live session. Neighbours no longer configured are forgotten.
   */
  toTell(configured: ReadonlyMap<string, string>): string[] {
    const out: string[] = []
    for (const [peer, key] of configured) {
      const told = this.told.has(peer)
      this.told.set(peer, key)
      if (!told) out.push(peer)
    }
    for (const peer of [...this.told.keys()]) if (!configured.has(peer)) this.told.delete(peer)
    return out
  }

  /** The link to a neighbour went down: tell it again when it comes back (it may have restarted). */
  forget(peer: string): void {
    this.told.delete(peer)
  }

  /**
   * A neighbour said it configured `theirView` as our key. Reset when it names our current key, we have its
   * peer configured, there is no session yet, and we did not reset it recently.
   */
  shouldReset(
    peer: string,
    theirView: string,
    ours: { currentKey: string; configured: boolean; latestHandshakeMs: number },
    now: number,
  ): boolean {
    if (theirView !== ours.currentKey || !ours.configured || ours.latestHandshakeMs > 0) return false
    const last = this.resetAt.get(peer)
    if (last !== undefined && now - last < this.resetIntervalMs) return false
    this.resetAt.set(peer, now)
    return true
  }
}
