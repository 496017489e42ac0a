// The federation's own always-on HyperDHT nodes, run by control-plane nodes configured as bootstrap nodes,
// so a LAN of Pis with no internet still has a DHT to find each other on.
//
// A private DHT needs at least 3 always-on DHT nodes whose UDP ports are reachable (measured: with 1-2
// nodes 9 of 10 trials failed; hyperdht's NAT sampler needs answers from 3 nodes before it can classify a
// NAT). So a bootstrap node runs:
//   - DHT.bootstrapper(port, host): the well-known entry point; `host` must be the literal IPv4 address the
//     other nodes dial (it is announced, not discovered: the bootstrapper has nobody to ask);
//   - `extraNodes` persistent, non-firewalled DHT nodes on port+1 .. port+extraNodes.
// Choose extraNodes so the federation has at least 3 such nodes in total: with one bootstrap node, 2 (the
// default); with three control-plane nodes each a bootstrap node, 0 is enough. All these UDP ports must be
// open in the node's firewall.
//
// The router's own hyperswarm runs on the bootstrapper node itself (see Discovery): it is public and
// persistent already, and sharing it saves a port and a routing table.

import { isIPv4 } from 'node:net'
import type HyperDHT from 'hyperdht'
import DHT from 'hyperdht'
import { formatHostPort, type HostPort } from './addresses.js'
import { DiscoveryError } from './errors.js'

export const DEFAULT_DHT_PORT = 49737
export const DEFAULT_EXTRA_NODES = 2
export const MAX_EXTRA_NODES = 16

export interface FederationDhtNodesOptions {
  /** Literal IPv4 address the other nodes reach this machine on (announced as the bootstrapper's address). */
  host: string
  /** UDP port of the bootstrapper; the extra nodes take the ports that follow. */
  port?: number
  extraNodes?: number
  /** Address the sockets bind; default 0.0.0.0. */
  bindHost?: string
  /** The federation's other bootstrap nodes, so bootstrappers started on different machines find each other. */
  peers?: readonly HostPort[]
}

export class FederationDhtNodes {
  private closed = false

  private constructor(
    /** The bootstrapper; the router's hyperswarm runs on it. */
    readonly bootstrapper: HyperDHT,
    readonly extra: readonly HyperDHT[],
    readonly addresses: readonly HostPort[],
  ) {}

  static async start(opts: FederationDhtNodesOptions): Promise<FederationDhtNodes> {
    const port = opts.port ?? DEFAULT_DHT_PORT
    const extraNodes = opts.extraNodes ?? DEFAULT_EXTRA_NODES
    if (!isIPv4(opts.host) || opts.host === '0.0.0.0') {
      throw new DiscoveryError(
        'INVALID_OPTIONS',
        `bootstrap host must be this node's literal IPv4 address, got "${opts.host}"`,
      )
    }
    if (!Number.isInteger(extraNodes) || extraNodes < 0 || extraNodes > MAX_EXTRA_NODES) {
      throw new DiscoveryError(
        'INVALID_OPTIONS',
        `extra DHT nodes must be 0..${MAX_EXTRA_NODES}, got ${extraNodes}`,
      )
    }
    if (!Number.isInteger(port) || port < 1 || port + extraNodes > 65535) {
      throw new DiscoveryError(
        'INVALID_OPTIONS',
        `bootstrap port ${port} (+${extraNodes} extra) is out of range`,
      )
    }
    const self = `${opts.host}:${port}`
    const others = (opts.peers ?? []).map(formatHostPort).filter((a) => a !== self)
    const bind = opts.bindHost !== undefined ? { host: opts.bindHost } : {}
    const started: HyperDHT[] = []
    try {
      const boot = DHT.bootstrapper(port, opts.host, { ...bind, bootstrap: others })
      started.push(boot)
      await bound(boot, port)
      // Bound is enough to be reachable: bootstrapping (asking the other bootstrap nodes) goes on in the
      // background. Those may not be up yet — the first control-plane node of a federation starts alone — and
      // each unreachable one costs seconds of timeouts, which `federation init` and start-up must not wait for
      // (measured: init with two of three listed bootstrap nodes not yet running took over 30 s).
      for (let i = 1; i <= extraNodes; i++) {
        const node = new DHT({
          ...bind,
          bootstrap: [self, ...others],
          port: port + i,
          anyPort: false,
          ephemeral: false,
          firewalled: false,
        })
        started.push(node)
        await bound(node, port + i)
      }
      const addresses = started.map((_, i) => ({ host: opts.host, port: port + i }))
      return new FederationDhtNodes(boot, started.slice(1), addresses)
    } catch (err) {
      for (const n of started.reverse()) await destroyDht(n)
      if (err instanceof DiscoveryError) throw err
      throw new DiscoveryError(
        'BIND_FAILED',
        `cannot start the federation DHT nodes on UDP ${opts.host}:${port}+: ${String(err)}`,
        {
          cause: err,
        },
      )
    }
  }

  /** Closes the extra nodes; the bootstrapper is closed by whoever runs a swarm on it (or here, if asked). */
  async close({ bootstrapper = false } = {}): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const n of [...this.extra].reverse()) await destroyDht(n)
    if (bootstrapper) await destroyDht(this.bootstrapper)
  }
}

/**
 * Destroys a DHT node, also when its sockets never bound. Workaround for dht-rpc (hyperdht 6.34): its
 * destroy() first awaits the failed bind, rejects, and never closes the network-interface watcher it opened
 * in the constructor, a native handle that keeps the process alive forever. We close that watcher ourselves.
 */
export async function destroyDht(node: HyperDHT): Promise<void> {
  try {
    await node.destroy()
  } catch {
    const io = (node as unknown as { io?: { networkInterfaces?: { destroy?: () => void } } }).io
    try {
      io?.networkInterfaces?.destroy?.()
    } catch {
      // already closed
    }
  }
}

/** Binds and checks the port is the one asked for: hyperdht silently moves to a random port otherwise. */
async function bound(node: HyperDHT, port: number): Promise<void> {
  await node.bind()
  const got = node.address()?.port
  if (got !== port) {
    throw new DiscoveryError(
      'BIND_FAILED',
      `UDP port ${port} is in use (the DHT node bound ${got ?? 'nothing'})`,
    )
  }
}
