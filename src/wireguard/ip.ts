// `ip` calls the WireGuard device needs: link existence and removal, addresses, MTU, and the routes we own.
// Our routes carry their own protocol number (`proto 98` by default), so listing and removing them can never touch
// a route the kernel or an operator made, and a restarted daemon recognises the routes its predecessor left.

import type { Exec } from '../os/exec.js'
import { canonicalPrefix, prefixFamily } from './cidr.js'
import { WireGuardError } from './errors.js'

/** Not in /etc/iproute2/rt_protos (98 is unassigned); `ip route show proto 98` lists what a node programmed. */
export const DEFAULT_ROUTE_PROTOCOL = 98

export interface IpContext {
  exec: Exec
  netns?: string
  timeoutMs?: number
}

function ns(ctx: IpContext): { netns?: string; timeoutMs?: number } {
  return {
    ...(ctx.netns !== undefined ? { netns: ctx.netns } : {}),
    ...(ctx.timeoutMs !== undefined ? { timeoutMs: ctx.timeoutMs } : {}),
  }
}

export async function linkExists(ctx: IpContext, name: string): Promise<boolean> {
  const r = await ctx.exec.run('ip', ['link', 'show', 'dev', name], { ...ns(ctx), reject: false })
  return r.code === 0
}

/** Deletes the link; true if it existed. */
export async function deleteLink(ctx: IpContext, name: string): Promise<boolean> {
  const r = await ctx.exec.run('ip', ['link', 'del', 'dev', name], { ...ns(ctx), reject: false })
  if (r.code === 0) return true
  if (/Cannot find device|does not exist/i.test(r.stderr)) return false
  throw new WireGuardError('WG_APPLY_FAILED', `ip link del ${name}: ${r.stderr.trim()}`)
}

/**
 * Runs several `ip` commands (argv without the leading `ip`) in one process, `ip -batch -`, in order; it stops
 * at the first failure, which is an ExecError naming the failed line. One process instead of one per address,
 * link change and route: each costs milliseconds before the interface carries a packet.
 */
export async function ipBatch(ctx: IpContext, commands: readonly string[][]): Promise<void> {
  if (commands.length === 0) return
  if (commands.length === 1) {
    await ctx.exec.run('ip', commands[0] as string[], ns(ctx))
    return
  }
  await ctx.exec.run('ip', ['-batch', '-'], {
    ...ns(ctx),
    input: `${commands.map((c) => c.join(' ')).join('\n')}\n`,
  })
}

export function addAddressArgs(name: string, address: string): string[] {
  const prefix = canonicalAddress(address)
  // nodad: the tunnel is point-to-point; waiting for duplicate address detection only delays the first packet.
  const extra = prefixFamily(prefix) === 6 ? ['nodad'] : []
  return ['address', 'replace', prefix, 'dev', name, ...extra]
}

/** An interface address keeps its host bits ('100.64.0.5/10' is host .5 in a /10): validate, don't mask. */
export function canonicalAddress(address: string): string {
  canonicalPrefix(address, `address ${address}`)
  return address.includes('/') ? address : `${address}/${prefixFamily(address) === 4 ? 32 : 128}`
}

export function mtuAndUpArgs(name: string, mtu: number): string[] {
  return ['link', 'set', 'dev', name, 'mtu', String(mtu), 'up']
}

/**
 * Parses `ip -j route show` output into canonical prefixes. ip prints host routes without a length ("10.0.0.5"),
 * and an empty table as "" or "[]"; anything that is not a list of {dst} is a typed error.
 */
export function parseRouteJson(text: string, family: 4 | 6): string[] {
  const trimmed = text.trim()
  if (trimmed === '') return []
  let data: unknown
  try {
    data = JSON.parse(trimmed)
  } catch {
    throw new WireGuardError('WG_APPLY_FAILED', `ip -j route: output is not JSON: ${trimmed.slice(0, 80)}`)
  }
  if (!Array.isArray(data)) throw new WireGuardError('WG_APPLY_FAILED', 'ip -j route: output is not a list')
  const out: string[] = []
  for (const entry of data) {
    const dst = (entry as { dst?: unknown } | null)?.dst
    if (typeof dst !== 'string') throw new WireGuardError('WG_APPLY_FAILED', 'ip -j route: entry without dst')
    if (dst === 'default') {
      out.push(family === 4 ? '0.0.0.0/0' : '::/0')
      continue
    }
    out.push(canonicalPrefix(dst, 'route from ip'))
  }
  return out
}

/** The routes via `name` tagged with our protocol, both families, canonical and sorted. */
export async function listOwnedRoutes(ctx: IpContext, name: string, protocol: number): Promise<string[]> {
  const routes: string[] = []
  for (const family of [4, 6] as const) {
    const r = await ctx.exec.run(
      'ip',
      ['-j', `-${family}`, 'route', 'show', 'dev', name, 'proto', String(protocol)],
      ns(ctx),
    )
    routes.push(...parseRouteJson(r.stdout, family))
  }
  return [...new Set(routes)].sort()
}

export function addRouteArgs(name: string, prefix: string, protocol: number): string[] {
  // replace, not add: a leftover identical route from a previous run must not make this fail.
  return ['route', 'replace', prefix, 'dev', name, 'proto', String(protocol)]
}

export async function removeRoute(
  ctx: IpContext,
  name: string,
  prefix: string,
  protocol: number,
): Promise<void> {
  const r = await ctx.exec.run('ip', ['route', 'del', prefix, 'dev', name, 'proto', String(protocol)], {
    ...ns(ctx),
    reject: false,
  })
  // Already gone is the state we wanted.
  if (r.code !== 0 && !/No such process|not found/i.test(r.stderr)) {
    throw new WireGuardError('WG_APPLY_FAILED', `ip route del ${prefix}: ${r.stderr.trim()}`)
  }
}
