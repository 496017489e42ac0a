// Telling the operating system's resolver where the mesh zone lives, behind one interface (as tailscale's
// net/dns does): systemd-resolved when it runs, otherwise nothing (the zone is still reachable by asking our
// server directly). The daemon picks one at start with detectOsDnsConfigurator and calls apply/revert.

import { type Exec, pathExists } from '../os/index.js'
import { ResolvedConfigurator } from './resolved.js'

export interface OsDnsSettings {
  /** The interface the mesh lives on (the WireGuard interface). */
  iface: string
  /** Our DNS server's addresses, "ip" or "ip:port" (resolvectl's syntax: IPv6 with a port in brackets). */
  servers: readonly string[]
  /** Domains routed to those servers: the mesh domain and the reverse zones of mesh addresses. */
  domains: readonly string[]
}

export interface OsDnsConfigurator {
  /** "systemd-resolved" or "none", for logs and `blackroad status`. */
  readonly kind: string
  /** Sends queries for `domains` on `iface` to `servers`; idempotent, safe to call again after a change. */
  apply(settings: OsDnsSettings): Promise<void>
  /** Undoes apply (on shutdown); a no-op when nothing was applied. */
  revert(): Promise<void>
}

/** When no resolver we know how to drive is running: the mesh zone is only answered when asked directly. */
export class NoopDnsConfigurator implements OsDnsConfigurator {
  readonly kind = 'none'

  async apply(): Promise<void> {}

  async revert(): Promise<void> {}
}

export interface DetectDeps {
  exec: Exec
  /** Whether a path exists; default fs.access. */
  exists?: (path: string) => Promise<boolean>
}

export const RESOLVED_RUNTIME_DIR = '/run/systemd/resolve/'

/** systemd-resolved if its runtime directory exists and resolvectl answers; otherwise the no-op configurator. */
export async function detectOsDnsConfigurator(deps: DetectDeps): Promise<OsDnsConfigurator> {
  const exists = deps.exists ?? pathExists
  if (!(await exists(RESOLVED_RUNTIME_DIR))) return new NoopDnsConfigurator()
  try {
    const r = await deps.exec.run('resolvectl', ['--no-pager', 'status'], { timeoutMs: 3000, reject: false })
    if (r.code !== 0) return new NoopDnsConfigurator()
  } catch {
    // resolvectl missing or hung: resolved cannot be driven, whatever the directory says.
    return new NoopDnsConfigurator()
  }
  return new ResolvedConfigurator(deps.exec)
}
