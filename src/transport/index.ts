// The transport layer's public surface: peer links over discovery's encrypted connections (certificate
// exchange, named channels, datagrams, keepalive), the manager that keeps one link per peer, and their metrics.

export { Channel } from './channel.js'
export { LinkError, type LinkErrorCode, type LinkReason } from './errors.js'
export {
  CHANNEL_NAME,
  copyFill,
  DEFAULT_MAX_FRAME_BYTES,
  dataFrameHead,
  decodeFrame,
  encodeFrame,
  type Frame,
  FrameType,
  LINK_VERSION,
  MAX_DATAGRAM_BYTES,
  MAX_FRAME_LIMIT,
  MIN_FRAME_LIMIT,
} from './frames.js'
export { LANE_DROPPED_BY_PEER } from './lane.js'
export { PeerLink } from './link.js'
export { LinkManager, type LinkManagerEvents, type LinkManagerOptions } from './manager.js'
export { createTransportMetrics, type TransportMetrics } from './metrics.js'
export { type CertificateCheck, checkPeerCertificate, trustReason } from './trust.js'
export {
  DEFAULT_CHANNELS,
  type Link,
  type LinkChannel,
  type LinkCloseInfo,
  type LinkState,
  type LinkTimings,
  type PeerLinkEvents,
  type PeerLinkOptions,
  type RawConnection,
  type TrustOptions,
} from './types.js'
