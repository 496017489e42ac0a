// Runs one Raft seed in the simulator: a cluster of voters (plus spare nodes for membership changes), a
// client workload of proposals, reads, leadership transfers and membership changes (and, on request,
// failure-detector hints) throughout the faulty phase, every safety check after every step, then a liveness phase (TigerBeetle's VOPR): faults stop,
// the network heals, crashed nodes restart, and within a bound a leader must commit a new proposal that
// every member applies, with no client request left unanswered.

import type { NodeId } from '../../src/protocols/core/index.js'
import { SeededRng } from '../../src/protocols/core/index.js'
import {
  type MembershipChange,
  type RaftConfig,
  type RaftMutation,
  type RaftReq,
  type RaftTypes,
  type RaftView,
  raft,
  type StateMachine,
} from '../../src/protocols/raft/index.js'
import type { Registry } from '../../src/protocols/registry/index.js'
import { type FaultSpec, Sim, type SimStats, swarm } from './lib/index.js'
import { type RaftGhost, raftGhost, raftInvariants, recordRaft } from './raft-checks.js'
import { registryApp } from './raft-registry-app.js'

/** etcd's ratios (heartbeat : election min : max = 1 : 10 : 20) on a faster clock, so a seed is cheap. */
export const SIM_RAFT = {
  heartbeatMs: 20,
  electionMinMs: 200,
  electionMaxMs: 400,
  requestTimeoutMs: 2000,
  // Small, so snapshots, compaction and InstallSnapshot happen in most seeds.
  snapshotEntries: 24,
  // Small, so old-term entries travel apart from the new leader's no-op (the Fig. 8 interleaving).
  maxEntriesPerAppend: 3,
} as const satisfies RaftConfig

/** What a workload proposes: a fresh command per call, and the state machine that applies it. */
export interface Application<SM extends StateMachine> {
  readonly make: () => SM
  readonly command: (rng: SeededRng, seq: number, ids: readonly NodeId[]) => Uint8Array
  readonly query: (rng: SeededRng) => Uint8Array
  /** Checked after every apply on the node that applied (e.g. the registry's own invariants). */
  readonly check?: (sm: SM) => string | undefined
}

export interface RaftSeedOptions<SM extends StateMachine> {
  readonly seed: number
  readonly voters: number
  /** Extra nodes outside the bootstrap membership, for membership changes. */
  readonly spares?: number
  readonly app: Application<SM>
  readonly durationMs: number
  /** Mean ms between client requests. */
  readonly requestEveryMs: number
  readonly mutation?: RaftMutation
  readonly membershipChanges?: boolean
  /** Also hand nodes peerUnreachable hints about random peers (mostly wrong ones). */
  readonly hints?: boolean
  readonly liveness?: boolean
  readonly faults?: (rng: SeededRng) => FaultSpec
  readonly testName?: string
}

export interface RaftSeedResult {
  readonly stats: SimStats
  readonly ghost: RaftGhost
}

