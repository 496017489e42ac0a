// The deterministic simulator's public surface. Protocol tests import from here only.

export { replayCommand, SimError, type SimErrorCode, SimFailure, type SimFailureCode } from './failure.js'
export {
  describeFaults,
  type FaultSpec,
  type FaultsOption,
  NO_FAULTS,
  PARTITION_KINDS,
  type PartitionKind,
  swarm,
} from './faults.js'
export { EventHeap } from './heap.js'
export { forSeeds, type RunOptions, runSim, type SeedRun, seedsToRun } from './run.js'
export { Sim } from './sim.js'
export type {
  GhostEvent,
  Invariant,
  Recorder,
  Reply,
  SimControl,
  SimOptions,
  SimStats,
  Verdict,
  Workload,
  World,
} from './types.js'
