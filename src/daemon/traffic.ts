// Which links carry traffic that wants a fast failure detector (routing probes them at the fast pace: see
// routing/driver.ts), judged from WireGuard's per-peer byte counters read once per check.

/** WireGuard's transfer counters of one peer (bytes of encrypted packets). */
export interface Transfer {
  rx: number
  tx: number
}

/**
 * Bytes both ways in one check at or above which a link is in use. Below it are WireGuard's own packets (a
 * handshake is 148 + 92 bytes, a keepalive 32) and the bus's periodic refreshes.
 */
export const TRAFFIC_MIN_BYTES = 512
/** More than a keepalive's 32 bytes sent in one check. */
const ONE_WAY_MIN_BYTES = 64

/**
 * Whether the counters moved, between two checks, the way a link in use does: enough bytes both ways, or
 * anything beyond a keepalive sent with nothing at all received, which is what a silently failed link looks
 * like even under a ping a second (that alone stays below TRAFFIC_MIN_BYTES on a healthy link). Counters that
 * went backwards (the peer entry was re-added) say nothing.
 */
export function wantsFastProbing(before: Transfer, now: Transfer): boolean {
  const rx = now.rx - before.rx
  const tx = now.tx - before.tx
  if (rx < 0 || tx < 0) return false
  return rx + tx >= TRAFFIC_MIN_BYTES || (rx === 0 && tx >= ONE_WAY_MIN_BYTES)
}
