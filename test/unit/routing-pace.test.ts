// Traffic-aware probing (routing/driver.ts, routing/watch.ts) over an in-memory full mesh in virtual time:
// idle links are probed at the idle interval, watch links at the watch interval, links with traffic at the fast
// one; every router has a watch link; a router that dies silently is marked down by every other one within
// about the watch link's dead interval (its watcher notices, the others check at once) although their own
// links to it were idle; a suspected router (the daemon's cue: its TCP lane closed) is marked down within about
// the dead-link timeout when it is gone and stays up when it answers; a record from its origin is not
// forwarded to routers the origin reaches itself.
//
// Timing bounds here are functional (a dead router noticed within about its watch link's dead interval, where
// idle links alone would need four times that), with wide margins.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { generateKeyPair, type KeyPair, nodeIdFromPublicKey } from '../../src/identity/index.js'
import { RoutingDriver } from '../../src/routing/driver.js'
import { graphFromEdges } from '../../src/routing/graph.js'
import { LinkMonitor } from '../../src/routing/probe.js'
import { watchPartners } from '../../src/routing/watch.js'
import { advance as sleep, until, useVirtualTime, virtualNow } from '../helpers/virtual-time.js'

useVirtualTime()

const FAST = 50
const WATCH = 250
const IDLE = 1000
const DEAD = 250
/** The dead interval of an idle watch link: DEAD scaled like the interval. */
const WATCH_DEAD = (DEAD * WATCH) / FAST
/** The dead interval of an idle link. */
const IDLE_DEAD = (DEAD * IDLE) / FAST

function mesh(n: number, delayMs = 1) {
  const keys: KeyPair[] = Array.from({ length: n }, () => generateKeyPair())
  const ids = keys.map((k) => nodeIdFromPublicKey(k.publicKey))
  const dead = new Set<string>()
  /** Links ("a|b", both directions) whose probes are dropped; records still go through (they ride the stream). */
  const cut = new Set<string>()
  const timers = new Set<NodeJS.Timeout>()
  /** "from|to" → probes sent. */
  const probes = new Map<string, number>()
  /** Every record send: sender, receiver, origin. */
  const records: { from: string; to: string; origin: string }[] = []
  const drivers = new Map<string, RoutingDriver>()
  const later = (fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t)
      fn()
    }, delayMs)
    timers.add(t)
  }
  for (const [i, id] of ids.entries()) {
    const d = new RoutingDriver({
      localId: id,
      nodeKey: keys[i]!,
      keyOf: (x) => keys[ids.indexOf(x)]?.publicKey,
      addressesOf: (x) => [`100.64.0.${ids.indexOf(x) + 1}/32`],
      probeIntervalMs: FAST,
      deadLinkTimeoutMs: DEAD,
      idleProbeIntervalMs: IDLE,
      watchProbeIntervalMs: WATCH,
      // Pacing by traffic, watch and suspicion only (the young-link rule has its test in routing-driver.test.ts).
      settleMs: 0,
      monotonicNow: virtualNow,
      transport: {
        sendProbe: (peer, datagram) => {
          probes.set(`${id}|${peer}`, (probes.get(`${id}|${peer}`) ?? 0) + 1)
          if (dead.has(id) || dead.has(peer) || cut.has(`${id}|${peer}`)) return true
          later(() => drivers.get(peer)?.onProbeDatagram(id, datagram))
          return true
        },
        sendRecord: (peer, origin, bytes) => {
          records.push({ from: id, to: peer, origin })
          if (dead.has(id) || dead.has(peer)) return
          later(() => drivers.get(peer)?.onRecord(id, bytes))
        },
      },
    })
    drivers.set(id, d)
  }
  return {
    ids,
    drivers,
    probes,
    records,
    start() {
      for (const d of drivers.values()) d.start()
      for (const a of ids) for (const b of ids) if (a !== b) drivers.get(a)!.neighbourUp(b)
    },
    /** Silently kills a router: it sends and receives nothing, and its peers get no link-down. */
    kill(id: string) {
      dead.add(id)
      drivers.get(id)!.stop()
    },
    /** Drops (or, with `on` false, passes again) the probes between two routers, as a filter on their link. */
    cutLink(a: string, b: string, on = true) {
      for (const k of [`${a}|${b}`, `${b}|${a}`]) on ? cut.add(k) : cut.delete(k)
    },
    stop() {
      for (const d of drivers.values()) d.stop()
      for (const t of timers) clearTimeout(t)
    },
    allUp: () => ids.every((a) => ids.every((b) => a === b || drivers.get(a)!.metrics(b)?.state === 'up')),
  }
}

