// The control plane's replica (Raft driver + registry + signed frames) with real durable logs in temporary
// directories and real timers, connected by an in-memory transport that can cut nodes off: a leader is
// elected, a write through a follower commits everywhere, a learner that says hello receives the registry,
// forged and undecodable frames are dropped and counted, a replica reopened from disk keeps what
// committed, and a single founding voter grows to three as learners that want to vote catch up and are
// promoted (never before they caught up, never one whose certificate does not allow it). Timings are short (heartbeat 50 ms, election 500-1000 ms) and every wait is bounded.

import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import { Registry as PromRegistry } from 'prom-client'
import { RaftMetrics } from '../../src/control/metrics.js'
import { ControlReplica, type ControlReplicaOptions } from '../../src/control/replica.js'
import { ControlPlaneError } from '../../src/control/types.js'
import { encodeControlFrame, FrameKind } from '../../src/control/wire.js'
import { generateKeyPair, type KeyPair, nodeIdFromPublicKey, sign, verify } from '../../src/identity/index.js'
import type { Cluster } from '../../src/protocols/registry/index.js'

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

// Short, but with room for a loaded machine (a spurious election only slows a test down, it must not fail it).
const RAFT = { heartbeatMs: 50, electionMinMs: 500, electionMaxMs: 1000 }

interface Node {
  id: string
  key: KeyPair
  dir: string
  replica: ControlReplica | null
  metrics: PromRegistry
}

class Net {
  readonly nodes = new Map<string, Node>()
  readonly cut = new Set<string>()
  readonly keys = new Map<string, Uint8Array>()
  /** Every pair has a direct link: frames go link-authenticated (unsigned) and arrive marked as such. */
  links = false
  /** With links on: frames that arrive as if relayed (not over the sender's own link). */
  relayed = new Set<string>()
  /** Raft settings for replicas opened from now on. */
  raft: typeof RAFT & { snapshotEntries?: number } = RAFT
  /** Frames larger than a bus payload (1 MiB), which the bus would refuse: counted and dropped. */
  oversize = 0
  /** Frames this returns true for are lost (one direction only, unlike `cut`). */
  drop: (from: string, to: string, bytes: Uint8Array) => boolean = () => false

  add(): Node {
    const key = generateKeyPair()
    const id = nodeIdFromPublicKey(key.publicKey)
    this.keys.set(id, key.publicKey)
    const n: Node = { id, key, dir: '', replica: null, metrics: new PromRegistry() }
    this.nodes.set(id, n)
    return n
  }

  async open(
    n: Node,
    voters: string[],
    extra: Partial<Pick<ControlReplicaOptions, 'wantsVote' | 'mayVote' | 'promoteWithin'>> = {},
  ): Promise<ControlReplica> {
    if (n.dir === '') {
      n.dir = await mkdtemp(path.join(tmpdir(), 'control-'))
      dirs.push(n.dir)
    }
    n.metrics = new PromRegistry()
    n.replica = await ControlReplica.open({
      id: n.id,
      voters,
      stateDir: n.dir,
      raft: this.raft,
      requestTimeoutMs: 3000,
      helloEveryMs: 100,
      signer: { sign: (m) => sign(m, n.key.secretKey) },
      verify: (from, m, s) => {
        const pk = this.keys.get(from)
        return pk !== undefined && verify(s, m, pk)
      },
      send: (to, bytes) => this.deliver(n.id, to, bytes),
      ...(this.links ? { direct: () => true } : {}),
      federation: { id: 'fed_test', name: 'test-fed', createdAt: 1 },
      metrics: new RaftMetrics(n.metrics),
      ...extra,
    })
    return n.replica
  }

  deliver(from: string, to: string, bytes: Uint8Array): void {
    if (this.cut.has(from) || this.cut.has(to) || this.drop(from, to, bytes)) return
    if (bytes.length > 1024 * 1024) {
      this.oversize++
      return
    }
    const copy = bytes.slice()
    const overLink = this.links && !this.relayed.has(to)
    setImmediate(() => this.nodes.get(to)?.replica?.receive(from, copy, overLink))
  }

  /** `n` new voters of one group, opened on this net. */
  async openVoters(n: number): Promise<{ voters: Node[]; ids: string[] }> {
    const voters = Array.from({ length: n }, () => this.add())
    const ids = voters.map((v) => v.id)
    for (const v of voters) await this.open(v, ids)
    return { voters, ids }
  }

