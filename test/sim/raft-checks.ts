// Raft's safety properties (the paper's Fig. 3, plus durability and read linearizability) as the
// simulator's ghost recorder and invariants. The ghost only believes what it observed: persisted states,
// messages sent, entries applied, requests and replies; the machines' views are consulted for roles and
// logs, never for verdicts about themselves. Checks are incremental so they can run after every step.
//
//   Election Safety     at most one node sends leader messages / holds the leader role per term
//   Leader Append-Only  while a node leads a term, its log only grows (no entry changed or removed)
//   Log Matching        every (index, term) ever persisted anywhere has one content and one predecessor term
//   Leader Completeness a newly elected leader holds every entry committed in an earlier term
//   State Machine Safety every node applies the same entry at each index, in order, without gaps
//   Durability          persisted term never decreases, vote never changes within a term, a vote grant or an
//                       append acknowledgement never leaves before what it promises is persisted (for a vote:
//                       the vote itself, or a later term)
//   Reads               a read reflects every entry applied anywhere before the read was asked
//   Acknowledged writes an acknowledged proposal is the entry applied at the index it was answered with
//   Committed is safe   no node lacking a committed entry has a log at least as up to date as a majority's
//                       persisted logs (so no election can ever overwrite it; the invariant behind §5.4.2)

import type { NodeId } from '../../src/protocols/core/index.js'
import type { Entry, RaftDurable, RaftTypes, RaftView, StateMachine } from '../../src/protocols/raft/index.js'
import type { GhostEvent, World } from './lib/index.js'

type W = World<RaftTypes, RaftGhost>

interface Seen {
  readonly prevTerm: number
  readonly entry: Entry
}

export interface RaftGhost {
  readonly leaderOf: Map<number, NodeId>
  /** Node → the term it leads and its log end when last checked. */
  readonly leading: Map<NodeId, { term: number; lastIndex: number; lastTerm: number }>
  /** index → term → the entry and its predecessor's term, for Log Matching. */
  readonly seen: Map<number, Map<number, Seen>>
  readonly persisted: Map<NodeId, RaftDurable>
  /** node → term → whom it granted its vote (observed in sends). */
  readonly votes: Map<NodeId, Map<number, NodeId>>
  /** The entry applied at each index, by whoever applied it first. */
  readonly applied: Entry[]
  /**
   * An upper bound on the term each applied index was committed in: the lowest current term of a node
   * applying it. Leader Completeness binds the leaders of later terms only.
   */
  readonly committedBy: number[]
  /** What the state machine answered for each applied index, by whoever applied it first. */
  readonly results: Uint8Array[]
  maxApplied: number
  readonly appliedBy: Map<NodeId, number>
  /** `${node}:${requestId}` → the highest index applied anywhere when the read was asked. */
  readonly readFloor: Map<string, number>
  /** What each outstanding proposal asked to append (the command, or 'config' for a membership change). */
  readonly proposed: Map<string, Uint8Array | 'config'>
  /** Acknowledged proposals whose index nobody has been seen applying yet, by index. */
  readonly acknowledged: Map<number, Uint8Array | 'config'>
  /** Outstanding requests by `${node}:${requestId}`, with the time asked. */
  readonly outstanding: Map<string, number>
  /**
   * The voters, when membership never changes in the run: enables the committed-entry check, which needs
   * to know who votes.
   */
  staticVoters?: readonly NodeId[]
  /** Called after a node applies an entry (registry invariants hook in here). */
  onApply?: (world: W, node: NodeId) => string | undefined
  counts: {
    reads: number
    readsOk: number
    proposals: number
    proposalsOk: number
    elections: number
    /** Snapshots restored into a state machine (installed from a leader, or loaded at restart). */
    restores: number
  }
}

export function raftGhost(): RaftGhost {
  return {
    leaderOf: new Map(),
    leading: new Map(),
    seen: new Map(),
    persisted: new Map(),
    votes: new Map(),
    applied: [],
    committedBy: [],
    results: [],
    maxApplied: 0,
    appliedBy: new Map(),
    readFloor: new Map(),
    proposed: new Map(),
    acknowledged: new Map(),
    outstanding: new Map(),
    counts: { reads: 0, readsOk: 0, proposals: 0, proposalsOk: 0, elections: 0, restores: 0 },
  }
}