/** Runs `body` on a started mesh of `n` routers once every link is up and `settleMs` more passed; stops it after. */
async function withMesh(n: number, settleMs: number, body: (m: ReturnType<typeof mesh>) => Promise<void>) {
  const m = mesh(n)
  try {
    m.start()
    await until('all links up', m.allUp, 3000)
    await sleep(settleMs)
    await body(m)
  } finally {
    m.stop()
  }
}

test('watch links: a matching in id order; every router with a link has a partner, and partners agree', () => {
  const full = (names: string[]) => {
    const edges: [string, string, number][] = []
    for (const a of names) for (const b of names) if (a < b) edges.push([a, b, 1000])
    return graphFromEdges(edges)
  }
  const four = full(['a', 'b', 'c', 'd'])
  assert.deepEqual(watchPartners(four, 'a'), ['b'])
  assert.deepEqual(watchPartners(four, 'b'), ['a'])
  assert.deepEqual(watchPartners(four, 'c'), ['d'])
  assert.deepEqual(watchPartners(four, 'd'), ['c'])
  // Odd: the router left over leans on its first neighbour, who watches it back.
  const five = full(['a', 'b', 'c', 'd', 'e'])
  assert.deepEqual(watchPartners(five, 'e'), ['a'])
  assert.deepEqual(watchPartners(five, 'a'), ['b', 'e'])
  assert.deepEqual(watchPartners(five, 'c'), ['d'])
  // A line a-b-c-d: a-b and c-d; a star's leaves all lean on the hub.
  const line = graphFromEdges([
    ['a', 'b', 1],
    ['b', 'c', 1],
    ['c', 'd', 1],
  ])
  assert.deepEqual(
    ['a', 'b', 'c', 'd'].map((x) => watchPartners(line, x)),
    [['b'], ['a'], ['d'], ['c']],
  )
  const star = graphFromEdges([
    ['hub', 'x', 1],
    ['hub', 'y', 1],
    ['hub', 'z', 1],
  ])
  assert.deepEqual(watchPartners(star, 'hub'), ['x', 'y', 'z'])
  assert.deepEqual(watchPartners(star, 'z'), ['hub'])
  for (const g of [five, full(['a', 'b', 'c', 'd', 'e', 'f', 'g'])])
    for (const u of g.nodes) {
      assert.ok(watchPartners(g, u).length >= 1, `${u} has a watch link`)
      for (const v of watchPartners(g, u)) assert.ok(watchPartners(g, v).includes(u), `${u}-${v} agreed`)
    }
  assert.deepEqual(watchPartners(graphFromEdges([]), 'a'), [])
})

test('idle links are probed at the idle interval, watch links at the watch one, links with traffic fast', async () => {
  // A fresh link stays fast for one watch interval; then the watch links slow to theirs and the others to idle.
  await withMesh(4, WATCH + 2 * FAST, async (m) => {
    const [a] = m.ids as [string]
    const da = m.drivers.get(a)!
    const watch = da.watching()
    assert.equal(watch.length, 1, 'four routers: one watch link each')
    const idle = m.ids.filter((x) => x !== a && !watch.includes(x))
    assert.equal(idle.length, 2)
    for (const x of idle) assert.equal(da.probeIntervalOf(x), IDLE)
    assert.equal(da.probeIntervalOf(watch[0]!), WATCH)

    const before = new Map(m.probes)
    const windowMs = 2000
    await sleep(windowMs)
    const sentOn = (from: string, to: string) =>
      (m.probes.get(`${from}|${to}`) ?? 0) - (before.get(`${from}|${to}`) ?? 0)
    for (const x of idle) {
      const n = sentOn(a, x)
      assert.ok(n >= 1 && n <= windowMs / IDLE + 2, `idle link ${a}->${x}: ${n} probes in ${windowMs} ms`)
    }
    const w = sentOn(a, watch[0]!)
    assert.ok(
      w >= windowMs / WATCH / 2 && w <= windowMs / WATCH + 2,
      `watch link: ${w} probes in ${windowMs} ms`,
    )
    // Per router, a quiet mesh of four probes one link at the watch pace and two at the idle one: well under
    // the 3 links x 40 probes of probing all fast.
    const total = m.ids.filter((x) => x !== a).reduce((s, x) => s + sentOn(a, x), 0)
    assert.ok(total <= windowMs / WATCH + 2 * (windowMs / IDLE) + 4, `router sent ${total} probes`)

    // Traffic on an idle link makes it fast at once, both ends (the peer answers at our pace).
    const x = idle[0]!
    da.noteTraffic(x)
    assert.equal(da.probeIntervalOf(x), FAST)
    const b0 = m.probes.get(`${x}|${a}`) ?? 0
    await sleep(1000)
    const back = (m.probes.get(`${x}|${a}`) ?? 0) - b0
    assert.ok(back >= 1000 / FAST / 2, `the peer answered at the fast pace: ${back} in 1 s`)
    assert.ok(m.allUp(), 'no link went down while changing pace')
  })
})

