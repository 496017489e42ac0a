// IP forwarding for relays: a node that carries traffic between two peers (A -> B -> C, where A has no path to
// C) must forward packets from its WireGuard interface back into it. The sysctls are per network namespace; we
// turn on only what is off and remember it, so turning forwarding back off never clobbers an operator's setting.

import type { HostAccess } from '../os/host.js'
import { WireGuardError } from './errors.js'

export const FORWARDING_SYSCTLS = {
  ipv4: 'net.ipv4.ip_forward',
  // "all" switches forwarding on for every interface of the namespace, as the kernel documents for IPv6.
  ipv6: 'net.ipv6.conf.all.forwarding',
} as const

export interface ForwardingOptions {
  ipv4?: boolean
  ipv6?: boolean
}

/** Which sysctls we changed, with the values to put back. */
export type ForwardingRestore = { key: string; previous: string }[]

/** Turns forwarding on where it is off; returns what to restore. Both families by default. */
export async function enableForwarding(
  host: HostAccess,
  options: ForwardingOptions = {},
): Promise<ForwardingRestore> {
  const restore: ForwardingRestore = []
  const keys: string[] = []
  if (options.ipv4 !== false) keys.push(FORWARDING_SYSCTLS.ipv4)
  if (options.ipv6 !== false) keys.push(FORWARDING_SYSCTLS.ipv6)
  try {
    const previous = await host.readSysctls(keys)
    const off = keys
      .map((key, i) => ({ key, previous: previous[i] as string }))
      .filter((k) => k.previous !== '1')
    await host.writeSysctls(off.map((k) => [k.key, '1']))
    restore.push(...off)
  } catch (err) {
    // Leave nothing half-done: undo what this call already changed.
    await restoreForwarding(host, restore).catch(() => {})
    throw new WireGuardError('WG_APPLY_FAILED', `enabling IP forwarding failed: ${(err as Error).message}`, {
      cause: err,
    })
  }
  return restore
}

export async function restoreForwarding(host: HostAccess, restore: ForwardingRestore): Promise<void> {
  // Reverse order, so two changes of one key would end at the first previous value.
  await host.writeSysctls([...restore].reverse().map((r) => [r.key, r.previous] as const))
}
