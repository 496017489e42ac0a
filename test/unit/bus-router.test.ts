// The bus router in an in-memory mesh of fake links: pub/sub across hops with interest propagation,
// request/reply and its timeout, direct sends to agents, hop limits, duplicate suppression, subject
// fan-out with one copy per link, interest withdrawal and expiry, link loss, metrics, malformed input.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  BusError,
  type Envelope,
  encodeBatch,
  encodeEnvelope,
  encodeInterest,
  makeEnvelope,
} from '../../src/bus/index.js'
import { buildMesh, dec, enc } from './bus-harness.js'

const line = () =>
  buildMesh(
    ['a', 'b', 'c'],
    [
      ['a', 'b', { latencyMs: 1 }],
      ['b', 'c', { latencyMs: 1 }],
    ],
  )

const rejectsWith = (code: string) => (e: unknown) => e instanceof BusError && e.code === code

describe('pub/sub', () => {
  test('a message published on a reaches a subscriber on c across 2 hops, once', async () => {
    const m = line()
    const got: Envelope[] = []
    m.r('c').subscribe('orders.*', (msg) => got.push(msg))
    await m.sched.advance(10)
    await m.r('a').publish('orders.new', enc('o-1'), { from: 'shop' })
    await m.sched.advance(10)
    assert.equal(got.length, 1)
    assert.equal(dec(got[0]!.payload), 'o-1')
    assert.equal(got[0]!.srcNode, 'a')
    assert.equal(got[0]!.srcAgent, 'shop')
    assert.equal(got[0]!.subject, 'orders.new')
    assert.equal(m.r('b').metrics.snapshot().in['a/orders'], 1, 'b forwarded it')
  })

  test('messages go only where someone listens', async () => {
    const m = line()
    m.r('b').subscribe('only.b', () => {})
    await m.sched.advance(10)
    const before = m.link('b', 'c').framesSent
    await m.r('a').publish('only.b', enc('x'))
    await m.r('a').publish('nobody.here', enc('x'))
    await m.sched.advance(10)
    assert.equal(m.link('b', 'c').framesSent, before, 'nothing crossed b>c')
    assert.equal(m.r('a').metrics.droppedTotal('no_interest'), 1)
  })

  test('local subscribers get local publishes synchronously', async () => {
    const m = line()
    const got: string[] = []
    m.r('a').subscribe('>', (msg) => got.push(msg.subject))
    await m.r('a').publish('x.y', enc(''))
    assert.deepEqual(got, ['x.y'])
  })

  test('fan-out sends one copy per link, listing the nodes behind it', async () => {
    const m = buildMesh(
      ['a', 'b', 'c', 'd'],
      [
        ['a', 'b'],
        ['b', 'c'],
        ['b', 'd'],
      ],
    )
    const got: string[] = []
    m.r('c').subscribe('ev.>', () => got.push('c'))
    m.r('d').subscribe('ev.*', () => got.push('d'))
    m.r('b').subscribe('ev.x', () => got.push('b'))
    await m.sched.advance(5)
    m.link('a', 'b').keepLog = true
    await m.r('a').publish('ev.x', enc('e'))
    await m.sched.advance(5)
    assert.deepEqual(got.sort(), ['b', 'c', 'd'])
    assert.equal(m.link('a', 'b').log.length, 1, 'one frame a>b for three destinations')
  })

  test('unsubscribing withdraws interest across the mesh', async () => {
    const m = line()
    const sub = m.r('c').subscribe('t.*', () => {})
    await m.sched.advance(10)
    sub.unsubscribe()
    await m.sched.advance(10)
    const before = m.link('a', 'b').framesSent
    await m.r('a').publish('t.1', enc(''))
    await m.sched.advance(10)
    assert.equal(m.link('a', 'b').framesSent, before)
  })

  test('interest of a node that stops refreshing expires; of an unknown node, at once', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b']], {
      limits: { interestRefreshMs: 1000, interestTtlMs: 3000 },
    })
    m.r('b').subscribe('t', () => {})
    await m.sched.advance(10)
    assert.deepEqual(m.r('a').interest.match('t'), ['b'])
    m.cut('a', 'b')
    await m.sched.advance(4000)
    assert.deepEqual(m.r('a').interest.match('t'), [])
    const m2 = buildMesh(['a', 'b'], [['a', 'b']])
    m2.r('b').subscribe('t', () => {})
    await m2.sched.advance(10)
    m2.r('a').setKnownNodes(['a'])
    assert.deepEqual(m2.r('a').interest.match('t'), [])
  })
})