export function runRaftSeed<SM extends StateMachine>(opts: RaftSeedOptions<SM>): RaftSeedResult {
  const cfg = { ...SIM_RAFT, mutation: opts.mutation }
  const ids = Array.from({ length: opts.voters + (opts.spares ?? 0) }, (_, i) => `n${i + 1}`)
  const voters = ids.slice(0, opts.voters)
  const protocol = raft({ ...cfg, bootstrapVoters: voters }, opts.app.make)
  const ghost = raftGhost()
  if (!opts.membershipChanges) ghost.staticVoters = voters
  const app = opts.app
  if (app.check) {
    const check = app.check
    ghost.onApply = (world, node) => {
      const v = world.view(node) as RaftView<SM> | undefined
      return v === undefined ? undefined : check(v.stateMachine)
    }
  }
  let phase: 'faults' | 'liveness' = 'faults'
  let seq = 0
  let marker: { node: NodeId; id: number } | undefined
  let markerDone = false
  // Fault rates vary per seed around the election timeout: storms of elections in some seeds, calm in others.
  const draw = new SeededRng(opts.seed ^ 0x5eed)
  const unit = cfg.electionMinMs * draw.pick([0.25, 0.5, 1, 2])
  // A fault family of our own, swarm style: on in half the seeds, rates drawn from the seed.
  const leaderFaults = draw.chance(0.5)
    ? { every: cfg.electionMaxMs * draw.between(1, 5), duration: cfg.electionMaxMs * draw.between(0.5, 3) }
    : undefined
  const sim = new Sim<RaftTypes, RaftGhost>({
    seed: opts.seed,
    nodes: ids,
    protocol,
    faults: opts.faults ?? swarm({ unit }),
    ghost,
    record: recordRaft,
    invariants: raftInvariants,
    testName: opts.testName,
    // RAFT_TRACE=2000 shows more events before a failure when replaying a seed.
    traceSize: Number(process.env.RAFT_TRACE ?? 40),
    workload: {
      start(s) {
        const tick = (): void => {
          if (phase !== 'faults') return
          clientRequest(s.rng)
          s.at(s.now + 1 + s.rng.exponential(opts.requestEveryMs), tick)
        }
        const clientRequest = (rng: SeededRng): void => {
          const node = rng.pick(ids)
          const p = rng.next()
          let req: RaftReq
          if (p < 0.6) req = { type: 'propose', command: app.command(rng, ++seq, ids) }
          else if (p < 0.9) req = { type: 'read', query: app.query(rng) }
          else if (p < 0.93) req = { type: 'transferLeadership', to: rng.pick(ids) }
          else if (p < 0.97 && opts.membershipChanges) {
            // A client that followed the NOT_LEADER hint: membership changes go to the leader.
            const leader = ids.find((id) => s.view(id)?.role === 'leader')
            s.request(leader ?? node, { type: 'changeMembership', change: change(rng) })
            return
          } else if (p < 0.985 && opts.hints) {
            // A failure detector's hint, right or (mostly) wrong: must never cost safety.
            req = { type: 'peerUnreachable', node: rng.pick(ids) }
          } else req = { type: 'status' }
          s.request(node, req)
        }
        // Jepsen's partition-leader: hand the leader a proposal, then cut it off before its appends land,
        // so it keeps an entry nobody else has — the divergent suffixes that Fig. 8 is made of.
        const isolateLeader = (): void => {
          if (phase !== 'faults' || !leaderFaults) return
          const leader = ids.find((id) => s.view(id)?.role === 'leader' && !s.isPaused(id))
          if (leader !== undefined) {
            s.request(leader, { type: 'propose', command: app.command(s.rng, ++seq, ids) })
            s.at(s.now, () => s.isolate(leader))
            s.at(s.now + 1 + s.rng.exponential(leaderFaults.duration), () => {
              if (phase === 'faults') s.heal()
            })
          }
          s.at(s.now + 1 + s.rng.exponential(leaderFaults.every), isolateLeader)
        }
        const change = (rng: SeededRng): MembershipChange => {
          const node = rng.pick(ids)
          const type = rng.pick(['addLearner', 'addVoter', 'remove'] as const)
          return { type, node }
        }
        s.at(1, tick)
        if (leaderFaults) s.at(s.now + s.rng.exponential(leaderFaults.every), isolateLeader)
      },
      onReply(s, reply) {
        if (marker === undefined || reply.node !== marker.node || reply.id !== marker.id) return
        if (reply.res.ok) markerDone = true
        else {
          // No leader yet, or it moved: ask someone else a little later, as a client would.
          const node = s.rng.pick(ids)
          s.at(s.now + 20, () => {
            marker = {
              node,
              id: s.request(node, { type: 'propose', command: app.command(s.rng, ++seq, ids) }),
            }
          })
        }
      },
      onRequestFailed(s, failed) {
        if (marker === undefined || failed.node !== marker.node || failed.id !== marker.id) return
        marker = {
          node: ids[0]!,
          id: s.request(ids[0]!, { type: 'propose', command: app.command(s.rng, ++seq, ids) }),
        }
      },
    },
  })
  sim.runUntil(() => false, opts.durationMs)
  if (opts.liveness !== false) {
    phase = 'liveness'
    sim.stabilize()
    const since = sim.now
    const first = new SeededRng(opts.seed).pick(ids)
    marker = {
      node: first,
      id: sim.request(first, { type: 'propose', command: app.command(sim.rng, ++seq, ids) }),
    }
    const bound = Math.max(10 * cfg.electionMaxMs, 2 * cfg.requestTimeoutMs)
    const live = (): boolean => markerDone && converged(sim, ghost)
    if (!sim.runUntil(live, since + bound)) {
      sim.fail(
        'SIM_LIVENESS',
        `no converged leader with the marker proposal applied within ${bound}ms of stabilizing at t=${since} (marker ${markerDone ? 'applied' : 'pending'}; ${livenessPicture(sim, ghost)})`,
      )
    }
  }
  if (opts.liveness !== false) {
    sameState(sim)
    if (ghost.acknowledged.size > 0) {
      const lost = [...ghost.acknowledged.keys()].join(',')
      sim.fail(
        'SIM_INVARIANT',
        `Acknowledged write lost: indexes ${lost} were answered as applied, nobody applied them`,
      )
    }
  }
  return { stats: sim.result(), ghost }
}

