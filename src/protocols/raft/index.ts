// Raft for the control plane: a pure state machine on the protocol contract (src/protocols/core) that
// replicates any deterministic StateMachine — in the daemon, the registry. Election with pre-vote and
// check-quorum, replication, snapshots, one-at-a-time membership changes with learners, leadership transfer,
// ReadIndex reads, proposals forwarded from followers. The daemon's driver and the simulator drive it.
//
//   const store = await RaftLogStore.open(dataDir)                       (src/raftlog)
//   const protocol = raft({ bootstrapVoters }, registryStateMachine)
//   const machine = protocol.create(ctx, store.initial)
//
// Only the types, the factory and the codecs are public; the algorithm's files are internal.

import type { Machine, MachineContext, NodeId, Protocol } from '../core/index.js'
import { ProtocolError } from '../core/index.js'
import { type RaftConfig, resolveRaftConfig } from './config.js'
import { raftDurableCodec } from './durable.js'
import { RAFT_LIMITS, raftMessageCodec } from './messages.js'
import { RaftNode } from './node.js'
import type { RaftDurable, RaftTypes, StateMachine } from './types.js'

export { RAFT_DEFAULTS, RAFT_MUTATIONS, type RaftConfig, type RaftMutation } from './config.js'
export { durableProblem, initialSnapshot, membershipOf, raftDurableCodec } from './durable.js'
export { changedMembership, sameMembership } from './membership.js'
export {
  entryCodec,
  membershipCodec,
  RAFT_LIMITS,
  RAFT_WIRE_VERSION,
  raftMessageCodec,
  raftResCodec,
  snapshotCodec,
} from './messages.js'
export type * from './types.js'

/** The machine the daemon's driver holds: the contract plus a counter for bytes that did not decode. */
export interface RaftMachine<SM extends StateMachine = StateMachine> extends Machine<RaftTypes<SM>> {
  noteUndecodable(from: NodeId): void
}

export interface RaftProtocol<SM extends StateMachine = StateMachine> extends Protocol<RaftTypes<SM>> {
  create(ctx: MachineContext, durable: RaftDurable | undefined): RaftMachine<SM>
}

/**
 * Raft replicating the state machine `makeStateMachine` builds (a fresh, empty one per machine: on restart
 * it is rebuilt from the snapshot and the committed log).
 */
const utf8 = new TextEncoder()

export function raft<SM extends StateMachine>(
  config: RaftConfig,
  makeStateMachine: () => SM,
): RaftProtocol<SM> {
  const cfg = resolveRaftConfig(config)
  return {
    name: cfg.mutation === undefined ? 'raft' : `raft(${cfg.mutation})`,
    create: (ctx, durable) => {
      // Ids travel in messages and votes on disk, whose decoders cap them: a longer one could not be read back.
      for (const id of [ctx.id, ...ctx.members]) {
        if (id.length === 0 || utf8.encode(id).length > RAFT_LIMITS.nodeIdBytes) {
          throw new ProtocolError(
            'BAD_CONFIG',
            `raft node id must be 1..${RAFT_LIMITS.nodeIdBytes} bytes: ${id}`,
          )
        }
      }
      return new RaftNode(ctx, cfg, makeStateMachine(), durable)
    },
    messageCodec: raftMessageCodec,
    durableCodec: raftDurableCodec,
    persistedInput: true,
  }
}
