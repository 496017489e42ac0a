// IP forwarding for relays: a node that carries traffic between two peers (A -> B -> C, where A has no path to
// C) must forward packets from its WireGuard interface back into it. The sysctls are per network namespace; we
// turn on only what is off and remember it, so turning forwarding back off never clobbers an operator's setting.

import type { Exec } from '../os/exec.js'
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

async function read(exec: Exec, key: string, netns: string | undefined): Promise<string> {
  const r = await exec.run('sysctl', ['-n', key], netns === undefined ? {} : { netns })
  return r.stdout.trim()
}

async function write(exec: Exec, key: string, value: string, netns: string | undefined): Promise<void> {
  await exec.run('sysctl', ['-q', '-w', `${key}=${value}`], netns === undefined ? {} : { netns })
}

/** Turns forwarding on where it is off; returns what to restore. Both families by default. */
export async function enableForwarding(
  exec: Exec,
  netns: string | undefined,
  options: ForwardingOptions = {},
): Promise<ForwardingRestore> {
  const restore: ForwardingRestore = []
  const keys: string[] = []
  if (options.ipv4 !== false) keys.push(FORWARDING_SYSCTLS.ipv4)
  if (options.ipv6 !== false) keys.push(FORWARDING_SYSCTLS.ipv6)
  try {
    for (const key of keys) {
      const previous = await read(exec, key, netns)
      if (previous === '1') continue
      await write(exec, key, '1', netns)
      restore.push({ key, previous })
    }
  } catch (err) {
    // Leave nothing half-done: undo what this call already changed.
    await restoreForwarding(exec, netns, restore).catch(() => {})
    throw new WireGuardError('WG_APPLY_FAILED', `enabling IP forwarding failed: ${(err as Error).message}`, {
      cause: err,
    })
  }
  return restore
}

export async function restoreForwarding(
  exec: Exec,
  netns: string | undefined,
  restore: ForwardingRestore,
): Promise<void> {
  // Reverse order, so two changes of one key would end at the first previous value.
  for (const { key, previous } of [...restore].reverse()) await write(exec, key, previous, netns)
}
