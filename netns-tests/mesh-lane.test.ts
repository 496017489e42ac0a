// The bus's TCP lanes with real daemons: two nodes on a bridge move their bus to a TCP lane beside the peer
// link. Then B's namespace starts dropping all TCP on the bridge (UDP, and so the peer link, WireGuard and the
// probes, keep flowing): A publishes to B's subscriber through its socket all along. The lane must be given up
// on both ends within seconds (A hears nothing back, pings the lane, closes it and tells B over the link) and
// messages published after that reach B over the peer link. When TCP flows again the lane is dialled again.
// The test reports how many messages the cut swallowed (published between the cut and the fallback).

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BlackroadClient } from '../src/client/index.js'
import { Lab, sleepMs, waitFor } from './lib/index.js'
import { meshOnBridge } from './lib/mesh.js'
import { requireRoot } from './lib/mesh-inspect.js'

test('a lane whose TCP is cut is given up within seconds, the bus carries on over the link, and the lane returns', async (t) => {
  if (!requireRoot(t)) return
  const lab = await Lab.create(t)
  const { mesh, nodes, hosts } = await meshOnBridge(lab, ['l1', 'l2'], {})
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
  const laneOf = async (from: typeof a, to: typeof a) =>
    (await mesh.peers(from)).find((p) => p.node_id === to.node.nodeId)?.bus_lane ?? null
  const lanes = async () => [await laneOf(a, b), await laneOf(b, a)]
  /** Inserts (-I) or deletes (-D) the rules making B drop all TCP but loopback's, both ways. */
  const tcpCut = async (op: '-I' | '-D') => {
    for (const [chain, dir] of [
      ['INPUT', '-i'],
      ['OUTPUT', '-o'],
    ] as const)
      await hosts[1]!.execOk(['iptables', op, chain, '-p', 'tcp', '!', dir, 'lo', '-j', 'DROP'])
  }
  await waitFor(async () => (await lanes()).every((l) => l === 'tcp'), {
    timeoutMs: 60_000,
    intervalMs: 200,
    what: 'the bus between the two on a TCP lane',
  })

  const subClient = new BlackroadClient({ socketPath: b.daemon!.socketPath })
  const got: number[] = []
  void (async () => {
    try {
      for await (const m of subClient.subscribe('lane.test')) got.push(Number(m.data))
    } catch {
      // ends with the test
    }
  })()
  const pub = new BlackroadClient({ socketPath: a.daemon!.socketPath })
  let seq = 0
  const publish = async () => {
    await pub.publish({ subject: 'lane.test', data: String(seq++) })
  }
  /** Publishes 20 more and waits until B's subscriber has all 20. */
  const twentyArrive = async (what: string) => {
    const first = seq
    for (let i = 0; i < 20; i++) await publish()
    await waitFor(async () => got.filter((n) => n >= first).length === 20, {
      timeoutMs: 10_000,
      intervalMs: 100,
      what,
    })
  }
  try {
    // The subscription has reached A when a message arrives.
    await waitFor(
      async () => {
        await publish()
        return got.length > 0
      },
      { timeoutMs: 15_000, intervalMs: 100, what: "B's subscriber hears A" },
    )

    const cutAt = Date.now()
    const firstCut = seq
    await tcpCut('-I')
    // Publishing every 50 ms: A's lane hears nothing back, pings, gives up; B hears the DROP on the link.
    let fellBackMs = -1
    for (let i = 0; i < 400 && fellBackMs < 0; i++) {
      await publish()
      await sleepMs(50)
      if (i % 4 === 3 && (await lanes()).every((l) => l === 'link')) fellBackMs = Date.now() - cutAt
    }
    assert.ok(
      fellBackMs >= 0,
      `the lane was still in use 20 s after the cut: ${await lanes()}; ${got.filter((n) => n >= firstCut).length} of ${seq - firstCut} published since arrived`,
    )
    const firstAfter = seq
    await twentyArrive('the messages published after the fallback, over the peer link')
    const swallowed = firstAfter - firstCut - got.filter((n) => n >= firstCut && n < firstAfter).length
    t.diagnostic(
      `lane given up ${fellBackMs} ms after the cut; ${swallowed} of ${firstAfter - firstCut} messages published meanwhile were lost`,
    )
    assert.equal(got.length, new Set(got).size, 'no message delivered twice')

    await tcpCut('-D')
    const healedAt = Date.now()
    await waitFor(async () => (await lanes()).every((l) => l === 'tcp'), {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: 'the lane dialled again once TCP flows',
    })
    t.diagnostic(`lane back ${Date.now() - healedAt} ms after TCP was let through again`)
    await twentyArrive('messages over the new lane')
  } finally {
    pub.close()
    subClient.close()
  }
})