/** After convergence every member applied the same log, so their state machines must be byte-identical. */
function sameState(sim: Sim<RaftTypes, RaftGhost>): void {
  const leader = sim.ids.map((id) => sim.view(id)).find((v) => v?.role === 'leader')
  if (leader === undefined) return
  const m = leader.membership
  const reference = leader.stateMachine.snapshot()
  for (const id of [...m.voters, ...m.learners]) {
    const v = sim.view(id)
    if (v === undefined || v.id === leader.id) continue
    if (v.applied !== leader.applied)
      sim.fail('SIM_INVARIANT', `${id} applied ${v.applied}, leader ${leader.applied}`)
    if (Buffer.compare(Buffer.from(reference), Buffer.from(v.stateMachine.snapshot())) !== 0) {
      sim.fail(
        'SIM_INVARIANT',
        `State Machine Safety: ${leader.id} and ${id} applied the same log but their states differ`,
      )
    }
  }
}

/** One leader whose term has a committed entry, every member applied all of its log, no request pending. */
function converged(sim: Sim<RaftTypes, RaftGhost>, ghost: RaftGhost): boolean {
  if (ghost.outstanding.size > 0) return false
  let leader: RaftView | undefined
  for (const id of sim.ids) {
    const v = sim.view(id)
    if (v?.role === 'leader') {
      if (leader !== undefined) return false
      leader = v
    }
  }
  if (leader === undefined || leader.termAt(leader.commit) !== leader.term) return false
  if (leader.commit !== leader.lastIndex) return false
  const m = leader.membership
  for (const id of [...m.voters, ...m.learners]) {
    const v = sim.view(id)
    if (v === undefined || v.applied !== leader.commit) return false
  }
  return true
}

function livenessPicture(sim: Sim<RaftTypes, RaftGhost>, ghost: RaftGhost): string {
  const nodes = sim.ids.map((id) => {
    const v = sim.view(id)
    return v === undefined
      ? `${id} down`
      : `${id} ${v.role} t${v.term} commit ${v.commit}/${v.lastIndex} applied ${v.applied} voters [${v.membership.voters.join(',')}]`
  })
  return `${nodes.join('; ')}; outstanding requests ${ghost.outstanding.size}`
}

/** A cheap state machine for Raft-only runs: a count and a running hash of every command applied. */
export function counterApp(): Application<StateMachine> {
  return {
    make: () => {
      let count = 0
      let hash = 0x811c9dc5
      const bytes = (): Uint8Array => {
        const out = new Uint8Array(8)
        new DataView(out.buffer).setUint32(0, count)
        new DataView(out.buffer).setUint32(4, hash >>> 0)
        return out
      }
      return {
        apply(command) {
          count++
          for (const b of command) hash = Math.imul(hash ^ b, 0x01000193)
          return bytes()
        },
        query: () => bytes(),
        snapshot: () => bytes(),
        restore(data) {
          if (data.length !== 8) throw new Error(`counter snapshot of ${data.length} bytes`)
          const dv = new DataView(data.buffer, data.byteOffset, data.byteLength)
          count = dv.getUint32(0)
          hash = dv.getUint32(4)
        },
      }
    },
    command: (rng, seq) => {
      const out = new Uint8Array(4 + rng.int(0, 12))
      new DataView(out.buffer).setUint32(0, seq)
      for (let i = 4; i < out.length; i++) out[i] = rng.int(0, 255)
      return out
    },
    query: () => new Uint8Array(0),
  }
}

/** Virtual ms of faults per seed: 75 mean election timeouts, 750 heartbeats. */
export const SAFETY_DURATION_MS = 15_000
/** Mean ms between client requests: ~375 per seed, ~225 of them proposals. */
export const SAFETY_REQUEST_EVERY_MS = 40

/**
 * The run the safety, teeth and regression tests give a seed, so a seed means the same everywhere:
 * 3 voters in 40% of seeds, 5 in the rest, the registry as the application.
 */
export function safetyRun(seed: number, extra: Partial<RaftSeedOptions<Registry>> = {}): RaftSeedResult {
  return runRaftSeed({
    seed,
    voters: seed % 5 < 2 ? 3 : 5,
    app: registryApp(),
    durationMs: SAFETY_DURATION_MS,
    requestEveryMs: SAFETY_REQUEST_EVERY_MS,
    ...extra,
  })
}

/** The run raft-membership gives a seed: three bootstrap voters, two spares, membership changes. */
export function membershipRun(seed: number, extra: Partial<RaftSeedOptions<Registry>> = {}): RaftSeedResult {
  return runRaftSeed({
    seed,
    voters: 3,
    spares: 2,
    app: registryApp(),
    durationMs: SAFETY_DURATION_MS,
    requestEveryMs: SAFETY_REQUEST_EVERY_MS,
    membershipChanges: true,
    ...extra,
  })
}