function sameEntry(a: Entry, b: Entry): boolean {
  if (a === b) return true
  if (a.index !== b.index || a.term !== b.term || a.kind !== b.kind) return false
  if (a.kind === 'command' && b.kind === 'command') {
    if (a.data.length !== b.data.length) return false
    for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false
    return true
  }
  if (a.kind === 'config' && b.kind === 'config') {
    return JSON.stringify(a.config) === JSON.stringify(b.config)
  }
  return true
}

function claimLeadership(g: RaftGhost, term: number, node: NodeId, how: string): string | undefined {
  const other = g.leaderOf.get(term)
  if (other === undefined) {
    g.leaderOf.set(term, node)
    g.counts.elections++
    return undefined
  }
  if (other !== node) return `Election Safety: ${node} ${how} in term ${term}, whose leader is ${other}`
  return undefined
}

function checkPersist(g: RaftGhost, node: NodeId, d: RaftDurable): string | undefined {
  const prev = g.persisted.get(node)
  if (prev !== undefined) {
    if (d.term < prev.term) return `Durability: ${node} persisted term ${d.term} after ${prev.term}`
    if (d.term === prev.term && prev.vote !== null && d.vote !== prev.vote) {
      return `Durability: ${node} changed its vote in term ${d.term} from ${prev.vote} to ${d.vote}`
    }
  }
  // Log Matching, by induction: if each (index, term) has one predecessor term and one content
  // everywhere, any two logs agreeing at (index, term) agree on every entry before it.
  let prevTerm = d.snapshot.term
  for (const e of d.entries) {
    let byTerm = g.seen.get(e.index)
    if (byTerm === undefined) {
      byTerm = new Map()
      g.seen.set(e.index, byTerm)
    }
    const s = byTerm.get(e.term)
    if (s === undefined) byTerm.set(e.term, { prevTerm, entry: e })
    else if (s.prevTerm !== prevTerm || !sameEntry(s.entry, e)) {
      return `Log Matching: ${node} persisted (${e.index}, ${e.term}) differing from another copy (predecessor term ${prevTerm} vs ${s.prevTerm})`
    }
    prevTerm = e.term
  }
  const snap = d.snapshot
  const a = snap.index > 0 ? g.applied[snap.index] : undefined
  if (a !== undefined && a.term !== snap.term) {
    return `State Machine Safety: ${node} snapshot (${snap.index}, ${snap.term}) but entry ${snap.index} applied with term ${a.term}`
  }
  g.persisted.set(node, d)
  return undefined
}

function lastPersistedIndex(d: RaftDurable | undefined): number {
  return d === undefined ? 0 : d.snapshot.index + d.entries.length
}

