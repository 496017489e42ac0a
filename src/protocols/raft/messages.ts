// The one place Raft's wire format is written down: codecs for messages and the pieces they share with
// durable storage (entries, membership, snapshots, replies). Decoders are total: any byte string yields a
// value or a DecodeError, with every length capped, so a forged message cannot make a node allocate or
// loop beyond its bounds. Semantic checks (is this entry contiguous, is this term plausible) are the
// machine's job and are counted in its stats; the codec only guarantees a well-formed value.
//
// Layout: u8 version, u8 tag, then the fields in declaration order; integers are varints.

import type { Codec, Reader, Writer } from '../../wire/index.js'
import { DecodeError, EncodeError } from '../../wire/index.js'
import type { NodeId } from '../core/index.js'
import type {
  Entry,
  ForwardedReq,
  Membership,
  RaftErrorCode,
  RaftMsg,
  RaftRes,
  RaftRole,
  RaftStatus,
  Snapshot,
} from './types.js'

export const RAFT_WIRE_VERSION = 1
/** Bounds every decoder enforces. */
export const RAFT_LIMITS = {
  nodeIdBytes: 128,
  members: 256,
  entriesPerMessage: 4096,
  commandBytes: 1024 * 1024,
  snapshotBytes: 256 * 1024 * 1024,
} as const

const MSG_TAGS: readonly RaftMsg['type'][] = [
  'preVote',
  'preVoteResp',
  'vote',
  'voteResp',
  'append',
  'appendResp',
  'heartbeat',
  'heartbeatResp',
  'snapshot',
  'timeoutNow',
  'forward',
  'forwardResp',
]
const ENTRY_KINDS: readonly Entry['kind'][] = ['noop', 'command', 'config']
const ROLES: readonly RaftRole[] = ['follower', 'preCandidate', 'candidate', 'leader']
const ERROR_CODES: readonly RaftErrorCode[] = [
  'NOT_LEADER',
  'TIMEOUT',
  'DROPPED',
  'TRANSFERRING',
  'CHANGE_PENDING',
  'BAD_CHANGE',
  'BUSY',
  'TOO_LARGE',
]

function tagOf<T>(list: readonly T[], v: T, what: string): number {
  const i = list.indexOf(v)
  if (i < 0) throw new EncodeError(`unknown ${what} ${String(v)}`)
  return i
}

function fromTag<T>(list: readonly T[], tag: number, what: string, offset: number): T {
  const v = list[tag]
  if (v === undefined) throw new DecodeError('unknown-tag', `unknown ${what} tag ${tag}`, offset)
  return v
}

export function writeNodeId(w: Writer, id: NodeId): void {
  w.string(id)
}

export function readNodeId(r: Reader): NodeId {
  const at = r.offset
  const id = r.string(RAFT_LIMITS.nodeIdBytes)
  if (id.length === 0) throw new DecodeError('invalid-value', 'empty node id', at)
  return id
}

function writeOptionalId(w: Writer, id: NodeId | null): void {
  w.bool(id !== null)
  if (id !== null) writeNodeId(w, id)
}

function readOptionalId(r: Reader): NodeId | null {
  return r.bool() ? readNodeId(r) : null
}

/** Membership lists must be sorted, distinct and disjoint: one membership, one encoding. */
export const membershipCodec: Codec<Membership> = {
  encode(w, m) {
    for (const list of [m.voters, m.learners]) {
      w.varint(list.length)
      for (const id of list) writeNodeId(w, id)
    }
  },
  decode(r) {
    const at = r.offset
    const lists: NodeId[][] = []
    for (let k = 0; k < 2; k++) {
      const n = r.count(RAFT_LIMITS.members, 2)
      const list: NodeId[] = []
      for (let i = 0; i < n; i++) {
        const id = readNodeId(r)
        if (i > 0 && !(list[i - 1]! < id)) {
          throw new DecodeError('non-canonical', 'membership ids must be sorted and distinct', at)
        }
        list.push(id)
      }
      lists.push(list)
    }
    const [voters, learners] = lists as [NodeId[], NodeId[]]
    if (learners.some((l) => voters.includes(l))) {
      throw new DecodeError('invalid-value', 'a node is both voter and learner', at)
    }
    return { voters, learners }
  },
}