test('links slowing down at both ends at once count no loss: a held answer is not a lost probe', async () => {
  // Every link starts fast and slows to its watch or idle pace when its fast period ends, at both ends within a
  // round of each other. The first slow probes meet a peer that, slow as well now, holds its answer for up to
  // its own slow interval; the prober must allow for that rather than for the fast interval of the peer's last
  // probe. Nothing is dropped in this mesh, so any loss reported is a wrong one (and it would flood records and
  // move routes onto relays at idle).
  await withMesh(4, WATCH + 2 * FAST, async (m) => {
    const worst = () => {
      let w = 0
      for (const a of m.ids)
        for (const b of m.ids) if (a !== b) w = Math.max(w, m.drivers.get(a)!.metrics(b)?.lossPermille ?? 0)
      return w
    }
    let seen = 0
    const until = Date.now() + 3 * IDLE
    while (Date.now() < until) {
      seen = Math.max(seen, worst())
      await sleep(FAST)
    }
    assert.equal(seen, 0, `loss reported on a mesh that drops nothing: ${seen} permille`)
    assert.ok(m.allUp())
  })
})

test('a silently dead router is marked down by every other router within about its watch dead interval', async () => {
  await withMesh(7, WATCH + 2 * FAST, async (m) => {
    const victim = m.ids[2]!
    const others = m.ids.filter((x) => x !== victim)
    // Most links to the victim are idle: on their own they would take the idle dead interval (20 x DEAD).
    const idleTowardVictim = others.filter((x) => m.drivers.get(x)!.probeIntervalOf(victim) === IDLE)
    assert.ok(idleTowardVictim.length >= 2, `${idleTowardVictim.length} idle links to the victim`)
    m.kill(victim)
    const downCount = () => others.filter((x) => m.drivers.get(x)!.metrics(victim)?.state === 'down').length
    const first = await until('a router marks the victim down', () => downCount() > 0, 6000)
    const ms = first + (await until('every router marks it down', () => downCount() === others.length, 6000))
    // The watcher notices within its dead interval; the others follow in round trips, all at once, not one
    // after another as each becomes the victim's next watcher.
    assert.ok(ms - first < DEAD * 0.8, `the others followed the first after ${ms - first} ms`)
    assert.ok(
      ms < WATCH_DEAD + WATCH + DEAD,
      `marked down everywhere after ${ms} ms (watch dead interval ${WATCH_DEAD} ms)`,
    )
    // The routers still up keep their links to each other.
    assert.ok(
      others.every((u) => others.every((v) => u === v || m.drivers.get(u)!.metrics(v)?.state === 'up')),
    )
  })
})

test('a suspected router is marked down within about the dead-link timeout when gone, and stays up when not', async () => {
  await withMesh(5, WATCH + 2 * FAST, async (m) => {
    const [a, b] = m.ids as [string, string]
    const da = m.drivers.get(a)!
    // A live router suspected: probed fast for a while, answers, and goes back to its slower pace.
    const slow = da.probeIntervalOf(b)
    assert.ok(slow === WATCH || slow === IDLE, `a-b idle before: ${slow} ms`)
    da.suspect(b)
    assert.equal(da.probeIntervalOf(b), FAST)
    await until('a-b back at its slow pace', () => da.probeIntervalOf(b) === slow, WATCH + 4 * FAST + 500)
    assert.equal(da.metrics(b)?.state, 'up', 'a live router stays up')

    // A silently dead router that every other one suspects at once (as when its kernel closed its lanes):
    // down everywhere within the dead-link timeout of the last answer, not the idle links' dead interval.
    const victim = m.ids[3]!
    const others = m.ids.filter((x) => x !== victim)
    m.kill(victim)
    for (const x of others) m.drivers.get(x)!.suspect(victim)
    const ms = await until(
      'every router marks the suspected victim down',
      () => others.every((x) => m.drivers.get(x)!.metrics(victim)?.state === 'down'),
      WATCH_DEAD,
    )
    assert.ok(
      ms < DEAD + 4 * FAST,
      `marked down everywhere ${ms} ms after the suspicion (dead-link timeout ${DEAD} ms)`,
    )
    assert.ok(
      others.every((u) => others.every((v) => u === v || m.drivers.get(u)!.metrics(v)?.state === 'up')),
      'the others keep their links',
    )
  })
})

