// The seam between the control plane (Raft + registry, driven in the daemon) and what uses it: the join
// service, certificate renewal, revocation, the federation CLI, DNS's `control.<domain>` and policy sync.
// The daemon's Raft driver implements ControlPlane; users depend only on this interface, so they are tested
// against a single-replica registry in unit tests and against the real replicated one in netns tests.

import type { NodeId } from '../protocols/core/index.js'
import type {
  CommandResult,
  QueryResult,
  RegistryCommand,
  RegistryQuery,
  RegistryState,
} from '../protocols/registry/index.js'

export interface ControlPlaneStatus {
  /** This node is a Raft voter (config `cluster.control_plane` / role). */
  readonly voter: boolean
  readonly term: number
  /** The leader this node currently believes in, or null during an election / when cut off. */
  readonly leader: NodeId | null
  readonly commitIndex: number
  readonly appliedIndex: number
  /** The voters, leader first when known, then by configured priority. */
  readonly voters: readonly NodeId[]
}

/** Rejections and failures of propose/query, with stable codes for the API and CLI. */
/** TOO_LARGE was added by the Raft driver: a command over the size one Raft entry may have. */
export type ControlPlaneErrorCode = 'NO_LEADER' | 'TIMEOUT' | 'NOT_RUNNING' | 'TOO_LARGE'

export class ControlPlaneError extends Error {
  constructor(
    readonly code: ControlPlaneErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'ControlPlaneError'
  }
}

export interface ControlPlane {
  /**
   * Commits a registry command through Raft (a follower or non-voter forwards it to the leader) and resolves
   * with the registry's result once the entry is applied. Rejects with ControlPlaneError NO_LEADER / TIMEOUT.
   */
  propose(command: RegistryCommand, opts?: { timeoutMs?: number }): Promise<CommandResult>
  /** A linearizable read (ReadIndex at the leader). */
  query(query: RegistryQuery, opts?: { timeoutMs?: number }): Promise<QueryResult>
  /** This router's local copy (voter, learner or subscriber): possibly stale, never null once synced. */
  local(): RegistryState | null
  status(): ControlPlaneStatus
  /** Called after every change applied to the local copy (DNS, revocations and policies follow it). */
  onApplied(listener: (command: RegistryCommand, result: CommandResult) => void): () => void
}
