// Work deferred to the end of a burst (src/os/turn.ts): inside a read handler's burst it runs when the burst
// ends, before anything the turn schedules later; outside one, after the turn's I/O (setImmediate), never in a
// microtask; work deferred while deferred work runs joins the same pass; a throwing piece leaves the rest for
// the next turn; a burst that never ended (its handler threw) is run out by the next one.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { beginBurst, burstItems, deferToTurnEnd, endBurst, setBurstEndHook } from '../../src/os/turn.js'

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Runs `fn` as a read handler does: one burst, ended also when it throws. */
function inBurstOf<T>(fn: () => T): T {
  beginBurst()
  try {
    return fn()
  } finally {
    endBurst()
  }
}

test('outside a burst, deferred work waits for the turn after microtasks', async () => {
  const log: string[] = []
  deferToTurnEnd(() => log.push('deferred'))
  queueMicrotask(() => log.push('microtask'))
  assert.deepEqual(log, [])
  await Promise.resolve()
  assert.deepEqual(log, ['microtask'])
  await nextTurn()
  assert.deepEqual(log, ['microtask', 'deferred'])
})

test('inside a burst, deferred work runs when the burst ends, once per deferral, in order', async () => {
  const log: string[] = []
  const result = inBurstOf(() => {
    deferToTurnEnd(() => log.push('a'))
    deferToTurnEnd(() => log.push('b'))
    assert.deepEqual(log, [], 'nothing runs before the burst ends')
    return 42
  })
  assert.equal(result, 42)
  assert.deepEqual(log, ['a', 'b'])
  await nextTurn()
  assert.deepEqual(log, ['a', 'b'], 'and nothing again in the next turn')
})

test('work deferred before a burst began runs at its end too', () => {
  const log: string[] = []
  deferToTurnEnd(() => log.push('before'))
  beginBurst()
  deferToTurnEnd(() => log.push('inside'))
  endBurst()
  assert.deepEqual(log, ['before', 'inside'])
})

test('work deferred by deferred work joins the same pass', () => {
  const log: string[] = []
  inBurstOf(() => {
    deferToTurnEnd(() => {
      log.push('first')
      deferToTurnEnd(() => log.push('second'))
    })
  })
  assert.deepEqual(log, ['first', 'second'])
})

test('a throwing piece: the error reaches the burst, the rest runs in the next turn', async () => {
  const log: string[] = []
  assert.throws(
    () =>
      inBurstOf(() => {
        deferToTurnEnd(() => log.push('a'))
        deferToTurnEnd(() => {
          throw new Error('boom')
        })
        deferToTurnEnd(() => log.push('c'))
      }),
    /boom/,
  )
  assert.deepEqual(log, ['a'])
  await nextTurn()
  assert.deepEqual(log, ['a', 'c'])
})

test('a burst whose handler never ended it is run out by the next burst', () => {
  const log: string[] = []
  beginBurst()
  deferToTurnEnd(() => log.push('orphaned'))
  // No endBurst (its handler threw); the next read's burst begins.
  beginBurst()
  assert.deepEqual(log, ['orphaned'])
  deferToTurnEnd(() => log.push('next'))
  endBurst()
  assert.deepEqual(log, ['orphaned', 'next'])
})

test('the burst-end hook runs after the deferred work, with the messages the burst counted', () => {
  const log: string[] = []
  setBurstEndHook((items) => log.push(`hook ${items}`))
  try {
    inBurstOf(() => {
      deferToTurnEnd(() => log.push('deferred'))
      burstItems(2)
      burstItems()
    })
    inBurstOf(() => {})
    assert.deepEqual(log, ['deferred', 'hook 3', 'hook 0'], 'counted per burst')
  } finally {
    setBurstEndHook(null)
  }
  inBurstOf(() => burstItems())
  assert.equal(log.length, 3, 'removed')
})
