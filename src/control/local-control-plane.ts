// A single-replica ControlPlane: the registry applied in this process and persisted (snapshot, fsync,
// rename) in the state directory before a result is returned. The daemon uses it on the node that holds the
// federation root key while the federation has no Raft control plane; the Raft driver replaces it behind the
// same interface. Tests use it as the real registry without replication.

import { promises as fs } from 'node:fs'
import path from 'node:path'
import { writeFileAtomic } from '../identity/files.js'
import type { NodeId } from '../protocols/core/index.js'
import {
  type CommandResult,
  type QueryResult,
  Registry,
  type RegistryCommand,
  type RegistryQuery,
  type RegistryState,
} from '../protocols/registry/index.js'
import { type ControlPlane, ControlPlaneError, type ControlPlaneStatus } from './types.js'

export const REGISTRY_FILE = 'registry.snap'

type Listener = (command: RegistryCommand, result: CommandResult) => void

export class LocalControlPlane implements ControlPlane {
  private readonly registry = new Registry()
  private readonly listeners = new Set<Listener>()
  private index = 0
  private queue: Promise<unknown> = Promise.resolve()
  private closed = false

  /** `file` null keeps the registry in memory only (unit tests). */
  private constructor(
    private readonly nodeId: NodeId,
    private readonly file: string | null,
  ) {}

  static inMemory(nodeId: NodeId = 'local'): LocalControlPlane {
    return new LocalControlPlane(nodeId, null)
  }

  /** Opens the registry persisted in `stateDir` (an empty one if there is none yet). */
  static async open(stateDir: string, nodeId: NodeId): Promise<LocalControlPlane> {
    const cp = new LocalControlPlane(nodeId, path.join(stateDir, REGISTRY_FILE))
    try {
      cp.registry.restore(await fs.readFile(cp.file!))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    return cp
  }

  propose(command: RegistryCommand): Promise<CommandResult> {
    if (this.closed)
      return Promise.reject(new ControlPlaneError('NOT_RUNNING', 'the control plane is stopped'))
    // One command at a time, each persisted before the next is applied: the order of results is the order
    // of the log a replicated registry would have.
    const run = this.queue.then(async () => {
      const before = this.file ? this.registry.snapshot() : null
      const result = this.registry.applyCommand(command)
      if (result.ok && this.file) {
        try {
          await writeFileAtomic(this.file, this.registry.snapshot())
        } catch (err) {
          // Not durable means not committed: put the state back and fail the proposal.
          this.registry.restore(before!)
          throw new ControlPlaneError(
            'NOT_RUNNING',
            `registry could not be persisted: ${(err as Error).message}`,
          )
        }
      }
      this.index++
      for (const l of this.listeners) {
        try {
          l(command, result)
        } catch {
          // A listener's failure is its own; the command is committed regardless.
        }
      }
      return result
    })
    this.queue = run.catch(() => {})
    return run
  }

  async query(query: RegistryQuery): Promise<QueryResult> {
    await this.queue
    return this.registry.evaluate(query)
  }

  local(): RegistryState {
    return this.registry.state
  }

  status(): ControlPlaneStatus {
    return {
      voter: true,
      term: 1,
      leader: this.closed ? null : this.nodeId,
      commitIndex: this.index,
      appliedIndex: this.index,
      voters: [this.nodeId],
    }
  }

  onApplied(listener: Listener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async close(): Promise<void> {
    this.closed = true
    await this.queue
  }
}
