// The hand-configured WireGuard anchor: wireguard-go (Debian, userspace) on two lab hosts, set up with `wg set`,
// `ip addr` and `ip link` exactly as ../shared/anchors/overlay-wggo.sh does (default MTU 1420, no keepalive,
// UDP 51820), overlay 10.233.0.0/24. Interface names come from the lab (unique on the machine: wireguard-go's
// UAPI sockets in /var/run/wireguard are shared by every namespace), so the lab's teardown removes them.

import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { Lab } from '../../netns-tests/lib/lab.js'
import type { Proc } from '../../netns-tests/lib/proc.js'
import type { Host } from '../../netns-tests/lib/topology.js'
import { waitFor } from '../../netns-tests/lib/wait.js'

export const WGGO_SETTINGS =
  'wireguard-go: hand-configured with wg/ip, UDP 51820, mtu 1420 (default), no keepalive'

export interface WgEnd {
  host: Host
  ifName: string
  ip: string
  keyFile: string
  publicKey: string
  proc: Proc | null
}

let seq = 0

export class WgGoPair {
  readonly ends: [WgEnd, WgEnd]

  constructor(
    private readonly lab: Lab,
    a: Host,
    b: Host,
  ) {
    const dir = path.join(lab.scratchDir, `wggo-${seq++}`)
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const end = (host: Host, i: number): WgEnd => {
      const key = execFileSync('wg', ['genkey'], { encoding: 'utf8', timeout: 10_000 }).trim()
      const publicKey = execFileSync('wg', ['pubkey'], {
        input: key,
        encoding: 'utf8',
        timeout: 10_000,
      }).trim()
      const keyFile = path.join(dir, `k${i}`)
      writeFileSync(keyFile, `${key}\n`, { mode: 0o600 })
      return { host, ifName: this.lab.ifName('g'), ip: `10.233.0.${i + 1}`, keyFile, publicKey, proc: null }
    }
    this.ends = [end(a, 0), end(b, 1)]
  }

  /** Starts both wireguard-go processes and configures them; resolves once both sides are configured. */
  async up(): Promise<void> {
    for (const e of this.ends) {
      e.proc = e.host.spawn(['wireguard-go', '-f', e.ifName], {
        logName: `wireguard-go-${e.ifName}`,
        env: { LOG_LEVEL: 'error' },
      })
    }
    for (const e of this.ends) {
      await waitFor(
        () => {
          if (!e.proc!.alive) throw new Error(`wireguard-go exited: ${e.proc!.logText().slice(-500)}`)
          return existsSync(`/var/run/wireguard/${e.ifName}.sock`)
        },
        { timeoutMs: 10_000, intervalMs: 20, what: `wireguard-go ${e.ifName} socket` },
      )
    }
    const [a, b] = this.ends
    await Promise.all([this.configure(a, b), this.configure(b, a)])
  }

  private async configure(me: WgEnd, peer: WgEnd): Promise<void> {
    await me.host.execOk([
      'wg',
      'set',
      me.ifName,
      'private-key',
      me.keyFile,
      'listen-port',
      '51820',
      'peer',
      peer.publicKey,
      'endpoint',
      `${peer.host.addr()}:51820`,
      'allowed-ips',
      `${peer.ip}/32`,
    ])
    await me.host.execOk(['ip', 'addr', 'add', `${me.ip}/24`, 'dev', me.ifName])
    await me.host.execOk(['ip', 'link', 'set', me.ifName, 'up'])
  }

  async down(): Promise<void> {
    await Promise.all(
      this.ends.map(async (e) => {
        await e.proc?.stop(5_000)
        e.proc = null
      }),
    )
  }
}
