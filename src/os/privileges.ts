// Checks that the daemon holds the Linux capabilities a router needs before it touches anything, so a
// missing privilege is one clear message at start instead of a failed `ip link` call minutes later.

import { readFileSync } from 'node:fs'

export const CAP_NET_BIND_SERVICE = 10
export const CAP_NET_ADMIN = 12

/** Effective capability set of this process, from /proc/self/status (CapEff is a hex bitmask). */
export function effectiveCapabilities(statusText?: string): bigint {
  const text = statusText ?? readFileSync('/proc/self/status', 'utf8')
  const m = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(text)
  if (!m) return 0n
  return BigInt(`0x${m[1]}`)
}

export function hasCapability(cap: number, caps: bigint = effectiveCapabilities()): boolean {
  return ((caps >> BigInt(cap)) & 1n) === 1n
}

export interface PrivilegeProblem {
  capability: string
  why: string
}

/** Capabilities the router needs and does not have; empty when it may start. */
export function missingRouterPrivileges(caps: bigint = effectiveCapabilities()): PrivilegeProblem[] {
  const missing: PrivilegeProblem[] = []
  if (!hasCapability(CAP_NET_ADMIN, caps)) {
    missing.push({
      capability: 'CAP_NET_ADMIN',
      why: 'to create and configure the WireGuard interface, addresses and routes',
    })
  }
  return missing
}