test('an interest record from its own node is not passed on to the nodes that node reaches itself', async () => {
  const names = ['a', 'b', 'c', 'd']
  const edges: [string, string][] = []
  for (const x of names) for (const y of names) if (x < y) edges.push([x, y])
  const framesSent = (m: ReturnType<typeof buildMesh>) =>
    [...m.links.values()].reduce((n, l) => n + l.framesSent, 0)
  const announce = async (direct: boolean) => {
    const m = buildMesh(names, edges)
    await m.sched.advance(10)
    if (direct) for (const n of names) m.r(n).setDirectLinks((x) => new Set(names.filter((y) => y !== x)))
    const before = framesSent(m)
    m.r('a').subscribe('t.*', () => {})
    await m.sched.advance(10)
    // Everyone still learns the interest: a publish from each reaches a.
    for (const n of ['b', 'c', 'd']) assert.deepEqual(m.r(n).interest.match('t.x'), ['a'], `${n} knows`)
    return framesSent(m) - before
  }
  // a's record: 3 sends from a; without routing's view each of b, c, d passes it to the two others.
  assert.equal(await announce(false), 9)
  assert.equal(await announce(true), 3)
})

test("a node's own interest record coming back to it ends the flood (no echo storm while routing's view is incomplete)", async () => {
  // a—b and b—c are fast, a—c slow: c hears a's record from b first (not from its node), passes it on to a,
  // and a gets its own current record back. That must not make a announce again: with a re-announcement on an
  // equal version each echo started a new flood, for as long as some neighbour forwarded back (seen in an
  // 11-node mesh while links came up: interest frames were most of what the daemons wrote).
  const m = buildMesh(
    ['a', 'b', 'c'],
    [
      ['a', 'b', { latencyMs: 1 }],
      ['b', 'c', { latencyMs: 1 }],
      ['a', 'c', { latencyMs: 10 }],
    ],
  )
  await m.sched.advance(100)
  const sent = () => [...m.links.values()].reduce((n, l) => n + l.framesSent, 0)
  const before = sent()
  m.r('a').subscribe('t.*', () => {})
  await m.sched.advance(1000)
  for (const n of ['b', 'c']) assert.deepEqual(m.r(n).interest.match('t.x'), ['a'], `${n} knows`)
  // a's 2 sends, b's and c's forwards, and the record c passes back to a: a handful, not one flood per echo.
  assert.ok(sent() - before <= 6, `${sent() - before} frames for one change`)
})

test("a record of a node's previous life with its current version but other patterns is outranked", async () => {
  const m = buildMesh(['a', 'b'], [['a', 'b']])
  m.r('a').subscribe('t.*', () => {})
  await m.sched.advance(10)
  const own = m.r('a').interest.version('a')
  assert.equal(own, undefined, 'a does not hold its own record')
  const bHeld = m.r('b').interest.version('a')!
  // b hands a a record naming a at a's current version, with patterns a no longer has (its previous life).
  m.r('a').receive('b', encodeInterest({ node: 'a', version: bHeld, patterns: ['old.*'] }))
  await m.sched.advance(10)
  assert.ok(m.r('b').interest.version('a')! > bHeld, 'a announced a newer version')
  assert.deepEqual(m.r('b').interest.match('t.x'), ['a'])
  assert.deepEqual(m.r('b').interest.match('old.x'), [])
})

