// The systemd-resolved configurator: per-link DNS on the mesh interface, so resolved sends the mesh zone (and
// only it: "~domain" is a routing-only domain, and the link is not a default route) to our server, and every
// other name keeps going where it went before. `resolvectl revert` puts the link back on shutdown.
//
// Note: resolved older than v253 sends per-link queries for 127.x.y.z (other than 127.0.0.1) out of the link
// itself, where they are lost (systemd issue #23010); on such systems give the node's mesh address instead.

import type { Exec } from '../os/index.js'
import { DnsError } from './errors.js'
import type { OsDnsConfigurator, OsDnsSettings } from './os.js'

const RESOLVECTL_TIMEOUT_MS = 5000

export class ResolvedConfigurator implements OsDnsConfigurator {
  readonly kind = 'systemd-resolved'
  private applied: string | null = null

  constructor(private readonly exec: Exec) {}

  async apply(s: OsDnsSettings): Promise<void> {
    if (s.servers.length === 0 || s.domains.length === 0) {
      throw new DnsError('DNS_OS_CONFIG_FAILED', 'resolved: need at least one server and one domain')
    }
    // Moving to another interface: the old one must not keep pointing at us.
    if (this.applied !== null && this.applied !== s.iface) await this.revert()
    // Marked before the first command: if a later one fails, revert() still cleans up what did get applied.
    this.applied = s.iface
    await this.resolvectl(['dns', s.iface, ...s.servers])
    await this.resolvectl(['domain', s.iface, ...s.domains.map((d) => `~${d.replace(/\.$/, '')}`)])
    await this.resolvectl(['default-route', s.iface, 'false'])
  }

  async revert(): Promise<void> {
    const iface = this.applied
    if (iface === null) return
    this.applied = null
    await this.resolvectl(['revert', iface])
  }

  private async resolvectl(args: string[]): Promise<void> {
    try {
      await this.exec.run('resolvectl', args, { timeoutMs: RESOLVECTL_TIMEOUT_MS })
    } catch (err) {
      throw new DnsError('DNS_OS_CONFIG_FAILED', `resolved: ${(err as Error).message}`, { cause: err })
    }
  }
}
