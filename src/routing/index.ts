// The routing layer's public surface: probe metrics, signed link-state records and their database, the link
// graph, shortest paths and the WireGuard route plan. All pure; the daemon's routing driver
// owns the sockets, timers and clocks and feeds them in.

export { type Cidr, canonicalCidr, formatCidr, parseCidr } from './cidr.js'
export { RoutingError, type RoutingErrorCode } from './errors.js'
export {
  buildGraph,
  type CostModel,
  type CostOptions,
  costModel,
  DEFAULT_COST,
  graphFromEdges,
  type LinkGraph,
  linkCost,
  pathCost,
  pathRttMicros,
} from './graph.js'
export {
  DEFAULT_MAX_AGE_MS,
  DEFAULT_MAX_CLOCK_SKEW_MS,
  DEFAULT_REFRESH_INTERVAL_MS,
  LinkStateDb,
  type LinkStateDbOptions,
  type ReceiveResult,
  type ReceiveStatus,
} from './lsdb.js'
export {
  comparePaths,
  type PathResult,
  type RouteChange,
  type RouteChangeKind,
  RouteSelector,
  type RouteTable,
  shortestPaths,
} from './paths.js'
export {
  type AddressIssue,
  type AddressProblem,
  type PlanInput,
  planRoutes,
  type RouteKind,
  type RoutePlan,
  type RouteView,
  type WireguardPeerPlan,
} from './plan.js'
export {
  type LinkEvent,
  type LinkEventType,
  type LinkMetrics,
  LinkMonitor,
  type LinkMonitorOptions,
  type LinkState,
} from './probe.js'
export {
  decodeRecordBody,
  encodeRecordBody,
  isValidNodeId,
  LINK_STATE_KIND,
  type LinkReport,
  type LinkStateRecord,
  linkStateBodyCodec,
  normalizeRecord,
  openLinkState,
  SequenceAllocator,
  type SignedLinkState,
  sealLinkState,
  upPeers,
  verifyLinkState,
} from './record.js'
export { edgeTie, pathTie } from './spf.js'
