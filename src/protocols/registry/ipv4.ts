// The mesh IPv4 pool: 100.64.0.0/10 (RFC 6598 shared address space), host parts .0 and .255 skipped so
// no address looks like a network or broadcast address to tools that assume /24s. Addresses are 32-bit
// integers inside the registry; text only at the edges.

export const POOL_FIRST = (100 << 24) | (64 << 16) // 100.64.0.0
export const POOL_SIZE = 1 << 22 // a /10
export const POOL_LAST = POOL_FIRST + POOL_SIZE - 1 // 100.127.255.255

/** Whether `a` may be handed to a node. */
export function usableIpv4(a: number): boolean {
  if (!Number.isInteger(a) || a < POOL_FIRST || a > POOL_LAST) return false
  const host = a & 0xff
  return host !== 0 && host !== 255
}

/**
 * The first usable address at or after `start` (wrapping around the pool) that `taken` does not hold, or
 * undefined when the pool is full. Each probe either finds a free address or passes a taken or skipped
 * one, so the walk is bounded by the pool size and in practice by the number of allocations near `start`.
 */
export function nextFreeIpv4(start: number, taken: ReadonlyMap<number, unknown>): number | undefined {
  let a = start >= POOL_FIRST && start <= POOL_LAST ? start : POOL_FIRST
  for (let i = 0; i < POOL_SIZE; i++) {
    if (usableIpv4(a) && !taken.has(a)) return a
    a = a === POOL_LAST ? POOL_FIRST : a + 1
  }
  return undefined
}

export function formatIpv4(a: number): string {
  return [a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff].join('.')
}

/** Dotted quad → integer, or undefined for anything that is not exactly one. */
export function parseIpv4(s: string): number | undefined {
  const parts = s.split('.')
  if (parts.length !== 4) return undefined
  let n = 0
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined
    const v = Number(p)
    if (v > 255) return undefined
    n = n * 256 + v
  }
  return n
}
