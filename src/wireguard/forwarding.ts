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

/** The values of several sysctls, in order, from one `sysctl` process. */
async function read(exec: Exec, keys: string[], netns: string | undefined): Promise<string[]> {
  const r = await exec.run('sysctl', ['-n', ...keys], netns === undefined ? {} : { netns })
  const values = r.stdout.trim().split('\n')
  if (values.length !== keys.length)
    throw new Error(`sysctl -n ${keys.join(' ')}: ${values.length} values for ${keys.length} keys`)
  return values.map((v) => v.trim())
}

/** Sets several sysctls, in order, with one `sysctl` process. */
async function write(
  exec: Exec,
  settings: [key: string, value: string][],
  netns: string | undefined,
): Promise<void> {
  if (settings.length === 0) return
  const args = settings.map(([k, v]) => `${k}=${v}`)
  await exec.run('sysctl', ['-q', '-w', ...args], netns === undefined ? {} : { netns })
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
    const previous = await read(exec, keys, netns)
    const off = keys
      .map((key, i) => ({ key, previous: previous[i] as string }))
      .filter((k) => k.previous !== '1')
    await write(
      exec,
      off.map((k) => [k.key, '1']),
      netns,
    )
    restore.push(...off)
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
  await write(
    exec,
    [...restore].reverse().map((r) => [r.key, r.previous]),
    netns,
  )
}
