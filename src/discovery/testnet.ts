// A private HyperDHT on 127.0.0.1 for tests (hyperdht's testnet): real DHT nodes, real Noise connections.
// Nodes made here bind 127.0.0.1 (testnet.createNode does; Discovery gets bindHost from discoveryOptions()),
// so nothing listens on the machine's other interfaces and no LAN-shortcut probe leaves loopback.

import type NoiseSecretStream from '@hyperswarm/secret-stream'
import type HyperDHT from 'hyperdht'
import createTestnet from 'hyperdht/testnet.js'
import { formatHostPort } from './addresses.js'

export interface TestKeyPair {
  publicKey: Buffer
  secretKey: Buffer
}

export class LocalTestnet {
  private readonly conns = new Set<NoiseSecretStream>()

  private constructor(private readonly net: createTestnet.Testnet) {}

  /** Starts `size` persistent DHT nodes (at least 3: a private DHT needs them, see feasibility.md). */
  static async create(size = 3): Promise<LocalTestnet> {
    return new LocalTestnet(await createTestnet(Math.max(3, size), { host: '127.0.0.1' }))
  }

  /** "host:port" of the testnet's bootstrap node, for DiscoveryOptions.bootstrap. */
  get bootstrap(): string[] {
    return this.net.bootstrap.map(formatHostPort)
  }

  /** What a Discovery on this testnet needs besides its key and topic. */
  discoveryOptions(): { bootstrap: string[]; bindHost: string; port: number } {
    // Port 0 is not "random" to hyperdht (it means 49737, then random); an explicit random high port keeps
    // parallel test files from racing for 49737.
    return {
      bootstrap: this.bootstrap,
      bindHost: '127.0.0.1',
      port: 20000 + Math.floor(Math.random() * 30000),
    }
  }

  /** An ephemeral DHT node on the testnet, destroyed with it. */
  createDht(): HyperDHT {
    // createNode() adds the node to the testnet, whose destroy() closes it.
    return this.net.createNode()
  }

  /**
   * An open encrypted connection between two keys, each end on its own DHT node: [initiator end (a),
   * responder end (b)]. Connections are destroyed with the testnet.
   */
  async connectionPair(a: TestKeyPair, b: TestKeyPair): Promise<[NoiseSecretStream, NoiseSecretStream]> {
    const dhtA = this.createDht()
    const dhtB = this.createDht()
    let accept: (c: NoiseSecretStream) => void = () => {}
    const accepted = new Promise<NoiseSecretStream>((resolve) => {
      accept = resolve
    })
    const server = dhtB.createServer((conn) => {
      conn.on('error', () => {})
      this.conns.add(conn)
      accept(conn)
    })
    await server.listen(b)
    const client = dhtA.connect(b.publicKey, { keyPair: a })
    client.on('error', () => {})
    this.conns.add(client)
    await new Promise<void>((resolve, reject) => {
      client.once('open', () => resolve())
      client.once('close', () => reject(new Error('test connection closed before it opened')))
    })
    return [client, await accepted]
  }

  async destroy(): Promise<void> {
    for (const c of this.conns) c.destroy()
    await this.net.destroy()
  }
}