function readPositive(r: Reader, what: string): number {
  const at = r.offset
  const v = r.varint()
  if (v === 0) throw new DecodeError('invalid-value', `${what} must be positive`, at)
  return v
}

export const entryCodec: Codec<Entry> = {
  encode(w, e) {
    w.varint(e.index)
      .varint(e.term)
      .u8(tagOf(ENTRY_KINDS, e.kind, 'entry kind'))
    if (e.kind === 'command') w.bytes(e.data)
    else if (e.kind === 'config') membershipCodec.encode(w, e.config)
  },
  decode(r) {
    const index = readPositive(r, 'entry index')
    const term = readPositive(r, 'entry term')
    const at = r.offset
    const kind = fromTag(ENTRY_KINDS, r.u8(), 'entry kind', at)
    if (kind === 'noop') return { index, term, kind }
    if (kind === 'command') return { index, term, kind, data: r.bytes(RAFT_LIMITS.commandBytes).slice() }
    return { index, term, kind, config: membershipCodec.decode(r) }
  },
}

export const snapshotCodec: Codec<Snapshot> = {
  encode(w, s) {
    w.varint(s.index).varint(s.term)
    membershipCodec.encode(w, s.config)
    w.bytes(s.data)
  },
  decode(r) {
    const index = r.varint()
    const term = r.varint()
    const config = membershipCodec.decode(r)
    const data = r.bytes(RAFT_LIMITS.snapshotBytes).slice()
    return { index, term, config, data }
  },
}

function writeEntries(w: Writer, entries: readonly Entry[]): void {
  w.varint(entries.length)
  for (const e of entries) entryCodec.encode(w, e)
}

function readEntries(r: Reader): Entry[] {
  // Each entry takes at least 3 bytes (index, term, kind).
  const n = r.count(RAFT_LIMITS.entriesPerMessage, 3)
  const out: Entry[] = new Array(n)
  for (let i = 0; i < n; i++) out[i] = entryCodec.decode(r)
  return out
}

const statusCodec: Codec<RaftStatus> = {
  encode(w, s) {
    writeNodeId(w, s.id)
    w.u8(tagOf(ROLES, s.role, 'role')).varint(s.term)
    writeOptionalId(w, s.leader)
    w.varint(s.commit).varint(s.applied).varint(s.lastIndex).varint(s.snapshotIndex)
    membershipCodec.encode(w, s.membership)
  },
  decode(r) {
    const id = readNodeId(r)
    const role = fromTag(ROLES, r.u8(), 'role', r.offset - 1)
    const term = r.varint()
    const leader = readOptionalId(r)
    const commit = r.varint()
    const applied = r.varint()
    const lastIndex = r.varint()
    const snapshotIndex = r.varint()
    const membership = membershipCodec.decode(r)
    return { id, role, term, leader, commit, applied, lastIndex, snapshotIndex, membership }
  },
}

export const raftResCodec: Codec<RaftRes> = {
  encode(w, res) {
    if (!res.ok) {
      w.u8(0).u8(tagOf(ERROR_CODES, res.code, 'error code'))
      writeOptionalId(w, res.leader)
      return
    }
    switch (res.type) {
      case 'applied':
      case 'read':
        w.u8(res.type === 'applied' ? 1 : 2)
          .varint(res.index)
          .bytes(res.result)
        return
      case 'readIndex':
        w.u8(3).varint(res.index)
        return
      case 'transferring':
        w.u8(4)
        writeNodeId(w, res.to)
        return
      case 'status':
        w.u8(5)
        statusCodec.encode(w, res.status)
        return
    }
  },
  decode(r) {
    const at = r.offset
    const tag = r.u8()
    switch (tag) {
      case 0: {
        const code = fromTag(ERROR_CODES, r.u8(), 'error code', at + 1)
        return { ok: false, code, leader: readOptionalId(r) }
      }
      case 1:
      case 2: {
        const index = r.varint()
        const result = r.bytes(RAFT_LIMITS.commandBytes).slice()
        return { ok: true, type: tag === 1 ? 'applied' : 'read', index, result }
      }
      case 3:
        return { ok: true, type: 'readIndex', index: r.varint() }
      case 4:
        return { ok: true, type: 'transferring', to: readNodeId(r) }
      case 5:
        return { ok: true, type: 'status', status: statusCodec.decode(r) }
      default:
        throw new DecodeError('unknown-tag', `unknown raft reply tag ${tag}`, at)
    }
  },
}

