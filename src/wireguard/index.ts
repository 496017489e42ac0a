// The data plane: one WireGuard interface per node, configured from desired state. Import from here.

export {
  type BackendKind,
  type CreateHooks,
  detectBackend,
  KernelBackend,
  type WireGuardBackend,
} from './backend.js'
export { canonicalEndpoint, canonicalPrefix, formatAddress, parseAddress, parsePrefix } from './cidr.js'
export { type WgControl, WgTool, type WgToolOptions } from './control.js'
export {
  type DeviceOptions,
  type PeerStats,
  type ReconfigureResult,
  type UpConfig,
  WireGuardDevice,
} from './device.js'
export {
  type DesiredState,
  type NormalizedDesired,
  normalizeDesired,
  type PeerChange,
  type PeerConfig,
  planNeedsWgSet,
  planReconfigure,
  type WgPlan,
  wgSetArgs,
} from './diff.js'
export { type LiveInterface, type LivePeer, parseDump } from './dump.js'
export { DumpParseError, WireGuardError, type WireGuardErrorCode } from './errors.js'
export {
  enableForwarding,
  FORWARDING_SYSCTLS,
  type ForwardingOptions,
  restoreForwarding,
} from './forwarding.js'
export { DEFAULT_ROUTE_PROTOCOL, parseRouteJson } from './ip.js'
export { generatePrivateKey, isBase64Key, keyToBase64, publicKeyOf } from './keys.js'
export { DEFAULT_BACKOFF, type Log, Supervisor, type SupervisorOptions, silentLog } from './supervisor.js'
export { parseUapiGet, UapiControl, uapiSetRequest } from './uapi.js'
export { DEFAULT_RUN_DIR, WireGuardGoBackend, type WireGuardGoOptions } from './wireguard-go.js'