describe('request/reply', () => {
  test('a request across the mesh gets its reply', async () => {
    const m = line()
    m.r('c').subscribe('svc.echo', (req) => void m.r('c').reply(req, enc(`echo:${dec(req.payload)}`)))
    await m.sched.advance(10)
    const reply = m.r('a').request('svc.echo', enc('ping'), { timeoutMs: 100 })
    await m.sched.advance(10)
    const r = await reply
    assert.equal(dec(r.payload), 'echo:ping')
    assert.equal(r.srcNode, 'c')
  })

  test('requestWith: the callback runs inside the call that hands in the reply; bad input throws', async () => {
    const m = line()
    m.r('c').subscribe('svc.echo', (req) => void m.r('c').reply(req, enc(`echo:${dec(req.payload)}`)))
    await m.sched.advance(10)
    const got: string[] = []
    const table = m.r('a').requests
    const resolve = table.resolve.bind(table)
    let seenByResolve = -1
    table.resolve = (seq, env) => {
      const ok = resolve(seq, env)
      seenByResolve = got.length
      return ok
    }
    m.r('a').requestWith('svc.echo', enc('ping'), { timeoutMs: 100 }, (err, reply) =>
      got.push(err === null ? dec(reply!.payload) : err.code),
    )
    await m.sched.advance(10)
    assert.deepEqual(got, ['echo:ping'])
    assert.equal(seenByResolve, 1, 'answered before resolve() returned: no promise in between')
    assert.throws(
      () => m.r('a').requestWith('nobody', enc(''), undefined, () => got.push('called')),
      rejectsWith('NO_RESPONDERS'),
    )
    assert.equal(m.r('a').requests.size, 0)
    await m.sched.advance(10)
    assert.deepEqual(got, ['echo:ping'], 'a refused request never calls back')
  })

  test('no reply within the timeout fails with TIMEOUT; the late reply is dropped and counted', async () => {
    const m = line()
    const held: Envelope[] = []
    m.r('c').subscribe('svc.slow', (req) => held.push(req))
    await m.sched.advance(10)
    const reply = m.r('a').request('svc.slow', enc('?'), { timeoutMs: 50 })
    const settled = reply.then(
      () => 'resolved',
      (e: unknown) => e,
    )
    await m.sched.advance(49)
    assert.equal(held.length, 1)
    await m.sched.advance(2)
    const err = await settled
    assert.ok(err instanceof BusError && err.code === 'TIMEOUT', String(err))
    await m.r('c').reply(held[0]!, enc('too late'))
    await m.sched.advance(10)
    assert.equal(m.r('a').metrics.droppedTotal('late_reply'), 1)
    assert.equal(m.r('a').requests.size, 0)
  })

  test('a request nobody subscribes to fails at once with NO_RESPONDERS', async () => {
    const m = line()
    await assert.rejects(m.r('a').request('nobody', enc('')), rejectsWith('NO_RESPONDERS'))
  })

  test('a request to a missing agent on another node fails with NO_RESPONDERS from that node', async () => {
    const m = line()
    const reply = m.r('a').request({ node: 'c', agent: 'ghost' }, enc(''), { timeoutMs: 1000 })
    const checked = assert.rejects(reply, rejectsWith('NO_RESPONDERS'))
    await m.sched.advance(10)
    await checked
  })

  test('the responder can refuse with an error code', async () => {
    const m = line()
    m.r('c').registerAgent('db', (req) => void m.r('c').replyError(req, 'LIMIT', 'too busy'))
    const reply = m.r('a').request({ node: 'c', agent: 'db' }, enc(''))
    const checked = assert.rejects(
      reply,
      (e: unknown) => e instanceof BusError && e.code === 'LIMIT' && /too busy/.test(e.message),
    )
    await m.sched.advance(10)
    await checked
  })

  test('replies are checked like sends', async () => {
    const m = line()
    const held: Envelope[] = []
    m.r('c').subscribe('svc', (req) => held.push(req))
    await m.sched.advance(10)
    void m
      .r('a')
      .request('svc', enc(''), { timeoutMs: 100 })
      .catch(() => {})
    await m.sched.advance(10)
    const req = held[0]!
    await assert.rejects(m.r('c').reply(req, enc(''), { from: 'bad name' }), rejectsWith('INVALID_ADDRESS'))
    await assert.rejects(m.r('c').reply(req, new Uint8Array(1024 * 1024 + 1)), rejectsWith('TOO_LARGE'))
    await assert.rejects(m.r('c').reply(req, enc(''), { priority: 0 }), rejectsWith('INVALID_OPTIONS'))
    const notRequest = { ...req, flags: 0 }
    await assert.rejects(m.r('c').reply(notRequest, enc('')), rejectsWith('INVALID_OPTIONS'))
    await m.sched.advance(200)
  })

  test('first reply wins when several subscribers answer', async () => {
    const m = buildMesh(
      ['a', 'b', 'c'],
      [
        ['a', 'b', { latencyMs: 1 }],
        ['a', 'c', { latencyMs: 5 }],
      ],
    )
    m.r('b').subscribe('q', (req) => void m.r('b').reply(req, enc('b')))
    m.r('c').subscribe('q', (req) => void m.r('c').reply(req, enc('c')))
    await m.sched.advance(20)
    const reply = m.r('a').request('q', enc(''))
    await m.sched.advance(20)
    assert.equal(dec((await reply).payload), 'b')
    assert.equal(m.r('a').metrics.droppedTotal('late_reply'), 1)
  })
})

