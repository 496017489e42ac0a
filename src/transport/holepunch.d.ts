// Minimal ambient typings for the holepunch modules the router uses (hyperswarm, hyperdht, its testnet and
// the Noise secret stream they hand out). The packages ship no types. Only what src/discovery,
// src/transport and their tests call is declared, so a use of anything else is a compile error and a
// reason to look at the module's source first.

declare module '@hyperswarm/secret-stream' {
  import type { EventEmitter } from 'node:events'

  /** A Noise-encrypted duplex. Each write() is one message; message boundaries survive the trip. */
  class NoiseSecretStream extends EventEmitter {
    constructor(
      isInitiator: boolean,
      rawStream?: unknown,
      opts?: { keyPair?: { publicKey: Buffer; secretKey: Buffer }; remotePublicKey?: Uint8Array },
    )
    readonly isInitiator: boolean
    /** Our Ed25519 static key. */
    readonly publicKey: Buffer
    /** The peer's Ed25519 static key, authenticated by the Noise handshake. */
    readonly remotePublicKey: Buffer
    /** Same bytes on both ends of one connection, after the handshake. */
    readonly handshakeHash: Buffer | null
    /** The UDX stream underneath; remoteHost/remotePort are the address actually used. */
    readonly rawStream: { remoteHost?: string; remotePort?: number; remoteFamily?: number } | null
    readonly rawBytesRead: number
    readonly rawBytesWritten: number
    readonly destroyed: boolean
    readonly destroying: boolean
    readonly opened: Promise<boolean>
    write(data: Uint8Array): boolean
    /** An unordered, unreliable datagram, encrypted on its own; the peer gets it as a 'message' event. */
    trySend(data: Uint8Array): void
    end(data?: Uint8Array): void
    destroy(err?: Error): void
    setKeepAlive(ms: number): void
    setTimeout(ms: number): void
    sendKeepAlive(): void
  }
  export = NoiseSecretStream
}

declare module 'hyperdht' {
  import type { EventEmitter } from 'node:events'
  import type NoiseSecretStream from '@hyperswarm/secret-stream'

  namespace HyperDHT {
    interface KeyPair {
      publicKey: Buffer
      secretKey: Buffer
    }
    interface Address {
      host: string
      port: number
    }
    interface Options {
      /** 'host:port' strings or objects; [] = no bootstrap (a lone or first node). */
      bootstrap?: Array<string | Address>
      port?: number
      /** Address the UDP sockets bind (default 0.0.0.0). */
      host?: string
      ephemeral?: boolean
      firewalled?: boolean
      anyPort?: boolean
      keyPair?: KeyPair
      connectionKeepAlive?: number | false
    }
    interface ConnectOptions {
      keyPair?: KeyPair
      /** DHT nodes to send the handshake through first; the target's own DHT node works too. */
      relayAddresses?: Address[]
      localConnection?: boolean
    }
    interface Server extends EventEmitter {
      readonly relayAddresses: Address[]
      listen(keyPair?: KeyPair): Promise<void>
      /** Re-announce the server's key on the DHT (otherwise done every ~5 min or on network change). */
      refresh(): void
      close(): Promise<void>
    }
  }

  class HyperDHT extends EventEmitter {
    constructor(opts?: HyperDHT.Options)
    static bootstrapper(port: number, host: string, opts?: HyperDHT.Options): HyperDHT
    static keyPair(seed?: Uint8Array): HyperDHT.KeyPair
    /** Our address as the DHT sees it (NAT sampling); null until at least one node answered. */
    readonly host: string | null
    readonly port: number
    readonly online: boolean
    readonly degraded: boolean
    readonly firewalled: boolean
    readonly randomized: boolean
    readonly ephemeral: boolean
    readonly bootstrapped: boolean
    readonly destroyed: boolean
    readonly stats: {
      punches: { consistent: number; random: number; open: number }
      relaying: { attempts: number; successes: number; aborts: number }
    }
    fullyBootstrapped(): Promise<void>
    bind(): Promise<void>
    address(): (HyperDHT.Address & { family: number }) | null
    /** The DHT server socket on this machine's LAN address. */
    localAddress(): HyperDHT.Address | null
    /** host:port others can reach us on, or null while firewalled or unknown. */
    remoteAddress(): HyperDHT.Address | null
    /** Background lookup of a random node: re-contacts the bootstrap nodes when the table is empty. */
    refresh(): void
    connect(publicKey: Uint8Array, opts?: HyperDHT.ConnectOptions): NoiseSecretStream
    createServer(onconnection?: (conn: NoiseSecretStream) => void): HyperDHT.Server
    destroy(opts?: { force?: boolean }): Promise<void>
  }
  export = HyperDHT
}

declare module 'hyperdht/testnet.js' {
  import type HyperDHT from 'hyperdht'

  namespace createTestnet {
    interface Testnet {
      nodes: HyperDHT[]
      bootstrap: HyperDHT.Address[]
      createNode(opts?: HyperDHT.Options): HyperDHT
      destroy(): Promise<void>
    }
  }
  function createTestnet(
    size?: number,
    opts?: { host?: string; port?: number },
  ): Promise<createTestnet.Testnet>
  export = createTestnet
}

declare module 'hyperswarm' {
  import type { EventEmitter } from 'node:events'
  import type NoiseSecretStream from '@hyperswarm/secret-stream'
  import type HyperDHT from 'hyperdht'

  namespace Hyperswarm {
    interface PeerInfo {
      readonly publicKey: Buffer
      readonly client: boolean
      readonly banned: boolean
      readonly explicit: boolean
    }
    interface DiscoverySession {
      flushed(): Promise<boolean>
      refresh(opts?: { client?: boolean; server?: boolean }): Promise<boolean>
      destroy(): Promise<void>
    }
    interface Options {
      keyPair?: HyperDHT.KeyPair
      dht?: HyperDHT
      maxPeers?: number
    }
  }

  class Hyperswarm extends EventEmitter {
    constructor(opts?: Hyperswarm.Options)
    readonly keyPair: HyperDHT.KeyPair
    readonly dht: HyperDHT
    readonly server: HyperDHT.Server
    readonly connections: Set<NoiseSecretStream>
    readonly peers: Map<string, Hyperswarm.PeerInfo>
    readonly destroyed: boolean
    join(topic: Uint8Array, opts?: { client?: boolean; server?: boolean }): Hyperswarm.DiscoverySession
    leave(topic: Uint8Array): Promise<void>
    joinPeer(publicKey: Uint8Array): void
    leavePeer(publicKey: Uint8Array): void
    listen(): Promise<void>
    flush(): Promise<boolean>
    destroy(opts?: { force?: boolean }): Promise<void>
    on(event: 'connection', fn: (conn: NoiseSecretStream, info: Hyperswarm.PeerInfo) => void): this
    on(event: 'update', fn: () => void): this
  }
  export = Hyperswarm
}
