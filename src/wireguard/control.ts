// How the device reads and changes an interface's keys, port and peers: the WgControl boundary. `wg` (show dump /
// set) works for every backend and is the default; wireguard-go can also be spoken to directly over its UAPI
// socket (uapi.ts), which saves a process per read and per change.

import type { Exec } from '../os/exec.js'
import { type WgPlan, wgSetArgs } from './diff.js'
import { type LiveInterface, parseDump } from './dump.js'
import { withSecretFiles } from './secrets.js'

export interface WgControl {
  /** The interface's live state (what `wg show NAME dump` reports). */
  show(name: string): Promise<LiveInterface>
  /** Applies the plan's private key, listen port and peer changes in one operation, in the plan's order. */
  set(name: string, plan: WgPlan): Promise<void>
}

export interface WgToolOptions {
  exec: Exec
  netns?: string
  timeoutMs?: number
  /** Directory for the short-lived 0600 key files (default /dev/shm). */
  secretDir?: string
}

/** WgControl through the `wg` program: one process per call, secrets through 0600 files (never argv). */
export class WgTool implements WgControl {
  constructor(private readonly opts: WgToolOptions) {}

  async show(name: string): Promise<LiveInterface> {
    const r = await this.opts.exec.run('wg', ['show', name, 'dump'], this.runOpts())
    return parseDump(r.stdout)
  }

  async set(name: string, plan: WgPlan): Promise<void> {
    await withSecretFiles(
      (secretFile) => wgSetArgs(name, plan, secretFile),
      (args) => this.opts.exec.run('wg', args, this.runOpts()),
      this.opts.secretDir,
    )
  }

  private runOpts(): { netns?: string; timeoutMs?: number } {
    return {
      ...(this.opts.netns !== undefined ? { netns: this.opts.netns } : {}),
      ...(this.opts.timeoutMs !== undefined ? { timeoutMs: this.opts.timeoutMs } : {}),
    }
  }
}
