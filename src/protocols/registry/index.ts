// The registry: the control plane's state, replicated by Raft. This file adapts it to Raft's StateMachine
// (bytes in, bytes out) and answers queries; the records and commands are in types.ts, their encodings in
// commands.ts / queries.ts / snapshot.ts, and the rules in state.ts.
//
//   const protocol = raft(config, registryStateMachine)
//   request: { type: 'propose', command: encodeCommand({ type: 'addCluster', cluster }) }
//   reply:   decodeResult(res.result) → { ok: true, ipv4 } | { ok: false, code: 'CLUSTER_EXISTS', message }

import { DecodeError, decodeWith, encodeWith } from '../../wire/index.js'
import type { StateMachine } from '../raft/index.js'
import { decodeCommand, encodeResult } from './commands.js'
import { queryResultCodec, registryQueryCodec } from './queries.js'
import { decodeRegistrySnapshot, encodeRegistrySnapshot } from './snapshot.js'
import { applyCommand, RegistryState, registryProblem } from './state.js'
import type { CommandResult, QueryResult, RegistryCommand, RegistryQuery } from './types.js'

export { labelsOf, REGISTRY_LIMITS } from './codec.js'
export {
  commandResultCodec,
  decodeCommand,
  decodeResult,
  encodeCommand,
  encodeResult,
  isCommandType,
  REGISTRY_COMMAND_VERSION,
  registryCommandCodec,
} from './commands.js'
export { formatIpv4, nextFreeIpv4, POOL_FIRST, POOL_LAST, parseIpv4, usableIpv4 } from './ipv4.js'
export { decodeQueryResult, encodeQuery, queryResultCodec, registryQueryCodec } from './queries.js'
export { decodeRegistrySnapshot, encodeRegistrySnapshot, registrySnapshotCodec } from './snapshot.js'
export { RegistryState, registryProblem } from './state.js'
export * from './types.js'

function byId<V extends { readonly id: string }>(values: Iterable<V>): V[] {
  return [...values].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

export class Registry implements StateMachine {
  private s = new RegistryState()

  /** Read-only access for the daemon (DNS, status) and tests; change it only through apply. */
  get state(): RegistryState {
    return this.s
  }

  /** `index` is the Raft index; the registry's rules do not depend on it. */
  apply(command: Uint8Array, _index = 0): Uint8Array {
    let cmd: RegistryCommand
    try {
      cmd = decodeCommand(command)
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err
      return encodeResult({ ok: false, code: 'UNDECODABLE', message: err.message.slice(0, 200) })
    }
    return encodeResult(this.applyCommand(cmd))
  }

  applyCommand(cmd: RegistryCommand): CommandResult {
    return applyCommand(this.s, cmd)
  }

  query(query: Uint8Array): Uint8Array {
    let q: RegistryQuery
    try {
      q = decodeWith(registryQueryCodec, query)
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err
      return encodeWith(queryResultCodec, { type: 'undecodable' })
    }
    return encodeWith(queryResultCodec, this.evaluate(q))
  }

  evaluate(q: RegistryQuery): QueryResult {
    const s = this.s
    switch (q.type) {
      case 'federation':
        return { type: 'federation', federation: s.federation }
      case 'cluster':
        return { type: 'cluster', cluster: s.clusters.get(q.id) ?? null }
      case 'clusters':
        return { type: 'clusters', clusters: byId(s.clusters.values()) }
      case 'node':
        return { type: 'node', node: s.nodes.get(q.id) ?? null }
      case 'nodes': {
        const all = byId(s.nodes.values())
        return { type: 'nodes', nodes: q.cluster === null ? all : all.filter((n) => n.cluster === q.cluster) }
      }
      case 'nodeByIpv4': {
        const id = s.ipv4.get(q.ipv4)
        return { type: 'node', node: id === undefined ? null : s.nodes.get(id)! }
      }
      case 'revoked':
        return { type: 'revoked', revocation: s.revocations.get(q.subject) ?? null }
      case 'policies':
        return {
          type: 'policies',
          policies: [...s.policies.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
        }
      case 'agent':
        return { type: 'agent', agent: s.agents.get(q.id) ?? null }
      case 'placement':
        return { type: 'placement', placement: s.placements.get(q.agent) ?? null }
      case 'summary':
        return {
          type: 'summary',
          summary: {
            clusters: s.clusters.size,
            nodes: s.nodes.size,
            agents: s.agents.size,
            placements: s.placements.size,
            policies: s.policies.size,
            revocations: s.revocations.size,
            spentNonces: s.nonces.size,
          },
        }
    }
  }

  snapshot(): Uint8Array {
    return encodeRegistrySnapshot(this.s)
  }

  /** Replaces the whole state; on bad bytes throws DecodeError and keeps the old state. */
  restore(data: Uint8Array): void {
    this.s = decodeRegistrySnapshot(data)
  }

  checkInvariants(): string | undefined {
    return registryProblem(this.s)
  }
}

export function registryStateMachine(): Registry {
  return new Registry()
}