function writeForwarded(w: Writer, req: ForwardedReq): void {
  if (req.type === 'propose') w.u8(1).bytes(req.command)
  else w.u8(2)
}

function readForwarded(r: Reader): ForwardedReq {
  const at = r.offset
  const tag = r.u8()
  if (tag === 1) return { type: 'propose', command: r.bytes(RAFT_LIMITS.commandBytes).slice() }
  if (tag === 2) return { type: 'readIndex' }
  throw new DecodeError('unknown-tag', `unknown forwarded request tag ${tag}`, at)
}

export const raftMessageCodec: Codec<RaftMsg> = {
  encode(w, m) {
    w.u8(RAFT_WIRE_VERSION).u8(tagOf(MSG_TAGS, m.type, 'message type'))
    switch (m.type) {
      case 'preVote':
      case 'vote':
        w.varint(m.term).varint(m.lastIndex).varint(m.lastTerm)
        if (m.type === 'vote') w.bool(m.transfer)
        return
      case 'preVoteResp':
      case 'voteResp':
        w.varint(m.term).bool(m.granted)
        return
      case 'append':
        w.varint(m.term).varint(m.prevIndex).varint(m.prevTerm).varint(m.commit)
        writeEntries(w, m.entries)
        return
      case 'appendResp':
        w.varint(m.term).bool(m.success).varint(m.index).varint(m.hintIndex).varint(m.hintTerm)
        return
      case 'heartbeat':
        w.varint(m.term).varint(m.commit).varint(m.ctx)
        return
      case 'heartbeatResp':
        w.varint(m.term).varint(m.ctx)
        return
      case 'snapshot':
        w.varint(m.term)
        snapshotCodec.encode(w, m.snapshot)
        return
      case 'timeoutNow':
        w.varint(m.term)
        return
      case 'forward':
        w.varint(m.id)
        writeForwarded(w, m.req)
        return
      case 'forwardResp':
        w.varint(m.id)
        raftResCodec.encode(w, m.res)
        return
    }
  },
  decode(r) {
    const version = r.u8()
    if (version !== RAFT_WIRE_VERSION) {
      throw new DecodeError('unsupported-version', `raft message version ${version}`, 0)
    }
    const type = fromTag(MSG_TAGS, r.u8(), 'raft message', 1)
    switch (type) {
      case 'preVote':
        return { type, term: r.varint(), lastIndex: r.varint(), lastTerm: r.varint() }
      case 'vote':
        return { type, term: r.varint(), lastIndex: r.varint(), lastTerm: r.varint(), transfer: r.bool() }
      case 'preVoteResp':
      case 'voteResp':
        return { type, term: r.varint(), granted: r.bool() }
      case 'append': {
        const term = r.varint()
        const prevIndex = r.varint()
        const prevTerm = r.varint()
        const commit = r.varint()
        return { type, term, prevIndex, prevTerm, commit, entries: readEntries(r) }
      }
      case 'appendResp':
        return {
          type,
          term: r.varint(),
          success: r.bool(),
          index: r.varint(),
          hintIndex: r.varint(),
          hintTerm: r.varint(),
        }
      case 'heartbeat':
        return { type, term: r.varint(), commit: r.varint(), ctx: r.varint() }
      case 'heartbeatResp':
        return { type, term: r.varint(), ctx: r.varint() }
      case 'snapshot':
        return { type, term: r.varint(), snapshot: snapshotCodec.decode(r) }
      case 'timeoutNow':
        return { type, term: r.varint() }
      case 'forward':
        return { type, id: r.varint(), req: readForwarded(r) }
      case 'forwardResp':
        return { type, id: r.varint(), res: raftResCodec.decode(r) }
    }
  },
}