test('a link failing while one end is idle: both ends mark it down, and it comes back with no loss counted', async () => {
  await withMesh(4, WATCH + 2 * FAST, async (m) => {
    // A pair that is not a watch link: idle at both ends, so the idle end alone would take IDLE_DEAD.
    const [a] = m.ids as [string]
    const da = m.drivers.get(a)!
    const b = m.ids.find((x) => x !== a && !da.watching().includes(x))!
    const db = m.drivers.get(b)!
    assert.equal(db.probeIntervalOf(a), IDLE, 'b -> a idle before')
    // Traffic at A's end only (A routes through the link, B's replies take another path), then the link's
    // probes are lost both ways.
    const traffic = setInterval(() => da.noteTraffic(b), FAST)
    try {
      da.noteTraffic(b)
      m.cutLink(a, b)
      await until('A marks the link down', () => da.metrics(b)?.state === 'down', 4 * DEAD)
      // B reads A's record without the link: that is its cue to check its own end at once.
      const ms = await until('B marks it down too', () => db.metrics(a)?.state === 'down', IDLE_DEAD)
      assert.ok(ms < 2 * DEAD + 4 * FAST, `B followed ${ms} ms after A (idle dead interval ${IDLE_DEAD} ms)`)
      await sleep(IDLE)
      m.cutLink(a, b, false)
      await until(
        'both ends up again',
        () => db.metrics(a)?.state === 'up' && da.metrics(b)?.state === 'up',
        2000,
      )
      // The outage's lost probes went with the down state: the link returns with its loss history cleared.
      await sleep(4 * FAST)
      for (const [x, y] of [
        [da, b],
        [db, a],
      ] as const)
        assert.ok(
          x.metrics(y)!.lossPermille < 100,
          `loss after the heal: ${x.metrics(y)!.lossPermille} permille`,
        )
    } finally {
      clearInterval(traffic)
    }
  })
})

test('a record from its origin is not forwarded to routers the origin reaches itself', async () => {
  await withMesh(4, 300, async (m) => {
    // A loses its link to B and floods a record to C and D; they pass it on to B only (A no longer lists B),
    // not to each other (A sent it to both).
    const [a, b, c, d] = m.ids as [string, string, string, string]
    m.records.length = 0
    m.drivers.get(a)!.neighbourDown(b)
    await sleep(40)
    const ofA = m.records.filter((r) => r.origin === a)
    const sends = (from: string) =>
      ofA
        .filter((r) => r.from === from)
        .map((r) => r.to)
        .sort()
    assert.deepEqual(sends(a), [c, d].sort(), 'the origin sent its record to its two neighbours')
    assert.deepEqual(sends(c), [b], 'C forwarded it to B only')
    assert.deepEqual(sends(d), [b], 'D forwarded it to B only')
  })
})

test('LinkMonitor.setPace: a slower peer gets a longer dead interval; a shorter hold forgets older probes', () => {
  const lm = new LinkMonitor({
    deadLinkTimeoutMs: 100,
    replyDelayMs: 20,
    probeTimeoutMs: 60,
    upAfterReplies: 1,
  })
  let seq = 0
  const probe = (at: number) => {
    lm.onProbeSent('p', ++seq, at)
    return seq
  }
  lm.onProbeReply('p', probe(0), 1)
  assert.equal(lm.state('p'), 'up')
  // Idle pace: the peer holds replies up to 500 ms and the link is dead only after 1 s of silence.
  lm.setPace('p', { replyDelayMs: 500, deadLinkTimeoutMs: 1000 })
  probe(10)
  probe(510)
  assert.ok(
    lm.tick(800).every((e) => e.type !== 'link-down'),
    'not dead at 800 ms: still within the idle dead interval',
  )
  assert.equal(lm.state('p'), 'up')
  // Fast again, the peer answering at once: the idle probes still held are forgotten, not counted.
  lm.setPace('p', { replyDelayMs: 0 })
  assert.ok(lm.tick(810).every((e) => e.type !== 'link-down'))
  assert.equal(lm.state('p'), 'up', 'probes sent at the idle pace did not count against the link')
  probe(820)
  probe(840)
  const events = lm.tick(900)
  assert.deepEqual(
    events.map((e) => e.type),
    ['link-down'],
    'two unanswered fast probes after silence: down',
  )
})
