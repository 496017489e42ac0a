// The WireGuard backend boundary: who creates and removes the interface. Both backends leave an interface that
// `wg` and `ip` configure the same way, so everything above (the device, the diff) is backend-agnostic.
//   kernel        `ip link add NAME type wireguard`; the kernel module does the rest.
//   wireguard-go  the userspace implementation as a supervised child process (see wireguard-go.ts).
// `auto` prefers the kernel when it can really create such a link here, else wireguard-go.

import { randomBytes } from 'node:crypto'
import { access, constants } from 'node:fs/promises'
import { join } from 'node:path'
import type { Exec } from '../os/exec.js'
import type { HostAccess } from '../os/host.js'
import type { WgControl } from './control.js'
import { WireGuardError } from './errors.js'
import { deleteLink, type IpContext } from './ip.js'
import type { Log } from './supervisor.js'

export type BackendKind = 'kernel' | 'wireguard-go'

export interface BackendContext {
  exec: Exec
  /** sysctls, interfaces and kernel support without a process where the host allows (host.ts). */
  host?: HostAccess
  netns?: string
  log: Log
}

export interface CreateHooks {
  /**
   * The interface vanished and was re-created behind the device's back (wireguard-go was restarted): addresses,
   * keys, peers and routes are gone and must be applied again.
   */
  onRecreated: () => Promise<void>
}

export interface WireGuardBackend {
  readonly kind: BackendKind
  /** Creates the interface, removing a stale one of the same name first. When it resolves, `wg set` works. */
  create(name: string, hooks: CreateHooks): Promise<void>
  /** Removes the interface and whatever the backend started for it. Idempotent, best effort for each part. */
  destroy(name: string): Promise<void>
  /** Helper process id (wireguard-go), undefined for the kernel. */
  readonly pid: number | undefined
  /** A way to read and set keys and peers cheaper than running `wg`, if the backend has one. */
  readonly control?: WgControl
}

function ipCtx(ctx: BackendContext): IpContext {
  return ctx.netns === undefined ? { exec: ctx.exec } : { exec: ctx.exec, netns: ctx.netns }
}

export class KernelBackend implements WireGuardBackend {
  readonly kind = 'kernel' as const
  readonly pid = undefined
  private readonly ctx: BackendContext

  constructor(ctx: BackendContext) {
    this.ctx = ctx
  }

  async create(name: string): Promise<void> {
    if ((await this.ctx.host?.interfaceExists(name)) !== false && (await deleteLink(ipCtx(this.ctx), name))) {
      this.ctx.log.warn({ name }, 'removed a stale WireGuard interface left by an earlier run')
    }
    try {
      await this.ctx.exec.run('ip', ['link', 'add', 'dev', name, 'type', 'wireguard'], nsOpt(this.ctx))
    } catch (err) {
      throw new WireGuardError('WG_START_FAILED', `creating kernel WireGuard interface ${name} failed`, {
        cause: err,
      })
    }
  }

  async destroy(name: string): Promise<void> {
    await deleteLink(ipCtx(this.ctx), name)
  }
}

function nsOpt(ctx: BackendContext): { netns?: string } {
  return ctx.netns === undefined ? {} : { netns: ctx.netns }
}

/** A name for a throwaway probe link: unique on the machine, at most 15 characters. */
function probeName(): string {
  // 'brprb' + pid (<= 5 base36 digits) + 4 hex = at most 14.
  return `brprb${process.pid.toString(36)}${randomBytes(2).toString('hex')}`.slice(0, 15)
}

/**
 * True when `cmd` is an executable file in a directory of PATH: what running it would find, without starting a
 * process to ask (namespaces share the file system).
 */
async function installed(cmd: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir === '') continue
    try {
      await access(join(dir, cmd), constants.X_OK)
      return true
    } catch {}
  }
  return false
}

/**
 * Which backend works here. The kernel is tried for real (create and delete a probe link) because module
 * autoloading, lockdown or a container can make it fail even where the module exists.
 */
export async function detectBackend(ctx: BackendContext): Promise<BackendKind> {
  if (!(await installed('wg'))) {
    throw new WireGuardError(
      'WG_NO_BACKEND',
      '`wg` is not installed (Debian/Ubuntu: apt-get install wireguard-tools)',
    )
  }
  const kernel = await ctx.host?.kernelWireGuard()
  if (kernel === 'absent') {
    ctx.log.debug({}, 'kernel WireGuard unavailable: no wireguard module loaded, built in or installed')
    if (await installed('wireguard-go')) return 'wireguard-go'
    throw new WireGuardError(
      'WG_NO_BACKEND',
      'no WireGuard backend: the kernel has no wireguard module and wireguard-go is not installed ' +
        '(apt-get install wireguard-go, or install the wireguard kernel module)',
    )
  }
  const probe = probeName()
  const r = await ctx.exec.run('ip', ['link', 'add', 'dev', probe, 'type', 'wireguard'], {
    ...nsOpt(ctx),
    reject: false,
  })
  if (r.code === 0) {
    await deleteLink(ipCtx(ctx), probe)
    return 'kernel'
  }
  ctx.log.debug({ stderr: r.stderr.trim() }, 'kernel WireGuard unavailable')
  if (await installed('wireguard-go')) return 'wireguard-go'
  throw new WireGuardError(
    'WG_NO_BACKEND',
    `no WireGuard backend: the kernel cannot create a wireguard link (${r.stderr.trim() || `exit ${r.code}`}) and ` +
      'wireguard-go is not installed (apt-get install wireguard-go, or load the wireguard kernel module)',
  )
}
