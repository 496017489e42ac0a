// The in-memory Raft log: indexes around the snapshot base, truncation reverting membership, compaction,
// installing a snapshot (keeping the tail only when it agrees), the up-to-date rule and the conflict hint
// a rejecting follower sends.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ProtocolError } from '../../src/protocols/core/index.js'
import { initialSnapshot, membershipOf } from '../../src/protocols/raft/index.js'
import { RaftLog } from '../../src/protocols/raft/log.js'

const cmd = (index: number, term: number) => ({
  index,
  term,
  kind: 'command' as const,
  data: new Uint8Array([index]),
})

function log(terms: number[]): RaftLog {
  const l = new RaftLog(initialSnapshot(['a', 'b', 'c']), [])
  l.append(terms.map((t, i) => cmd(i + 1, t)))
  return l
}

test('indexes, terms and slices around the base', () => {
  const l = log([1, 1, 2, 3])
  assert.equal(l.firstIndex, 1)
  assert.equal(l.lastIndex, 4)
  assert.equal(l.lastTerm, 3)
  assert.equal(l.termAt(0), 0)
  assert.equal(l.termAt(5), undefined)
  assert.deepEqual(
    l.slice(2, 10, 2).map((e) => e.index),
    [2, 3],
  )
  assert.deepEqual(l.slice(5, 10, 2), [])
  assert.throws(() => l.append([cmd(6, 3)]), ProtocolError, 'a gap')
  assert.throws(() => l.append([cmd(5, 2)]), ProtocolError, 'a term going back')
})

test('membership follows the latest config entry and reverts when it is truncated', () => {
  const l = log([1, 1])
  const m2 = membershipOf(['a', 'b', 'c', 'd'])
  l.append([{ index: 3, term: 2, kind: 'config', config: m2 }])
  assert.deepEqual(l.membership(), m2)
  assert.equal(l.lastConfigIndex(), 3)
  assert.deepEqual(l.membershipAt(2), membershipOf(['a', 'b', 'c']))
  l.truncateAfter(2)
  assert.deepEqual(l.membership(), membershipOf(['a', 'b', 'c']))
  assert.equal(l.lastConfigIndex(), 0)
})

test('compaction folds a prefix into the snapshot, with the membership at that index', () => {
  const l = log([1, 1, 2])
  const m2 = membershipOf(['a', 'b'])
  l.append([{ index: 4, term: 2, kind: 'config', config: m2 }, cmd(5, 2)])
  const snap = l.compact(4, new Uint8Array([9]))
  assert.deepEqual([snap.index, snap.term], [4, 2])
  assert.deepEqual(snap.config, m2)
  assert.equal(l.firstIndex, 5)
  assert.equal(l.termAt(4), 2)
  assert.equal(l.entryAt(4), undefined)
  assert.deepEqual(l.membership(), m2)
  assert.throws(() => l.truncateAfter(3), ProtocolError, 'never below the snapshot')
})

test('installing a snapshot keeps an agreeing tail and drops a conflicting one', () => {
  const agree = log([1, 1, 2, 2])
  agree.install({ index: 3, term: 2, config: membershipOf(['a']), data: new Uint8Array() })
  assert.equal(agree.lastIndex, 4)
  assert.equal(agree.firstIndex, 4)
  const conflict = log([1, 1, 2, 2])
  conflict.install({ index: 3, term: 3, config: membershipOf(['a']), data: new Uint8Array() })
  assert.equal(conflict.lastIndex, 3)
  assert.equal(conflict.lastTerm, 3)
})

test('the up-to-date rule compares last terms first, then lengths', () => {
  const l = log([1, 2, 2])
  assert.equal(l.isUpToDate(1, 3), true)
  assert.equal(l.isUpToDate(3, 2), true)
  assert.equal(l.isUpToDate(2, 2), false)
  assert.equal(l.isUpToDate(9, 1), false)
})

test('the conflict hint skips a whole divergent term', () => {
  const l = log([1, 1, 4, 4, 4])
  // The leader probed at (5, 3): we hold term 4 there; the last index with a term <= 3 is 2.
  assert.deepEqual(l.conflictHint(5, 3), { index: 2, term: 1 })
  assert.deepEqual(l.conflictHint(9, 5), { index: 5, term: 4 })
  assert.deepEqual(l.conflictHint(5, 0), { index: 0, term: 0 })
})