  /** Opens `n` voters, runs `body` with them, and closes the replica each one holds then, whatever happened. */
  async withVoters(
    n: number,
    body: (opened: { voters: Node[]; ids: string[] }) => Promise<void>,
  ): Promise<void> {
    const opened = await this.openVoters(n)
    try {
      await body(opened)
    } finally {
      for (const v of opened.voters) await v.replica?.close()
    }
  }

  /** The leader among `voters`, once it has written the federation record. */
  async settledLeader(voters: Node[]): Promise<Node> {
    const leader = await until('a leader', () => this.leader(voters))
    await until('federation record', () => leader.replica!.local()?.federation?.name === 'test-fed')
    return leader
  }

  leader(among: Node[]): Node | undefined {
    return among.find((n) => n.replica?.view().role === 'leader' && !this.cut.has(n.id))
  }
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = probe()
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

function cluster(name: string): Cluster {
  return {
    id: `cluster_${name}`,
    name,
    region: 'local',
    role: 'primary',
    capacity: { agents: 10, memoryMb: 0, gpu: 0 },
    labels: [],
    taints: [],
    cordoned: false,
  }
}

test('three voters elect a leader; a write through a follower commits on all; a learner gets the registry', async () => {
  const net = new Net()
  await net.withVoters(3, async ({ voters, ids }) => {
    const leader = await until('a leader', () => net.leader(voters))
    // The first leader writes the federation record; until then cluster commands are refused NO_FEDERATION.
    await until('federation record', () => leader.replica!.local()?.federation?.name === 'test-fed')
    const follower = voters.find((v) => v !== leader)!
    const res = await follower.replica!.propose({ type: 'addCluster', cluster: cluster('us-west') })
    assert.deepEqual(res, { ok: true, ipv4: 0 })
    for (const v of voters) {
      await until(`${v.id} applies the cluster`, () => v.replica!.local()?.clusterByName.has('us-west'))
    }
    // The first leader wrote the federation record.
    await until('federation record', () => follower.replica!.local()?.federation?.name === 'test-fed')
    const q = await follower.replica!.query({ type: 'clusters' })
    assert.equal(q.type, 'clusters')
    assert.deepEqual(q.type === 'clusters' ? q.clusters.map((c) => c.name) : [], ['us-west'])
    const st = follower.replica!.status()
    assert.equal(st.voter, true)
    // The leader may have changed meanwhile on a loaded machine; whoever it is comes first.
    assert.ok(st.leader !== null && ids.includes(st.leader))
    assert.equal(st.voters[0], st.leader)
    assert.deepEqual([...st.voters].sort(), [...ids].sort())

    // A non-voter: hello -> addLearner -> log.
    const learner = net.add()
    await net.open(learner, ids)
    await until(
      'learner has the cluster',
      () => learner.replica!.local()?.clusterByName.has('us-west'),
      10_000,
    )
    assert.equal(learner.replica!.status().voter, false)
    assert.ok(learner.replica!.view().membership.learners.includes(learner.id))
    // A write from the learner is forwarded to the leader.
    const r2 = await learner.replica!.propose({ type: 'addCluster', cluster: cluster('eu-west') })
    assert.equal(r2.ok, true)
    await until('learner sees its write', () => learner.replica!.local()?.clusterByName.has('eu-west'))
    const dup = await learner.replica!.propose({ type: 'addCluster', cluster: cluster('eu-west') })
    assert.equal(dup.ok, false)
    assert.equal(!dup.ok && dup.code, 'CLUSTER_EXISTS')
    // onApplied sees later commands with their results.
    const seen: string[] = []
    const off = learner.replica!.onApplied((c, r) => seen.push(`${c.type}:${r.ok}`))
    await leader.replica!.propose({ type: 'removeCluster', id: 'cluster_eu-west' })
    await until('onApplied fired', () => seen.includes('removeCluster:true'))
    off()
    await learner.replica!.close()
  })
})

test('forged and undecodable frames are dropped and counted; the minority side commits nothing', async () => {
  const net = new Net()
  await net.withVoters(3, async ({ voters }) => {
    const leader = await net.settledLeader(voters)
    const victim = voters.find((v) => v !== leader)!
    const term = victim.replica!.view().term
    // A frame claiming to come from the leader, signed by someone else's key: a forged vote storm.
    const mallory = generateKeyPair()
    const forged = encodeControlFrame(
      { kind: 'raft', msg: { type: 'timeoutNow', term: term + 5 } },
      leader.id,
      victim.id,
      { sign: (m) => sign(m, mallory.secretKey) },
    )
    victim.replica!.receive(leader.id, forged)
    victim.replica!.receive(leader.id, new Uint8Array([1, 1, 2, 3]))
    const good = encodeControlFrame(
      { kind: 'raft', msg: { type: 'heartbeat', term, commit: 0, ctx: 0 } },
      leader.id,
      victim.id,
      {
        sign: (m) => sign(m, leader.key.secretKey),
      },
    )
    // Signed for another destination: replayed to the victim, it does not verify.
    const elsewhere = encodeControlFrame(
      { kind: 'raft', msg: { type: 'heartbeat', term, commit: 0, ctx: 0 } },
      leader.id,
      leader.id,
      {
        sign: (m) => sign(m, leader.key.secretKey),
      },
    )
    victim.replica!.receive(leader.id, elsewhere)
    const tampered = good.slice()
    tampered[tampered.length - 1]! ^= 0xff
    victim.replica!.receive(leader.id, tampered)
    assert.equal(victim.replica!.view().term, term, 'no forged frame moved the term')
    const text = await victim.metrics.metrics()
    const drops = (reason: string) =>
      Number(
        new RegExp(`blackroad_raft_dropped_messages_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ??
          0,
      )
    assert.equal(drops('bad_signature'), 3)
    assert.equal(drops('undecodable'), 1)

    // Cut the leader off: its writes time out or find no leader; the majority elects and commits.
    net.cut.add(leader.id)
    await assert.rejects(
      leader.replica!.propose({ type: 'addCluster', cluster: cluster('minority') }, { timeoutMs: 1500 }),
      (e: unknown) => e instanceof ControlPlaneError && (e.code === 'TIMEOUT' || e.code === 'NO_LEADER'),
    )
    const rest = voters.filter((v) => v !== leader)
    const next = await until('a new leader on the majority side', () => net.leader(rest))
    assert.equal((await next.replica!.propose({ type: 'addCluster', cluster: cluster('majority') })).ok, true)
    await until('old leader steps down', () => leader.replica!.view().role !== 'leader', 5000)
    net.cut.delete(leader.id)
    await until('old leader catches up', () => leader.replica!.local()?.clusterByName.has('majority'))
    for (const v of voters) {
      await until('same registry', () => v.replica!.view().applied === next.replica!.view().applied)
      assert.equal(v.replica!.local()!.clusterByName.has('minority'), false)
    }
  })
})

test('a replica reopened from its state directory keeps what committed', async () => {
  const net = new Net()
  await net.withVoters(3, async ({ voters, ids }) => {
    const leader = await net.settledLeader(voters)
    for (let i = 0; i < 5; i++) {
      assert.equal(
        (await leader.replica!.propose({ type: 'addCluster', cluster: cluster(`c${i}`) })).ok,
        true,
      )
    }
    const committed = leader.replica!.view().commit
    for (const v of voters) await v.replica!.close()
    const others = voters.filter((v) => v !== leader)
    for (const o of others) net.cut.add(o.id)
    // Alone, the old leader has only its own log: it holds everything it had committed.
    const again = await net.open(leader, ids)
    assert.ok(again.view().lastIndex >= committed, 'the log survived the restart')
    net.cut.clear()
    for (const o of others) await net.open(o, ids)
    await until('all five clusters after restart', () => again.local()?.clusterByName.size === 5)
  })
})

test('over direct links frames go unsigned and commit; the same frames arriving relayed are refused', async () => {
  const net = new Net()
  net.links = true
  await net.withVoters(3, async ({ voters }) => {
    const leader = await net.settledLeader(voters)
    const res = await leader.replica!.propose({ type: 'addCluster', cluster: cluster('linked') })
    assert.equal(res.ok, true)
    for (const v of voters)
      await until(`${v.id} applies`, () => v.replica!.local()?.clusterByName.has('linked'))
    // One voter now gets the leader's unsigned frames as if a relay had handed them on: refused, counted,
    // and it falls behind while the other two still commit.
    const victim = voters.find((v) => v !== leader)!
    net.relayed.add(victim.id)
    const before = victim.replica!.view().applied
    assert.equal((await leader.replica!.propose({ type: 'addCluster', cluster: cluster('after') })).ok, true)
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(victim.replica!.local()?.clusterByName.has('after'), false)
    assert.equal(victim.replica!.view().applied, before)
    const text = await victim.metrics.metrics()
    const unauth = Number(
      /blackroad_raft_dropped_messages_total\{reason="unauthenticated"\} (\d+)/.exec(text)?.[1] ?? 0,
    )
    assert.ok(unauth > 0, `unauthenticated drops counted (${unauth})`)
    net.relayed.delete(victim.id)
    await until('victim catches up', () => victim.replica!.local()?.clusterByName.has('after'))
  })
})

test('a learner catches up from a snapshot larger than one bus message (sent in chunks)', async () => {
  const net = new Net()
  net.raft = { ...RAFT, snapshotEntries: 50 }
  await net.withVoters(3, async ({ voters, ids }) => {
    const leader = await net.settledLeader(voters)
    // 200 clusters with 30 labels of 250 bytes each: a registry of about 1.6 MiB.
    const value = 'v'.repeat(250)
    const labels = Array.from({ length: 30 }, (_, i) => [`k${String(i).padStart(2, '0')}`, value] as const)
    for (let i = 0; i < 200; i++) {
      const r = await leader.replica!.propose({
        type: 'addCluster',
        cluster: { ...cluster(`big-${i}`), labels },
      })
      assert.equal(r.ok, true)
    }
    await until('the leader compacted its log', () => leader.replica!.view().snapshotIndex > 0)
    const learner = net.add()
    await net.open(learner, ids)
    await until(
      'the learner has every cluster',
      () => learner.replica!.local()?.clusterByName.size === 200,
      20_000,
    )
    assert.ok(learner.replica!.view().snapshotIndex > 0, 'it installed a snapshot')
    assert.equal(net.oversize, 0, 'no frame above the bus payload limit was sent')
    await learner.replica!.close()
  })
})

/** Drop counter `reason` of a node's metrics. */
async function drops(n: Node, reason: string): Promise<number> {
  const text = await n.metrics.metrics()
  const re = new RegExp(`blackroad_raft_dropped_messages_total\\{reason="${reason}"\\} (\\d+)`)
  return Number(re.exec(text)?.[1] ?? 0)
}

test('a single founding voter grows to three: learners that want to vote are promoted; the majority survives the founder', async () => {
  const net = new Net()
  const [a, b, c] = [net.add(), net.add(), net.add()]
  const all = [a, b, c]
  try {
    await net.open(a, [a.id])
    await until('the founder leads alone', () => a.replica!.view().role === 'leader')
    await until('federation record', () => a.replica!.local()?.federation?.name === 'test-fed')
    assert.equal((await a.replica!.propose({ type: 'addCluster', cluster: cluster('first') })).ok, true)

    // B and C know only the founder, as a joining node learns it; neither may start a cluster of its own.
    await net.open(b, [a.id], { wantsVote: true })
    await net.open(c, [a.id], { wantsVote: true })
    assert.equal(b.replica!.status().voter, false)
    await until('three voters', () => {
      const m = a.replica!.view().membership
      return m.voters.length === 3 && m.learners.length === 0
    })
    assert.deepEqual([...a.replica!.view().membership.voters].sort(), [a.id, b.id, c.id].sort())
    for (const n of [b, c]) {
      await until(`${n.id} sees itself a voter`, () => n.replica!.status().voter)
      await until(`${n.id} has the first write`, () => n.replica!.local()?.clusterByName.has('first'))
    }
    const st = a.replica!.status()
    assert.equal(st.voters[0], a.id, 'leader first')
    assert.deepEqual([...st.voters].sort(), [a.id, b.id, c.id].sort())

    // The founder goes away: the two promoted voters are a majority of three.
    await a.replica!.close()
    a.replica = null
    net.cut.add(a.id)
    const next = await until('a new leader among the promoted', () => net.leader([b, c]), 15_000)
    assert.equal(
      (await next.replica!.propose({ type: 'addCluster', cluster: cluster('after-founder') })).ok,
      true,
    )
    for (const n of [b, c]) {
      await until(`${n.id} applies the write`, () => n.replica!.local()?.clusterByName.has('after-founder'))
    }
  } finally {
    for (const n of all) await n.replica?.close()
  }
})

test('a learner that wants to vote is promoted only once caught up, and only if mayVote allows it', async () => {
  const net = new Net()
  const [a, b, e] = [net.add(), net.add(), net.add()]
  const all = [a, b, e]
  // A hello that says "wants to vote": signed, one byte of body.
  const wantsVote = (bytes: Uint8Array) => bytes[1] === FrameKind.hello && bytes.length === 2 + 64 + 1
  try {
    // The leader decides: learners more than 8 entries behind it are not promoted.
    await net.open(a, [a.id], { mayVote: (node) => node !== e.id, promoteWithin: 8 })
    await until('the founder leads alone', () => a.replica!.view().role === 'leader')
    await until('federation record', () => a.replica!.local()?.federation?.name === 'test-fed')

    // B becomes a learner and syncs, its requests to vote held back for now.
    let holdVotes = true
    let cutB = false
    net.drop = (from, to, bytes) =>
      (holdVotes && from === b.id && wantsVote(bytes)) || (cutB && from === a.id && to === b.id)
    await net.open(b, [a.id], { wantsVote: true })
    await until('B knows it is a learner', () => b.replica!.view().membership.learners.includes(b.id))
    // Then B falls behind (the founder's frames to it are lost) while the founder writes on; now B asks.
    cutB = true
    for (let i = 0; i < 20; i++) {
      assert.equal((await a.replica!.propose({ type: 'addCluster', cluster: cluster(`c${i}`) })).ok, true)
    }
    holdVotes = false
    await new Promise((r) => setTimeout(r, 1500))
    assert.ok(a.replica!.view().lastIndex - (a.replica!.view().matchOf(b.id) ?? 0) > 8, 'B is behind')
    assert.equal(a.replica!.view().membership.voters.includes(b.id), false, 'promoted before catching up')
    cutB = false
    await until('B promoted once caught up', () => a.replica!.view().membership.voters.includes(b.id))
    assert.ok(b.replica!.local()?.clusterByName.has('c19'))

    // E wants to vote, but its certificate does not allow it: it stays a learner, refusals are counted.
    await net.open(e, [a.id], { wantsVote: true })
    await until('E has the registry', () => e.replica!.local()?.clusterByName.has('c19'))
    const end = Date.now() + 10_000
    while ((await drops(a, 'voter_refused')) + (await drops(b, 'voter_refused')) < 3) {
      assert.ok(Date.now() < end, 'timed out waiting for refusals to be counted')
      await new Promise((r) => setTimeout(r, 50))
    }
    const leader = net.leader([a, b])!
    assert.equal(leader.replica!.view().membership.voters.includes(e.id), false)
    assert.ok(leader.replica!.view().membership.learners.includes(e.id))
    assert.equal(e.replica!.status().voter, false)
  } finally {
    for (const n of all) await n.replica?.close()
  }
})

test('membership changes asked for at once run one after the other: the second waits for the first', async () => {
  const net = new Net()
  await net.withVoters(3, async ({ voters }) => {
    const leader = await net.settledLeader(voters)
    const [x, y] = voters.filter((v) => v !== leader) as [Node, Node]
    // Raft takes one change at a time: the second arrives while the first is uncommitted (CHANGE_PENDING).
    const [first, second] = await Promise.all(
      [x, y].map((v) =>
        leader.replica!.reconfigure({ type: 'changeMembership', change: { type: 'remove', node: v.id } }),
      ),
    )
    assert.equal(first!.ok, true, JSON.stringify(first))
    assert.equal(second!.ok, true, JSON.stringify(second))
    assert.deepEqual(leader.replica!.view().membership.voters, [leader.id])
  })
})

test('an operator removes a voter and hands leadership over, on the leader only', async () => {
  const net = new Net()
  await net.withVoters(3, async ({ voters }) => {
    const leader = await net.settledLeader(voters)
    const [heir, gone] = voters.filter((v) => v !== leader) as [Node, Node]
    const onFollower = await heir.replica!.reconfigure({ type: 'transferLeadership', to: heir.id })
    assert.equal(onFollower.ok, false)
    assert.equal(!onFollower.ok && onFollower.code, 'NOT_LEADER')
    assert.equal(!onFollower.ok && onFollower.leader, leader.id)
    const moved = await leader.replica!.reconfigure({ type: 'transferLeadership', to: heir.id })
    assert.equal(moved.ok, true, JSON.stringify(moved))
    await until('the heir leads', () => heir.replica!.view().role === 'leader')
    const removed = await heir.replica!.reconfigure({
      type: 'changeMembership',
      change: { type: 'remove', node: gone.id },
    })
    assert.equal(removed.ok, true, JSON.stringify(removed))
    await until('two voters everywhere', () =>
      [leader, heir].every((v) => v.replica!.view().membership.voters.length === 2),
    )
    assert.ok(!heir.replica!.view().membership.voters.includes(gone.id))
    net.cut.add(gone.id)
    assert.equal(
      (await heir.replica!.propose({ type: 'addCluster', cluster: cluster('two-voters') })).ok,
      true,
    )
    const again = await heir.replica!.reconfigure({
      type: 'changeMembership',
      change: { type: 'remove', node: gone.id },
    })
    assert.equal(again.ok, false, 'not a member any more')
  })
})