describe('direct sends', () => {
  test('reach an agent on another node', async () => {
    const m = line()
    const got: Envelope[] = []
    m.r('c').registerAgent('worker-1', (msg) => got.push(msg))
    await m.r('a').send({ node: 'c', agent: 'worker-1' }, enc('job'), { from: 'boss', subject: 'jobs.new' })
    await m.sched.advance(10)
    assert.equal(got.length, 1)
    assert.equal(got[0]!.agent, 'worker-1')
    assert.equal(got[0]!.srcAgent, 'boss')
    assert.equal(got[0]!.subject, 'jobs.new')
  })

  test('to the node itself reach the node handler', async () => {
    const m = line()
    const got: string[] = []
    m.r('c').onNodeMessage((msg) => got.push(dec(msg.payload)))
    await m.r('a').send({ node: 'c', agent: '' }, enc('raft'))
    await m.sched.advance(10)
    assert.deepEqual(got, ['raft'])
  })

  test('fail with NO_ROUTE when routing knows no next hop, and refuse bad addresses', async () => {
    const m = line()
    await assert.rejects(m.r('a').send({ node: 'zz', agent: 'x' }, enc('')), rejectsWith('NO_ROUTE'))
    await assert.rejects(m.r('a').send({ node: 'c', agent: 'a b' }, enc('')), rejectsWith('INVALID_ADDRESS'))
    await assert.rejects(
      m.r('a').send({ node: 'c', agent: 'x' }, enc(''), { priority: 11 }),
      rejectsWith('INVALID_OPTIONS'),
    )
    await assert.rejects(
      m.r('a').send({ node: 'c', agent: 'x' }, new Uint8Array(1024 * 1024 + 1)),
      rejectsWith('TOO_LARGE'),
    )
  })
})

describe('hop limit', () => {
  test('a message with too few hops left is dropped where it runs out, and counted', async () => {
    const m = line()
    const got: string[] = []
    m.r('c').registerAgent('w', (msg) => got.push(dec(msg.payload)))
    await m.r('a').send({ node: 'c', agent: 'w' }, enc('ttl1'), { ttl: 1 })
    await m.r('a').send({ node: 'c', agent: 'w' }, enc('ttl2'), { ttl: 2 })
    await m.sched.advance(10)
    assert.deepEqual(got, ['ttl2'])
    assert.equal(m.r('b').metrics.droppedTotal('ttl_expired'), 1)
  })

  test('every forwarding router consumes a hop, not only the origin', async () => {
    const m = buildMesh(
      ['a', 'b', 'c', 'd'],
      [
        ['a', 'b'],
        ['b', 'c'],
        ['c', 'd'],
      ],
    )
    const got: string[] = []
    m.r('d').registerAgent('w', (msg) => got.push(dec(msg.payload)))
    m.r('d').subscribe('t', (msg) => got.push(dec(msg.payload)))
    await m.sched.advance(5)
    await m.r('a').send({ node: 'd', agent: 'w' }, enc('direct-2'), { ttl: 2 })
    await m.r('a').send({ node: 'd', agent: 'w' }, enc('direct-3'), { ttl: 3 })
    await m.r('a').publish('t', enc('pub-2'), { ttl: 2 })
    await m.r('a').publish('t', enc('pub-3'), { ttl: 3 })
    await m.sched.advance(5)
    assert.deepEqual(got, ['direct-3', 'pub-3'])
    assert.equal(m.r('c').metrics.droppedTotal('ttl_expired'), 2)
  })
})

