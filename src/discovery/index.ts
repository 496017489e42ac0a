// The discovery layer's public surface: the federation topic, the Discovery service (DHT, swarm, static
// peers, re-announce), the federation's own DHT nodes for bootstrap mode, and address parsing.

export {
  formatHostPort,
  type HostPort,
  interfaceSignature,
  localBootstrapAddress,
  parseHostPort,
  parseStaticPeer,
  type StaticPeer,
} from './addresses.js'
export {
  DEFAULT_DHT_PORT,
  DEFAULT_EXTRA_NODES,
  FederationDhtNodes,
  type FederationDhtNodesOptions,
  MAX_EXTRA_NODES,
} from './dht-nodes.js'
export {
  type ConnectionInfo,
  Discovery,
  type DiscoveryEvents,
  type DiscoveryOptions,
  type DiscoveryState,
  type DiscoveryStatus,
  type PeerConnection,
} from './discovery.js'
export { DiscoveryError, type DiscoveryErrorCode } from './errors.js'
export { deriveTopic, MIN_SECRET_BYTES, TOPIC_BYTES, TOPIC_DOMAIN } from './topic.js'
