// Narrow adapters between the daemon and the operating system. Layers above import from here, never from execa or
// /proc directly, so each can be replaced by a fake in tests.

export {
  DEFAULT_TIMEOUT_MS,
  type Exec,
  ExecError,
  type ExecErrorCode,
  type ExitInfo,
  formatCommand,
  type RunOptions,
  type RunResult,
  run,
  type SpawnedProcess,
  type SpawnOptions,
  spawn,
  systemExec,
} from './exec.js'
export { pathExists } from './fs.js'
export {
  commandHost,
  type HostAccess,
  type KernelWireGuard,
  procHost,
} from './host.js'
export {
  ADDON_FILE,
  type NativeAddon,
  nativeAddon,
  nativeProblem,
  packageRoot,
  type UdpHandle,
} from './native.js'
export {
  CAP_NET_ADMIN,
  CAP_NET_BIND_SERVICE,
  effectiveCapabilities,
  hasCapability,
  missingRouterPrivileges,
  type PrivilegeProblem,
} from './privileges.js'
export { type NotifierLog, SystemdNotifier } from './sd-notify.js'
