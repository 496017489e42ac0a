// The Raft driver's one safety rule, checked against a real durable store whose fsync the test holds back:
// nothing of a batch that persisted state leaves the driver (reply, send, effect) before the write is durable,
// and later batches do not overtake it. Mutating the driver to emit before saving makes these tests fail.

import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import { RaftDriver } from '../../src/control/driver.js'
import type { RaftDurable, RaftMsg } from '../../src/protocols/raft/index.js'
import { encodeCommand, registryStateMachine } from '../../src/protocols/registry/index.js'
import { RaftLogStore } from '../../src/raftlog/index.js'

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

/** The real store, with each save held until the test releases it. */
async function gatedStore() {
  const dir = await mkdtemp(path.join(tmpdir(), 'driver-'))
  dirs.push(dir)
  const store = await RaftLogStore.open(dir)
  const held: Array<() => void> = []
  let gate = true
  const realSave = store.save.bind(store)
  const saves: RaftDurable[] = []
  store.save = async (d: RaftDurable) => {
    saves.push(d)
    if (gate) await new Promise<void>((r) => held.push(r))
    return realSave(d)
  }
  return {
    store,
    saves,
    release: () => {
      gate = false
      for (const r of held.splice(0)) r()
    },
  }
}

const tick = () => new Promise((r) => setTimeout(r, 30))

/** Waits (bounded: 10 s) until cond holds; real fsyncs on a loaded machine take longer than a tick. */
async function until(cond: () => boolean): Promise<void> {
  for (let t = Date.now(); !cond() && Date.now() - t < 10_000; ) await tick()
}

test('a single voter replies to a proposal only after the entry is durable; later replies wait too', async () => {
  const g = await gatedStore()
  const sent: RaftMsg[] = []
  const d = new RaftDriver({
    id: 'a',
    members: ['a'],
    config: { heartbeatMs: 10, electionMinMs: 30, electionMaxMs: 60 },
    makeStateMachine: registryStateMachine,
    store: g.store,
    send: (_to, m) => sent.push(m),
  })
  d.start()
  // Its election persists term and vote: held, so it cannot become leader-visible yet... release that one.
  for (let t = Date.now(); d.view().role !== 'leader' && Date.now() - t < 10_000; ) {
    g.release()
    await tick()
  }
  assert.equal(d.view().role, 'leader')
  await tick()
  const g2 = await gatedStoreAgain(g)
  let replied = false
  const p = d
    .request(
      {
        type: 'propose',
        command: encodeCommand({ type: 'initFederation', federation: { id: 'f', name: 'f', createdAt: 1 } }),
      },
      5000,
    )
    .then((r) => {
      replied = true
      return r
    })
  let statusReplied = false
  const s = d.request({ type: 'status' }, 5000).then(() => {
    statusReplied = true
  })
  await until(() => g2.pending() > 0)
  assert.ok(g2.pending() > 0, 'the proposal is being written')
  assert.equal(replied, false, 'no reply before fsync')
  assert.equal(statusReplied, false, 'a later batch does not overtake the write')
  g2.open()
  const res = await p
  await s
  assert.equal(res.ok, true)
  assert.equal(statusReplied, true)
  await d.close()
  await g.store.close()
})

/** Re-arms the gate of a store made by gatedStore (the election's saves went through). */
async function gatedStoreAgain(g: Awaited<ReturnType<typeof gatedStore>>) {
  const held: Array<() => void> = []
  const inner = g.store.save
  let gate = true
  g.store.save = async (d: RaftDurable) => {
    if (gate) await new Promise<void>((r) => held.push(r))
    return inner(d)
  }
  return {
    pending: () => held.length,
    open: () => {
      gate = false
      for (const r of held.splice(0)) r()
    },
  }
}

test('a follower acknowledges an append only after writing it', async () => {
  const g = await gatedStore()
  g.release()
  const sent: Array<{ to: string; m: RaftMsg }> = []
  const d = new RaftDriver({
    id: 'b',
    members: ['a', 'b', 'c'],
    config: { heartbeatMs: 100, electionMinMs: 5000, electionMaxMs: 10000 },
    makeStateMachine: registryStateMachine,
    store: g.store,
    send: (to, m) => sent.push({ to, m }),
  })
  d.start()
  await tick()
  const g2 = await gatedStoreAgain(g)
  d.deliver('a', {
    type: 'append',
    term: 1,
    prevIndex: 0,
    prevTerm: 0,
    entries: [{ index: 1, term: 1, kind: 'noop' }],
    commit: 0,
  })
  await tick()
  assert.ok(g2.pending() > 0)
  assert.equal(sent.filter((s) => s.m.type === 'appendResp').length, 0, 'no ack before fsync')
  g2.open()
  await until(() => sent.some((s) => s.m.type === 'appendResp'))
  const acks = sent.filter((s) => s.m.type === 'appendResp')
  assert.equal(acks.length, 1)
  assert.equal(acks[0]!.to, 'a')
  assert.deepEqual(
    { success: (acks[0]!.m as { success: boolean }).success, index: (acks[0]!.m as { index: number }).index },
    { success: true, index: 1 },
  )
  await d.close()
  await g.store.close()
})
