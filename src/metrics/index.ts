// Prometheus metrics for the daemon: one prom-client Registry per daemon (never the global one, so tests can
// run several daemons' layers in one process), the metric names of the federation guide, and a small HTTP
// endpoint serving /metrics on the configured address.

import http from 'node:http'
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import { busyPollStats } from '../os/busy-poll.js'

export interface DaemonMetrics {
  registry: Registry
  apiRequests: Counter<'route' | 'status'>
  apiInvalidRequests: Counter<'code'>
  info: Gauge<'version' | 'node_id' | 'cluster'>
  clustersTotal: Gauge<string>
  heapTrims: Counter<string>
  heapReleases: Counter<string>
  filePagesUnmapped: Counter<string>
}

export function createMetrics(): DaemonMetrics {
  const registry = new Registry()
  // This process's busy-poll thread (src/os/busy-poll.ts), read when scraped.
  new Counter({
    name: 'blackroad_busy_poll_seconds_total',
    help: 'CPU time the busy-poll thread spent spinning at idle priority after messages (network.busy_poll_us)',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(busyPollStats().spunSeconds)
    },
  })
  // The event-loop delay histogram samples with a timer of this period (ms). prom-client's default, 10 ms, woke
  // an idle daemon 100 times a second for it alone; at 100 ms a stalled loop still shows in the lag figures
  // (a stall delays the next sample by its length), for a tenth of the wake-ups.
  collectDefaultMetrics({ register: registry, prefix: 'blackroad_', eventLoopMonitoringPrecision: 100 })
  return {
    registry,
    apiRequests: new Counter({
      name: 'blackroad_api_requests_total',
      help: 'Local API requests by route and HTTP status',
      labelNames: ['route', 'status'],
      registers: [registry],
    }),
    apiInvalidRequests: new Counter({
      name: 'blackroad_api_invalid_requests_total',
      help: 'Local API requests refused as invalid (4xx), by error code',
      labelNames: ['code'],
      registers: [registry],
    }),
    info: new Gauge({
      name: 'blackroad_build_info',
      help: 'Always 1; labels say which daemon this is',
      labelNames: ['version', 'node_id', 'cluster'],
      registers: [registry],
    }),
    // Name from the federation guide's Monitoring section.
    clustersTotal: new Gauge({
      name: 'blackroad_federation_clusters_total',
      help: 'Total number of clusters known to this node',
      registers: [registry],
    }),
    heapTrims: new Counter({
      name: 'blackroad_heap_trims_total',
      help: 'Full heap collections the daemon ran while idle to return memory (see src/daemon/heap-trim.ts)',
      registers: [registry],
    }),
    heapReleases: new Counter({
      name: 'blackroad_heap_c_releases_total',
      help: 'Idle collections after which malloc_trim gave free pages of the C heap back to the kernel',
      registers: [registry],
    }),
    filePagesUnmapped: new Counter({
      name: 'blackroad_file_pages_unmapped_bytes_total',
      help: 'Resident bytes of read-only file mappings (node code, libraries) unmapped while idle; they map again on use',
      registers: [registry],
    }),
  }
}

export class MetricsServer {
  private server: http.Server | null = null

  constructor(
    private readonly registry: Registry,
    private readonly listen: string,
  ) {}

  async start(): Promise<{ host: string; port: number }> {
    const { host, port } = parseHostPort(this.listen)
    const server = http.createServer((req, res) => {
      if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; metrics are at /metrics\n')
        return
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      )
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => resolve())
    })
    this.server = server
    const addr = server.address()
    return { host, port: typeof addr === 'object' && addr ? addr.port : port }
  }

  async close(): Promise<void> {
    const s = this.server
    this.server = null
    if (!s) return
    s.closeAllConnections()
    await new Promise<void>((resolve) => s.close(() => resolve()))
  }
}

export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(s)
  if (!m) throw new Error(`expected host:port, got "${s}"`)
  return { host: m[1]!, port: Number(m[2]) }
}
