// The netns test harness: build namespaces, bridges, links and NAT routers, inject delay, loss and cuts, run
// processes and real daemons inside, and tear it all down. Tests import from here.

export { LAB_V4_RANGE, LAB_V6_RANGE, type Subnet } from './addresses.js'
export { type SweepReport, sweepStale } from './cleanup.js'
export { type CliResult, DaemonHandle, type DaemonOptions } from './daemon.js'
export { HarnessError, type HarnessErrorCode, isHarnessError } from './errors.js'
export type { ExecOptions, ExecResult } from './exec.js'
export type { DirectionState } from './faults.js'
export {
  type AttachOptions,
  type HostOptions,
  Lab,
  type LabOptions,
  type LinkOptions,
  type NatOptions,
  type TestLike,
} from './lab.js'
export {
  canPing,
  type PingOptions,
  type PingStats,
  percentile,
  ping,
  type TcpConnectOptions,
  type TcpConnectResult,
  type TcpListener,
  tcpConnect,
  tcpListen,
} from './probes.js'
export { describeExit, type ExitStatus, Proc, type SpawnOptions } from './proc.js'
export { readStat, statCpuTicks, type ThreadInfo, threadsNamed } from './procfs.js'
export {
  Bridge,
  type DelayOptions,
  type FaultOptions,
  Host,
  type HostInterface,
  Link,
  NatRouter,
} from './topology.js'
export { sleepMs, type WaitOptions, waitFor } from './wait.js'