function onSend(g: RaftGhost, node: NodeId, to: NodeId, msg: RaftTypes['Msg']): string | undefined {
  const d = g.persisted.get(node)
  switch (msg.type) {
    case 'append':
    case 'heartbeat':
    case 'snapshot':
    case 'timeoutNow':
      return claimLeadership(g, msg.term, node, `sent ${msg.type}`)
    case 'voteResp': {
      if (!msg.granted) return undefined
      let mine = g.votes.get(node)
      if (mine === undefined) {
        mine = new Map()
        g.votes.set(node, mine)
      }
      const before = mine.get(msg.term)
      if (before !== undefined && before !== to) {
        return `Election Safety: ${node} voted twice in term ${msg.term} (${before}, then ${to})`
      }
      mine.set(msg.term, to)
      // Durable: this vote, or a later term (a group commit may write a newer state in place of the one that
      // held the vote; a node whose durable term moved past msg.term can never vote in that term again).
      if (d === undefined || d.term < msg.term || (d.term === msg.term && d.vote !== to)) {
        return `Durability: ${node} granted its term-${msg.term} vote to ${to} before persisting it (persisted: term ${d?.term}, vote ${d?.vote})`
      }
      return undefined
    }
    case 'appendResp':
      if (msg.success && lastPersistedIndex(d) < msg.index) {
        return `Durability: ${node} acknowledged index ${msg.index} but has persisted only up to ${lastPersistedIndex(d)}`
      }
      return undefined
    default:
      return undefined
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** An acknowledged proposal must be exactly the entry applied at the index its reply named. */
function ackedMatches(
  node: NodeId,
  index: number,
  proposed: Uint8Array | 'config',
  e: Entry,
): string | undefined {
  const ok = proposed === 'config' ? e.kind === 'config' : e.kind === 'command' && sameBytes(e.data, proposed)
  if (ok) return undefined
  return `Acknowledged write lost: ${node} answered a proposal as applied at index ${index}, where ${e.kind} (term ${e.term}) was applied`
}

function onApplied(g: RaftGhost, node: NodeId, e: Entry, result: Uint8Array, world: W): string | undefined {
  const before = g.appliedBy.get(node) ?? 0
  if (e.index !== before + 1) {
    return `State Machine Safety: ${node} applied index ${e.index} after ${before}`
  }
  g.appliedBy.set(node, e.index)
  const first = g.applied[e.index]
  const term = world.view(node)?.term ?? Number.POSITIVE_INFINITY
  if (first === undefined) {
    const acked = g.acknowledged.get(e.index)
    if (acked !== undefined) {
      g.acknowledged.delete(e.index)
      const problem = ackedMatches(node, e.index, acked, e)
      if (problem) return problem
    }
    g.applied[e.index] = e
    g.results[e.index] = result
    g.committedBy[e.index] = term
    if (e.index > g.maxApplied) g.maxApplied = e.index
  } else if (!sameEntry(first, e)) {
    return `State Machine Safety: ${node} applied (${e.index}, ${e.term}, ${e.kind}) where another node applied (${first.index}, ${first.term}, ${first.kind})`
  } else if (!sameBytes(g.results[e.index]!, result)) {
    return `State Machine Safety: ${node} got a different result applying entry ${e.index} than another node (apply is not deterministic)`
  } else if (term < g.committedBy[e.index]!) g.committedBy[e.index] = term
  return g.onApply?.(world, node)
}

/** Whether a persisted log holds the entry applied at `index`. */
function holds(d: RaftDurable | undefined, index: number, term: number): boolean {
  if (d === undefined) return index === 0
  if (index <= d.snapshot.index) return true
  return d.entries[index - d.snapshot.index - 1]?.term === term
}

/**
 * Raft's commitment rule exists so that a committed entry can never be voted out: every node lacking it
 * must be behind a majority's logs. Checked on persisted logs, which are what votes are decided on after
 * any crash. Violated by counting replicas of an earlier term's entry (Fig. 8) the moment it happens,
 * long before an unlucky election would overwrite the entry.
 */
function committedIsSafe(g: RaftGhost): string | undefined {
  const voters = g.staticVoters
  const m = g.maxApplied
  if (voters === undefined || m === 0) return undefined
  const term = g.applied[m]!.term
  const last = voters.map((id) => {
    const d = g.persisted.get(id)
    const lastIndex = d === undefined ? 0 : d.snapshot.index + d.entries.length
    const lastTerm = d === undefined ? 0 : (d.entries[d.entries.length - 1]?.term ?? d.snapshot.term)
    return { id, lastIndex, lastTerm, holds: holds(d, m, term) }
  })
  const quorum = Math.floor(voters.length / 2) + 1
  for (const x of last) {
    if (x.holds) continue
    const wouldVote = last.filter(
      (y) => y.lastTerm < x.lastTerm || (y.lastTerm === x.lastTerm && y.lastIndex <= x.lastIndex),
    )
    if (wouldVote.length >= quorum) {
      return `Committed entry unsafe: (${m}, ${term}) was applied, but ${x.id} (last ${x.lastIndex}/${x.lastTerm}) lacks it and could be elected by ${wouldVote.map((y) => y.id).join(',')}`
    }
  }
  return undefined
}

export function recordRaft(g: RaftGhost, ev: GhostEvent<RaftTypes>, world: W): string | undefined {
  switch (ev.kind) {
    case 'start':
      g.appliedBy.set(ev.node, 0)
      g.leading.delete(ev.node)
      return undefined
    case 'crash':
      g.leading.delete(ev.node)
      for (const key of [...g.outstanding.keys()]) {
        if (key.startsWith(`${ev.node}:`)) {
          g.outstanding.delete(key)
          g.proposed.delete(key)
          g.readFloor.delete(key)
        }
      }
      return undefined
    case 'input': {
      const input = ev.input
      if (input.type !== 'request') return undefined
      const key = `${ev.node}:${input.id}`
      g.outstanding.set(key, world.now)
      if (input.req.type === 'read') {
        g.readFloor.set(key, g.maxApplied)
        g.counts.reads++
      } else if (input.req.type === 'propose') {
        g.counts.proposals++
        g.proposed.set(key, input.req.command)
      } else if (input.req.type === 'changeMembership') g.proposed.set(key, 'config')
      return undefined
    }
    case 'output': {
      const o = ev.output
      switch (o.type) {
        case 'persist':
          return checkPersist(g, ev.node, o.state) ?? committedIsSafe(g)
        case 'send':
          return onSend(g, ev.node, o.to, o.msg)
        case 'effect': {
          const eff = o.effect
          if (eff.type === 'applied') {
            return onApplied(g, ev.node, eff.entry, eff.result, world) ?? committedIsSafe(g)
          }
          if (eff.type === 'restored') {
            const a = g.applied[eff.index]
            if (a !== undefined && a.term !== eff.term) {
              return `State Machine Safety: ${ev.node} restored snapshot (${eff.index}, ${eff.term}) but that index applied with term ${a.term}`
            }
            g.appliedBy.set(ev.node, eff.index)
            g.counts.restores++
          }
          return undefined
        }
        case 'reply': {
          const key = `${ev.node}:${o.id}`
          g.outstanding.delete(key)
          const res = o.res
          const floor = g.readFloor.get(key)
          g.readFloor.delete(key)
          if (res.ok && res.type === 'read') {
            g.counts.readsOk++
            if (floor !== undefined && res.index < floor) {
              return `Linearizability: ${ev.node} answered read ${o.id} at index ${res.index}, but index ${floor} was applied before it was asked`
            }
          }
          const proposed = g.proposed.get(key)
          g.proposed.delete(key)
          if (res.ok && res.type === 'applied' && proposed !== undefined) {
            if (proposed !== 'config') g.counts.proposalsOk++
            // The applier may have crashed before its own 'applied' effect was recorded; then the check
            // waits for the first node that records applying this index.
            const a = g.applied[res.index]
            if (a === undefined) g.acknowledged.set(res.index, proposed)
            else return ackedMatches(ev.node, res.index, proposed, a)
          }
          return undefined
        }
        default:
          return undefined
      }
    }
  }
}

/** State invariants after every step: roles, leader append-only, leader completeness, index order. */
export function raftInvariants(world: W): string | undefined {
  const g = world.ghost
  for (const id of world.ids) {
    const v = world.view(id) as RaftView<StateMachine> | undefined
    if (v === undefined) continue
    if (!(v.applied <= v.commit && v.commit <= v.lastIndex && v.snapshotIndex <= v.applied)) {
      return `${id}: indexes out of order: snapshot ${v.snapshotIndex} applied ${v.applied} commit ${v.commit} last ${v.lastIndex}`
    }
    if (v.role !== 'leader') {
      g.leading.delete(id)
      continue
    }
    const was = g.leading.get(id)
    if (was !== undefined && was.term === v.term) {
      if (v.lastIndex < was.lastIndex) {
        return `Leader Append-Only: ${id} (term ${v.term}) log shrank from ${was.lastIndex} to ${v.lastIndex}`
      }
      const t = v.termAt(was.lastIndex)
      if (was.lastIndex >= v.snapshotIndex && t !== was.lastTerm) {
        return `Leader Append-Only: ${id} (term ${v.term}) changed entry ${was.lastIndex} from term ${was.lastTerm} to ${t}`
      }
    } else {
      const claim = claimLeadership(g, v.term, id, 'is leader')
      if (claim) return claim
      const missing = completenessProblem(g, v)
      if (missing) return missing
    }
    g.leading.set(id, { term: v.term, lastIndex: v.lastIndex, lastTerm: v.lastTerm })
  }
  return undefined
}

function completenessProblem(g: RaftGhost, v: RaftView<StateMachine>): string | undefined {
  for (let i = Math.max(1, v.snapshotIndex); i <= g.maxApplied; i++) {
    const a = g.applied[i]
    if (a === undefined || g.committedBy[i]! >= v.term) continue
    if (v.termAt(i) !== a.term) {
      return `Leader Completeness: ${v.id} leads term ${v.term} with entry ${i} of term ${v.termAt(i)}, but term ${a.term} was committed there by term ${g.committedBy[i]}`
    }
  }
  return undefined
}
