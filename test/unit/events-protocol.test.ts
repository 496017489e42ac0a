// Federated events, the pure part: scope rules, the codec (total on bad bytes), id checks, dedup by id in a
// bounded window, forged sources; then over real BusRouters on fake links: an origin fans out only to the
// subscribing nodes inside the scope, and a receiver drops what is outside its own scope.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { BusError } from '../../src/bus/index.js'
import { PolicyEngine, PolicyPoint } from '../../src/policy/index.js'
import { SeededRng } from '../../src/protocols/core/index.js'
import {
  decodeEvent,
  EventError,
  encodeEvent,
  type FederatedEvent,
  FederatedEvents,
  IdWindow,
  inScope,
  type NodePlace,
  subscriptionSubject,
} from '../../src/protocols/events/index.js'
import { isDecodeError } from '../../src/wire/index.js'
import { buildMesh } from './bus-harness.js'

const places: Record<string, NodePlace> = {
  a: { cluster: 'alpha', region: 'west' },
  b: { cluster: 'beta', region: 'west' },
  c: { cluster: 'gamma', region: 'east' },
  a2: { cluster: 'alpha', region: 'west' },
}
const machine = (node: string) => new FederatedEvents({ node, ...places[node]! })

describe('scope rules', () => {
  test('local: same cluster; regional: same region; global: everyone', () => {
    const { a, b, c, a2 } = places
    assert.deepEqual(
      [
        inScope('local', a!, a2!),
        inScope('local', a!, b!),
        inScope('regional', a!, b!),
        inScope('regional', a!, c!),
      ],
      [true, false, true, false],
    )
    assert.ok(inScope('global', a!, c!))
    assert.ok(
      !inScope('local', { cluster: '', region: '' }, { cluster: '', region: '' }),
      'no cluster, no local scope',
    )
  })
})

describe('codec and checks', () => {
  const event: FederatedEvent = {
    id: 'e1',
    type: 'deploy.finished',
    scope: 'regional',
    sourceNode: 'a',
    sourceCluster: 'alpha',
    sourceRegion: 'west',
    timestamp: 1_764_000_000_000,
    data: '{"v":3}',
  }

  test('round-trips, and every truncation or flipped byte is a DecodeError or a valid event', () => {
    const bytes = encodeEvent(event)
    assert.deepEqual(decodeEvent(bytes), event)
    for (let n = 0; n < bytes.length; n++)
      assert.throws(() => decodeEvent(bytes.subarray(0, n)), isDecodeError)
    const rng = new SeededRng(7)
    for (let i = 0; i < 2000; i++) {
      const b = bytes.slice()
      b[rng.int(0, b.length - 1)] = rng.int(0, 255)
      try {
        const e = decodeEvent(b)
        assert.equal(typeof e.id, 'string')
      } catch (err) {
        assert.ok(isDecodeError(err), String(err))
      }
    }
  })

  test('types, scopes and ids are checked on publish with INVALID_EVENT', () => {
    const m = machine('a')
    const rng = new SeededRng(1)
    for (const bad of [
      { type: '', scope: 'local' },
      { type: 'a..b', scope: 'local' },
      { type: 'a.*', scope: 'local' },
      { type: 'ok', scope: 'planet' },
      { type: 'ok', scope: 'local', id: 'has space' },
    ]) {
      assert.throws(
        () => m.publish({ data: 'null', ...bad } as never, 0, rng),
        (e: unknown) => e instanceof EventError && e.code === 'INVALID_EVENT',
        JSON.stringify(bad),
      )
    }
    const lonely = new FederatedEvents({ node: 'x', cluster: '', region: '' })
    assert.throws(() => lonely.publish({ type: 'ok', scope: 'local', data: 'null' }, 0, rng), /no cluster/)
    assert.equal(lonely.publish({ type: 'ok', scope: 'global', data: 'null' }, 0, rng).duplicate, false)
  })

  test('subscription patterns map onto bus patterns; bad ones are INVALID_PATTERN', () => {
    assert.equal(subscriptionSubject('deploy.>'), '_events.deploy.>')
    assert.equal(subscriptionSubject('*.finished'), '_events.*.finished')
    for (const bad of ['', 'a.>.b', 'a b', 'a..b'])
      assert.throws(
        () => subscriptionSubject(bad),
        (e: unknown) => e instanceof EventError && e.code === 'INVALID_PATTERN',
        bad,
      )
  })
})

