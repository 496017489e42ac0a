// The federation lifecycle grows its control plane from one node to three, with real daemons and the real CLI:
// node a runs `federation init` as a control-plane node and is the single voter; b and c, configured with
// `node.control_plane: true` and nothing else, start no control plane of their own, join with tokens for the
// control-plane cluster (`federation create-cluster --name control-plane`), follow the voters the join named
// (join.json), and are promoted to voters once caught up. `federation status` on a shows three voters. The
// leader is killed with SIGKILL: the other two elect a leader and a write commits. Restarted, the old leader
// comes back as one of the three voters (not as a single voter of its own) and catches up.

import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { agreedLeader, api, clusterToken, control, joinThrough, meshIpv4, nodeId } from './lib/control.js'
import { type DaemonHandle, Lab, waitFor } from './lib/index.js'
import { DHT_PORT } from './lib/mesh.js'
import { METRICS_LISTEN, requireRoot } from './lib/mesh-inspect.js'

test('federation init on one control-plane node, two more join as voters, the leader is killed and the rest commit', async (t) => {
  if (!requireRoot(t)) return
  const started = Date.now()
  const lab = await Lab.create(t)
  const lan = await lab.bridge('lan')
  const hosts = []
  for (const name of ['a', 'b', 'c']) {
    const h = await lab.host(name)
    await lab.attach(h, lan)
    hosts.push(h)
  }
  const [aHost, bHost, cHost] = hosts as [(typeof hosts)[0], (typeof hosts)[0], (typeof hosts)[0]]
  const aAddr = aHost.addr(lan)
  const cpNode = (name: string) => ({
    node: { name, control_plane: true },
    metrics: { enabled: true, listen: METRICS_LISTEN },
    logging: { level: 'debug' },
  })
  // a runs the federation's DHT bootstrap; b and c are told nothing but the token and a's address.
  const [a, b, c] = await Promise.all([
    lab.startDaemon(aHost, {
      ...cpNode('a'),
      node: { name: 'a', control_plane: true, bootstrap: true },
      discovery: { bootstrap: [`${aAddr}:${DHT_PORT}`] },
      federation: { control_plane: [`${aAddr}:7443`] },
    }),
    lab.startDaemon(bHost, cpNode('b')),
    lab.startDaemon(cHost, cpNode('c')),
  ])
  const ids = new Map<string, DaemonHandle>()
  for (const d of [a, b, c]) ids.set(await nodeId(d), d)
  const aId = await nodeId(a)
  const nameOf = (id: string | null) => (id === null ? 'none' : (ids.get(id)?.name ?? id))

  // Neither founded nor joined: no control plane anywhere yet (b and c must not found clusters of their own).
  for (const d of [a, b, c]) assert.equal((await control(d)).enabled, false, `${d.name} runs a control plane`)

  const init = await a.cli(['federation', 'init', '--name', 'lab-fed'])
  assert.equal(init.code, 0, init.stderr)
  await waitFor(() => meshIpv4(a), { timeoutMs: 20_000, intervalMs: 300, what: 'a in the mesh' })
  const founded = await control(a)
  assert.equal(founded.enabled, true)
  assert.deepEqual(
    founded.voters.map((v) => v.node_id),
    [aId],
  )

  const join = async (d: DaemonHandle): Promise<void> => {
    const joined = await joinThrough(
      d,
      await clusterToken(a, 'control-plane'),
      `${aAddr}:7443`,
      'control-plane',
    )
    assert.equal(joined.mesh, 'running')
    // The join named the voters; the node keeps them and follows that control plane.
    const hints = JSON.parse(await readFile(path.join(d.stateDir, 'join.json'), 'utf8')) as {
      voters: string[]
    }
    assert.ok(
      hints.voters.includes(aId),
      `${d.name}'s join.json names a as a voter: ${JSON.stringify(hints)}`,
    )
    assert.equal((await control(d)).enabled, true)
  }
  await join(b)
  await join(c)
  t.diagnostic(`b and c joined after ${Date.now() - started} ms`)

  // Both are promoted once caught up: three voters, seen alike by all three.
  const three = await waitFor(
    async () => {
      const st = await control(a)
      return st.voters.length === 3 && st.learners === 0 ? st : null
    },
    { timeoutMs: 60_000, intervalMs: 500, what: 'three voters in the Raft membership' },
  )
  assert.deepEqual(three.voters.map((v) => v.node_id).sort(), [...ids.keys()].sort())
  t.diagnostic(`three voters after ${Date.now() - started} ms, leader ${nameOf(three.leader)}`)
  const leaderId = await waitFor(() => agreedLeader([a, b, c]), {
    timeoutMs: 30_000,
    intervalMs: 300,
    what: 'a, b and c agree on a leader',
  })
  for (const d of [b, c]) {
    const st = await control(d)
    assert.equal(st.voter, true, `${d.name} votes`)
    assert.equal(st.voters.length, 3)
  }
  const fs = await a.cli(['federation', 'status'])
  assert.equal(fs.code, 0, fs.stderr)
  const line = /^Control plane voters: (.+)$/m.exec(fs.stdout)?.[1] ?? ''
  assert.deepEqual(line.replace('*', '').split(', ').sort(), ['a', 'b', 'c'], fs.stdout)
  assert.match(line, new RegExp(`^${nameOf(leaderId)}\\*`), 'the leader comes first, starred')
  const fsJson = JSON.parse((await a.cli(['federation', 'status', '--json'])).stdout) as {
    voters: { node_id: string }[]
  }
  assert.equal(fsJson.voters.length, 3)

  // SIGKILL the leader: the other two are a majority of three.
  const old = ids.get(leaderId)!
  const rest = [a, b, c].filter((d) => d !== old)
  const killAt = Date.now()
  await old.kill('SIGKILL')
  const next = await waitFor(
    async () => {
      const l = await agreedLeader(rest)
      return l !== null && l !== leaderId ? l : null
    },
    { timeoutMs: 30_000, intervalMs: 200, what: 'a new leader after kill -9' },
  )
  const electedMs = Date.now() - killAt
  // A registry write through a survivor (add-cluster: a cluster without a token).
  await waitFor(
    async () => {
      const r = await rest[0]!.cli(['federation', 'add-cluster', 'after-kill', '--region', 'local'])
      return r.code === 0 ? true : /CLUSTER_EXISTS/.test(r.stderr) ? true : null
    },
    { timeoutMs: 30_000, intervalMs: 300, what: 'a write after the leader was killed' },
  )
  await waitFor(
    async () =>
      (await api(rest[1]!, (cl) => cl.listClusters())).clusters.some((x) => x.name === 'after-kill'),
    { timeoutMs: 15_000, intervalMs: 300, what: `${rest[1]!.name} sees the write` },
  )
  t.diagnostic(
    `kill -9 of ${old.name}: ${nameOf(next)} leads after ${electedMs} ms, write committed after ${Date.now() - killAt} ms`,
  )

  // The old leader restarts from its log: one of three voters again, never a single voter of its own.
  await old.restart()
  await waitFor(
    async () => {
      const st = await control(old)
      return st.voter && st.voters.length === 3 && st.leader !== null
    },
    { timeoutMs: 60_000, intervalMs: 500, what: `${old.name} back as one of three voters` },
  )
  await waitFor(
    async () => (await api(old, (cl) => cl.listClusters())).clusters.some((x) => x.name === 'after-kill'),
    { timeoutMs: 30_000, intervalMs: 500, what: `${old.name} catches up` },
  )

  // Operators reshape the voter set on the leader: hand leadership to another voter, then remove a third
  // one; on a follower the command names the leader instead.
  const lead = await waitFor(() => agreedLeader([a, b, c]), {
    timeoutMs: 30_000,
    intervalMs: 300,
    what: 'one leader before reconfiguring',
  })
  const leaderD = ids.get(lead)!
  const others = [a, b, c].filter((d) => d !== leaderD)
  const heir = others[0]!
  const heirId = await nodeId(heir)
  const follower = await others[1]!.cli(['federation', 'transfer-leader', heirId])
  assert.notEqual(follower.code, 0)
  assert.match(follower.stderr, /NOT_LEADER: .*repeat this on/)
  const moved = await leaderD.cli(['federation', 'transfer-leader', heirId])
  assert.equal(moved.code, 0, moved.stderr)
  await waitFor(async () => (await agreedLeader([a, b, c])) === heirId, {
    timeoutMs: 15_000,
    intervalMs: 200,
    what: `${heir.name} leads after the transfer`,
  })
  const goneId = await nodeId(others[1]!)
  const removed = await heir.cli(['federation', 'remove-voter', goneId, '--json'])
  assert.equal(removed.code, 0, removed.stderr)
  const after = JSON.parse(removed.stdout) as { voters: string[] }
  assert.equal(after.voters.length, 2)
  assert.ok(!after.voters.includes(goneId))
  await waitFor(async () => (await control(leaderD)).voters.length === 2, {
    timeoutMs: 10_000,
    intervalMs: 200,
    what: 'the old leader sees two voters',
  })
  // Two voters still commit.
  const w = await heir.cli(['federation', 'add-cluster', 'after-removal', '--region', 'local'])
  assert.equal(w.code, 0, w.stderr)

  await Promise.all([b.stop(), c.stop()])
  await a.stop()
  t.diagnostic(`runtime ${Date.now() - started} ms`)
})