describe('duplicates', () => {
  test('a message that arrives twice is delivered once', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b', { duplicate: 1 }]])
    const got: string[] = []
    m.r('b').registerAgent('w', (msg) => got.push(dec(msg.payload)))
    m.r('b').subscribe('s', (msg) => got.push(dec(msg.payload)))
    await m.sched.advance(5)
    for (let i = 0; i < 5; i++) await m.r('a').send({ node: 'b', agent: 'w' }, enc(`d${i}`))
    await m.r('a').publish('s', enc('p'))
    await m.sched.advance(5)
    assert.deepEqual(got, ['d0', 'd1', 'd2', 'd3', 'd4', 'p'])
    assert.equal(m.r('b').metrics.droppedTotal('duplicate'), 6)
  })

  test('a replayed frame from a link is recognised too', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b']])
    const got: string[] = []
    m.r('b').registerAgent('w', (msg) => got.push(dec(msg.payload)))
    m.link('a', 'b').keepLog = true
    await m.r('a').send({ node: 'b', agent: 'w' }, enc('once'))
    await m.sched.advance(5)
    const frame = m.link('a', 'b').log.at(-1)!
    m.r('b').receive('a', frame)
    assert.deepEqual(got, ['once'])
  })
})

describe('links and input', () => {
  test('malformed frames and envelopes are counted, never thrown', () => {
    const m = line()
    const b = m.r('b')
    b.receive('a', new Uint8Array([]))
    b.receive('a', new Uint8Array([1, 5, 0]))
    b.receive('a', new Uint8Array([2, 0xff]))
    b.receive('a', encodeBatch([new Uint8Array([1, 2, 3])], 1))
    b.receive('a', new Uint8Array([9, 9, 9]))
    assert.equal(b.metrics.droppedTotal('malformed'), 5)
  })

  test('a link that goes away drops what was queued for it', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b', { bytesPerMs: 0.001, bufferBytes: 10 }]])
    // The first batch fills the link's buffer; the second stays queued.
    for (let i = 0; i < 10; i++) void m.r('a').send({ node: 'b', agent: 'w' }, enc('x'))
    await m.sched.advance(1)
    for (let i = 0; i < 10; i++) void m.r('a').send({ node: 'b', agent: 'w' }, enc('x'))
    await m.sched.advance(1)
    assert.ok(m.r('a').queueDepth('b')!.count > 0)
    m.r('a').removeLink('b')
    assert.ok(m.r('a').metrics.droppedTotal('link_down') > 0)
    await assert.rejects(m.r('a').send({ node: 'b', agent: 'w' }, enc('x')), rejectsWith('NO_ROUTE'))
  })

  test('an envelope for another node is forwarded even when this node is not on the list', async () => {
    const m = line()
    const got: string[] = []
    m.r('c').registerAgent('w', (msg) => got.push(msg.srcNode))
    const env = makeEnvelope({ srcNode: 'x', to: ['c'], agent: 'w', ttl: 3, seq: 1 })
    m.r('b').receive('a', encodeBatch([encodeEnvelope(env)], 1))
    await m.sched.advance(5)
    assert.deepEqual(got, ['x'])
  })

  test('metrics are exported on the registry', async () => {
    const m = buildMesh(['a', 'b'], [['a', 'b']], { registry: true })
    m.r('b').subscribe('orders.*', () => {})
    await m.sched.advance(5)
    await m.r('a').publish('orders.x', enc(''))
    await m.r('a').publish('nobody', enc(''))
    await m.sched.advance(5)
    const a = await m.registries.get('a')!.metrics()
    const b = await m.registries.get('b')!.metrics()
    assert.match(a, /blackroad_bus_messages_out_total\{link="b",prefix="orders"\} 1/)
    assert.match(a, /blackroad_bus_messages_dropped_total\{reason="no_interest",prefix="nobody"\} 1/)
    assert.match(a, /blackroad_bus_queue_depth\{link="b"\} 0/)
    assert.match(b, /blackroad_bus_messages_in_total\{link="a",prefix="orders"\} 1/)
    assert.match(b, /blackroad_bus_messages_out_total\{link="local",prefix="orders"\} 1/)
  })

  test('close fails what is pending with CLOSED', async () => {
    const m = line()
    m.r('c').subscribe('s', () => {})
    await m.sched.advance(10)
    const reply = m.r('a').request('s', enc(''), { timeoutMs: 1000 })
    m.r('a').close()
    await assert.rejects(reply, rejectsWith('CLOSED'))
    await assert.rejects(m.r('a').publish('s', enc('')), rejectsWith('CLOSED'))
  })
})