describe('receive', () => {
  const rng = new SeededRng(3)

  test('deduplicates by id within the window, and forgets after it', () => {
    const w = new IdWindow(100, 1000)
    assert.equal(w.check('x', 0), false)
    assert.equal(w.check('x', 500), true)
    assert.equal(w.check('x', 1600), false, 'outside the window it is new again')
    const small = new IdWindow(3, 60_000)
    for (const id of ['1', '2', '3', '4']) small.check(id, 0)
    assert.equal(small.size, 3)
    assert.equal(small.check('1', 0), false, 'the oldest was evicted')
  })

  test('a publish retried with the same id is not sent again', () => {
    const m = machine('a')
    const first = m.publish({ type: 't', scope: 'global', data: '1', id: 'same' }, 0, rng)
    const again = m.publish({ type: 't', scope: 'global', data: '1', id: 'same' }, 10, rng)
    assert.equal(first.duplicate, false)
    assert.equal(again.duplicate, true)
    assert.equal(again.event.id, 'same')
  })

  test('in scope: delivered once; a second copy is a duplicate', () => {
    const pub = machine('a').publish({ type: 't', scope: 'regional', data: '1' }, 0, rng)
    assert.equal(pub.duplicate, false)
    if (pub.duplicate) return
    const b = machine('b')
    assert.ok('deliver' in b.receive(pub.payload, 'a', places.a, 1))
    assert.deepEqual(b.receive(pub.payload, 'a', places.a, 2), { drop: 'duplicate', detail: pub.event.id })
  })

  test('out of scope, forged source and garbage are dropped with their reason', () => {
    const pub = machine('a').publish({ type: 't', scope: 'local', data: '1' }, 0, rng)
    if (pub.duplicate) throw new Error('unexpected duplicate')
    const drop = (r: ReturnType<FederatedEvents['receive']>) => ('drop' in r ? r.drop : 'delivered')
    assert.equal(drop(machine('b').receive(pub.payload, 'a', places.a, 1)), 'out_of_scope')
    assert.equal(drop(machine('a2').receive(pub.payload, 'a', places.a, 1)), 'delivered')
    // Relayed by another node, or the certificate says another cluster: not believed.
    assert.equal(drop(machine('a2').receive(pub.payload, 'b', places.b, 1)), 'forged')
    assert.equal(drop(machine('a2').receive(pub.payload, 'a', places.b, 1)), 'forged')
    assert.equal(drop(machine('a2').receive(pub.payload, 'a', undefined, 1)), 'forged')
    assert.equal(drop(machine('a2').receive(new Uint8Array([1, 2, 3]), 'a', places.a, 1)), 'malformed')
  })
})

describe('over bus routers', () => {
  // a - b - c in a line, plus a2 next to a; every node subscribes to deploy.>.
  function setup(policy?: (node: string) => PolicyPoint) {
    const names = ['a', 'a2', 'b', 'c']
    const m = buildMesh(
      names,
      [
        ['a', 'a2'],
        ['a', 'b'],
        ['b', 'c'],
      ],
      { policy: policy ? (n) => policy(n).hook : undefined },
    )
    const got: Record<string, string[]> = { a: [], a2: [], b: [], c: [] }
    const machines = Object.fromEntries(names.map((n) => [n, machine(n)]))
    for (const n of names) {
      m.r(n).subscribe(subscriptionSubject('deploy.>'), (env) => {
        const r = machines[n]!.receive(env.payload, env.srcNode, places[env.srcNode], m.sched.now)
        if ('deliver' in r) got[n]!.push(r.deliver.id)
      })
    }
    const publish = async (from: string, scope: 'local' | 'regional' | 'global', id: string) => {
      const p = machines[from]!.publish({ type: 'deploy.done', scope, data: 'null', id }, m.sched.now, m.rng)
      if (p.duplicate) return
      await m.r(from).publish(p.subject, p.payload, { only: (node) => p.reaches(places[node]) })
    }
    return { m, got, publish }
  }

  test('local, regional and global events reach exactly their scope (and the publisher itself)', async () => {
    const { m, got, publish } = setup()
    await m.sched.advance(50)
    await publish('a', 'local', 'L')
    await publish('a', 'regional', 'R')
    await publish('a', 'global', 'G')
    await m.sched.advance(200)
    assert.deepEqual(got, { a: ['L', 'R', 'G'], a2: ['L', 'R', 'G'], b: ['R', 'G'], c: ['G'] })
  })

  test('rate-limited publishers get RATE_LIMITED from their own router', async () => {
    const engine = () =>
      new PolicyEngine([
        { name: 'trickle', source: 'cluster/alpha', destination: 'cluster/*', rate_limit_rps: 2 },
      ])
    let now = 0
    const { m, got, publish } = setup(
      (node) =>
        new PolicyPoint({
          selfId: node,
          engine: engine(),
          directory: (id) => (places[id] ? { name: id, ...places[id]! } : undefined),
          path: { latencyMs: () => 1, encrypted: () => true },
          now: () => now,
        }),
    )
    await m.sched.advance(50)
    const results: string[] = []
    for (let i = 0; i < 5; i++) {
      await publish('a', 'global', `g${i}`).then(
        () => results.push('ok'),
        (e: unknown) => results.push(e instanceof BusError ? e.code : String(e)),
      )
    }
    await m.sched.advance(200)
    assert.deepEqual(results, ['ok', 'ok', 'RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED'])
    assert.deepEqual(got.c, ['g0', 'g1'])
    now = 1000
    await publish('a', 'global', 'later')
    await m.sched.advance(200)
    assert.deepEqual(got.c, ['g0', 'g1', 'later'])
  })
})
