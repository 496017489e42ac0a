// Looking at a running mesh node from outside the daemon, the way an operator would: what WireGuard really holds
// (`wg show dump` in the node's namespace, not what the daemon says it asked for) and what the daemon counts
// (its Prometheus endpoint, fetched inside the namespace). Plus the root check every mesh scenario starts with.

import type { DaemonHandle } from './daemon.js'

/** Skips the test when not root, except in CI where the netns suite must run (then it fails). */
export function requireRoot(t: { skip(msg: string): void }): boolean {
  if (process.getuid?.() === 0) return true
  if (process.env.CI === 'true') throw new Error('the netns suite must run as root in CI')
  t.skip('needs root (network namespaces)')
  return false
}

export interface WgPeer {
  publicKey: string
  endpoint: string | null
  allowedIps: string[]
  /** Unix seconds of the latest handshake, 0 for none. */
  latestHandshake: number
  rxBytes: number
  txBytes: number
}

export interface WgShow {
  publicKey: string
  listenPort: number
  peers: WgPeer[]
}

/** `wg show <iface> dump` inside the daemon's namespace, parsed. */
export async function wgShow(d: DaemonHandle): Promise<WgShow> {
  const r = await d.host.execOk(['wg', 'show', d.wgInterface, 'dump'])
  const [head, ...rest] = r.stdout.trim().split('\n')
  const h = (head ?? '').split('\t')
  const peers = rest
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const f = l.split('\t')
      return {
        publicKey: f[0] ?? '',
        endpoint: f[2] && f[2] !== '(none)' ? f[2] : null,
        allowedIps: f[3] && f[3] !== '(none)' ? f[3].split(',') : [],
        latestHandshake: Number(f[4] ?? 0),
        rxBytes: Number(f[5] ?? 0),
        txBytes: Number(f[6] ?? 0),
      }
    })
  return { publicKey: h[1] ?? '', listenPort: Number(h[2] ?? 0), peers }
}

/** The metrics listen address scenarios give their daemons (each namespace has its own loopback). */
export const METRICS_LISTEN = '127.0.0.1:9464'

const FETCH = `
const http = require('node:http')
const req = http.get(process.argv[1], { timeout: 5000 }, (res) => {
  let body = ''
  res.setEncoding('utf8')
  res.on('data', (d) => { body += d })
  res.on('end', () => { process.stdout.write(body); process.exit(res.statusCode === 200 ? 0 : 1) })
})
req.on('timeout', () => req.destroy(new Error('timeout')))
req.on('error', (e) => { console.error(e.message); process.exit(2) })
`

/** The daemon's /metrics text, fetched inside its namespace (with node: no curl needed). */
export async function fetchMetrics(d: DaemonHandle, listen = METRICS_LISTEN): Promise<string> {
  const r = await d.host.execOk([process.execPath, '-e', FETCH, `http://${listen}/metrics`], {
    timeoutMs: 15_000,
  })
  return r.stdout
}

/** The value of one sample (`name{labels}`) in Prometheus text; 0 when absent (counters start unexported). */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line)
    if (!m || m[1] !== name) continue
    const have = new Map([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]))
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) total += Number(m[3])
  }
  return total
}

/**
 * When the daemon logged a route change of `kind` ('added', 'switched', 'rerouted', 'removed') for `nodeId`, at or
 * after `since` (epoch ms): the precise time of a routing decision, which CLI polling only bounds from above.
 */
export function routeChangeLoggedAt(
  d: DaemonHandle,
  kind: string,
  nodeId: string,
  since: number,
): number | null {
  for (const line of d.proc.logText().split('\n')) {
    if (!line.includes('"routes changed"')) continue
    try {
      const e = JSON.parse(line) as { time?: string; changes?: string[] }
      const at = e.time ? Date.parse(e.time) : Number.NaN
      if (at >= since && e.changes?.includes(`${kind} ${nodeId}`)) return at
    } catch {
      // not a JSON log line
    }
  }
  return null
}
