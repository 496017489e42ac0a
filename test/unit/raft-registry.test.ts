// The registry, the state machine Raft replicates: each command's rules and rejection codes, IPv4
// allocation from 100.64.0.0/10 (never one address for two nodes, collisions resolved to the next free
// one), snapshot/restore (byte-identical whatever order the state was built in, bad snapshots refused
// without touching the current state), and property tests: random command sequences keep every invariant
// and replay deterministically; every decoder gives a value or a DecodeError on arbitrary bytes.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { SeededRng } from '../../src/protocols/core/index.js'
import {
  type Cluster,
  decodeQueryResult,
  decodeResult,
  encodeCommand,
  encodeQuery,
  formatIpv4,
  type JoiningNode,
  labelsOf,
  nextFreeIpv4,
  POOL_FIRST,
  POOL_LAST,
  parseIpv4,
  Registry,
  type RegistryCommand,
  registryCommandCodec,
  registryQueryCodec,
  registrySnapshotCodec,
  usableIpv4,
} from '../../src/protocols/registry/index.js'
import { DecodeError, decodeWith } from '../../src/wire/index.js'
import { registryCommand } from '../sim/raft-registry-app.js'

const cluster = (id: string, over: Partial<Cluster> = {}): Cluster => ({
  id,
  name: `${id}-name`,
  region: 'us-west-2',
  role: 'primary',
  capacity: { agents: 2, memoryMb: 0, gpu: 1 },
  labels: labelsOf({ tier: 'production' }),
  taints: [],
  cordoned: false,
  ...over,
})
const joining = (id: string, clusterId = 'c1'): JoiningNode => ({
  id,
  cluster: clusterId,
  certificate: new Uint8Array([1, 2, 3]),
  addresses: ['192.168.4.38:7946'],
  resources: { cpuMillis: 4000, memoryMb: 8192, gpu: 0 },
})
let nonceCounter = 0
const join = (id: string, preferredIpv4 = POOL_FIRST + 1, nonce?: Uint8Array): RegistryCommand => ({
  type: 'joinNode',
  nonce: nonce ?? new Uint8Array(16).fill(++nonceCounter),
  nonceExpiresAt: 2000,
  node: joining(id),
  preferredIpv4,
  at: 1000,
})

function ready(): Registry {
  const r = new Registry()
  assert.deepEqual(
    r.applyCommand({ type: 'initFederation', federation: { id: 'fed1', name: 'blackroad', createdAt: 1 } }),
    {
      ok: true,
      ipv4: 0,
    },
  )
  assert.equal(r.applyCommand({ type: 'addCluster', cluster: cluster('c1') }).ok, true)
  return r
}

const code = (r: Registry, c: RegistryCommand): string => {
  const res = r.applyCommand(c)
  return res.ok ? 'OK' : res.code
}

describe('registry commands', () => {
  test('nothing but initFederation before the federation exists; only one federation', () => {
    const r = new Registry()
    assert.equal(code(r, { type: 'addCluster', cluster: cluster('c1') }), 'NO_FEDERATION')
    assert.equal(
      code(r, { type: 'initFederation', federation: { id: 'fed1', name: 'blackroad', createdAt: 1 } }),
      'OK',
    )
    assert.equal(
      code(r, { type: 'initFederation', federation: { id: 'fed2', name: 'other', createdAt: 2 } }),
      'FEDERATION_EXISTS',
    )
  })

  test('clusters: unique ids and names, valid names, removal only when empty', () => {
    const r = ready()
    assert.equal(code(r, { type: 'addCluster', cluster: cluster('c1') }), 'CLUSTER_EXISTS')
    assert.equal(
      code(r, { type: 'addCluster', cluster: cluster('c2', { name: 'c1-name' }) }),
      'CLUSTER_NAME_TAKEN',
    )
    assert.equal(code(r, { type: 'addCluster', cluster: cluster('c2', { name: 'Not A Label' }) }), 'INVALID')
    assert.equal(code(r, { type: 'updateCluster', cluster: cluster('c9') }), 'CLUSTER_NOT_FOUND')
    assert.equal(code(r, { type: 'updateCluster', cluster: cluster('c1', { name: 'renamed' }) }), 'OK')
    assert.equal(r.state.clusterByName.get('renamed'), 'c1')
    assert.equal(r.state.clusterByName.has('c1-name'), false)
    assert.equal(code(r, join('node1')), 'OK')
    assert.equal(code(r, { type: 'removeCluster', id: 'c1' }), 'CLUSTER_NOT_EMPTY')
    assert.equal(code(r, { type: 'removeNode', id: 'node1' }), 'OK')
    assert.equal(code(r, { type: 'removeCluster', id: 'c1' }), 'OK')
    assert.equal(r.checkInvariants(), undefined)
  })

  test('joinNode: a nonce is spent once, expired tokens and revoked nodes are refused', () => {
    const r = ready()
    const nonce = new Uint8Array(16).fill(7)
    assert.equal(code(r, join('node1', POOL_FIRST + 1, nonce)), 'OK')
    assert.equal(code(r, join('node2', POOL_FIRST + 1, nonce)), 'NONCE_SPENT')
    assert.equal(
      code(r, { ...(join('node2') as Extract<RegistryCommand, { type: 'joinNode' }>), at: 3000 }),
      'NONCE_EXPIRED',
    )
    assert.equal(code(r, join('node1')), 'NODE_EXISTS')
    assert.equal(
      code(r, {
        ...(join('node3') as Extract<RegistryCommand, { type: 'joinNode' }>),
        node: joining('node3', 'c9'),
      }),
      'CLUSTER_NOT_FOUND',
    )
    assert.equal(code(r, { type: 'revoke', revocation: { subject: 'node4', reason: 'stolen', at: 5 } }), 'OK')
    assert.equal(code(r, join('node4')), 'REVOKED')
    // Pruning forgets nonces of expired tokens only.
    assert.equal(code(r, { type: 'pruneNonces', before: 1000 }), 'OK')
    assert.equal(r.state.nonces.size, 1)
    assert.equal(code(r, { type: 'pruneNonces', before: 2001 }), 'OK')
    assert.equal(r.state.nonces.size, 0)
  })

  test('IPv4: the preferred address when free, else the next free one; never two nodes on one address', () => {
    const r = ready()
    const a = POOL_FIRST + 10
    assert.deepEqual(r.applyCommand(join('node1', a)), { ok: true, ipv4: a })
    assert.deepEqual(r.applyCommand(join('node2', a)), { ok: true, ipv4: a + 1 })
    // .255 and .0 host parts are skipped.
    const edge = POOL_FIRST + 254
    assert.deepEqual(r.applyCommand(join('node3', edge)), { ok: true, ipv4: edge })
    assert.deepEqual(r.applyCommand(join('node4', edge)), { ok: true, ipv4: edge + 3 })
    assert.equal(code(r, { type: 'assignIpv4', id: 'node2', ipv4: a }), 'ADDRESS_IN_USE')
    assert.equal(code(r, { type: 'assignIpv4', id: 'node2', ipv4: POOL_FIRST + 256 }), 'ADDRESS_INVALID')
    assert.equal(code(r, { type: 'assignIpv4', id: 'node2', ipv4: POOL_LAST + 1 }), 'ADDRESS_INVALID')
    assert.deepEqual(r.applyCommand({ type: 'assignIpv4', id: 'node2', ipv4: a + 5 }), {
      ok: true,
      ipv4: a + 5,
    })
    assert.equal(r.state.ipv4.has(a + 1), false, 'the old address is freed')
    assert.equal(code(r, { type: 'removeNode', id: 'node1' }), 'OK')
    assert.deepEqual(r.applyCommand(join('node5', a)), { ok: true, ipv4: a }, 'a freed address is reused')
    // Revoking a node removes it and frees its address.
    assert.equal(code(r, { type: 'revoke', revocation: { subject: 'node5', reason: 'x', at: 1 } }), 'OK')
    assert.equal(r.state.ipv4.has(a), false)
    assert.equal(r.checkInvariants(), undefined)
  })

  test('placements: cordon, taints, capacity and fencing epochs', () => {
    const r = ready()
    const agent = (id: string, gpu = 0, tolerations: string[] = []): RegistryCommand => ({
      type: 'registerAgent',
      agent: {
        id,
        name: id,
        labels: [],
        requires: { cpuMillis: 100, memoryMb: 100, gpu },
        tolerations,
        spec: new Uint8Array(),
      },
    })
    for (const a of ['a1', 'a2', 'a3']) assert.equal(code(r, agent(a)), 'OK')
    assert.equal(code(r, agent('a1')), 'AGENT_EXISTS')
    const place = (a: string, epoch: number, c = 'c1'): RegistryCommand => ({
      type: 'place',
      agent: a,
      cluster: c,
      node: null,
      epoch,
      at: epoch,
    })
    assert.equal(code(r, place('a1', 1)), 'OK')
    assert.equal(code(r, place('a1', 1)), 'STALE_EPOCH')
    assert.equal(code(r, place('a2', 1)), 'OK')
    assert.equal(code(r, place('a3', 1)), 'CAPACITY_EXCEEDED')
    assert.equal(code(r, place('a1', 2)), 'OK', 'moving within a cluster does not count twice')
    assert.equal(code(r, place('a9', 1)), 'AGENT_NOT_FOUND')
    assert.equal(code(r, place('a3', 1, 'c9')), 'CLUSTER_NOT_FOUND')
    assert.equal(code(r, { type: 'cordonCluster', id: 'c1', cordoned: true }), 'OK')
    assert.equal(code(r, { type: 'unplace', agent: 'a2', epoch: 5 }), 'OK')
    assert.equal(code(r, place('a3', 1)), 'CLUSTER_CORDONED')
    assert.equal(
      code(r, {
        type: 'addCluster',
        cluster: cluster('c2', { taints: [{ key: 'gpu-only', value: 'true', effect: 'NoSchedule' }] }),
      }),
      'OK',
    )
    assert.equal(code(r, place('a3', 1, 'c2')), 'TAINTED')
    assert.equal(code(r, agent('g1', 1, ['gpu-only'])), 'OK')
    assert.equal(code(r, agent('g2', 1, ['gpu-only'])), 'OK')
    assert.equal(code(r, place('g1', 1, 'c2')), 'OK')
    assert.equal(code(r, place('g2', 1, 'c2')), 'CAPACITY_EXCEEDED', 'one GPU in the cluster')
    assert.equal(code(r, { type: 'unplace', agent: 'g1', epoch: 0 }), 'STALE_EPOCH')
    assert.equal(code(r, { type: 'removeAgent', id: 'g1' }), 'OK')
    assert.equal(r.state.placements.has('g1'), false)
    assert.equal(r.checkInvariants(), undefined)
  })

  test('policies: rate limits only for rateLimit, removal of a missing one is refused', () => {
    const r = ready()
    const policy = {
      name: 'p1',
      sourceClusters: ['*'],
      destinationClusters: ['c1'],
      sourceAgents: [],
      destinationAgents: [],
      encrypt: true,
      maxLatencyMs: 100,
    }
    assert.equal(
      code(r, { type: 'setPolicy', policy: { ...policy, action: 'deny', rateLimitRps: 5 } }),
      'INVALID',
    )
    assert.equal(
      code(r, { type: 'setPolicy', policy: { ...policy, action: 'rateLimit', rateLimitRps: 5 } }),
      'OK',
    )
    assert.equal(code(r, { type: 'removePolicy', name: 'p2' }), 'POLICY_NOT_FOUND')
    assert.equal(code(r, { type: 'removePolicy', name: 'p1' }), 'OK')
  })

  test('apply over bytes: undecodable commands are rejected, not thrown', () => {
    const r = ready()
    const res = decodeResult(r.apply(new Uint8Array([9, 9, 9])))
    assert.equal(res.ok, false)
    assert.equal(!res.ok && res.code, 'UNDECODABLE')
    assert.deepEqual(decodeResult(r.apply(encodeCommand(join('node1', POOL_FIRST + 3)))), {
      ok: true,
      ipv4: POOL_FIRST + 3,
    })
    const q = decodeQueryResult(r.query(encodeQuery({ type: 'nodeByIpv4', ipv4: POOL_FIRST + 3 })))
    assert.equal(q.type === 'node' && q.node?.id, 'node1')
    assert.deepEqual(decodeQueryResult(r.query(new Uint8Array([1]))), { type: 'undecodable' })
  })
})

describe('registry snapshots', () => {
  test('restore(snapshot()) reproduces the state; equal states give identical bytes whatever the order', () => {
    const a = ready()
    a.applyCommand({ type: 'addCluster', cluster: cluster('c2') })
    a.applyCommand(join('node1'))
    a.applyCommand(join('node2'))
    const b = ready()
    b.applyCommand({ type: 'addCluster', cluster: cluster('c2') })
    b.applyCommand(join('node2', POOL_FIRST + 2, new Uint8Array(16).fill(nonceCounter)))
    b.applyCommand(join('node1', POOL_FIRST + 1, new Uint8Array(16).fill(nonceCounter - 1)))
    assert.deepEqual(a.snapshot(), b.snapshot())
    const c = new Registry()
    c.restore(a.snapshot())
    assert.deepEqual(c.snapshot(), a.snapshot())
    assert.equal(c.checkInvariants(), undefined)
  })

  test('a snapshot giving two nodes one address is refused and the current state kept', () => {
    const r = ready()
    r.applyCommand(join('node1'))
    r.applyCommand(join('node2'))
    const bytes = r.snapshot()
    const before = r.snapshot()
    // Forge the snapshot: node2's encoded address (a big-endian u32) replaced by node1's.
    const be = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff])
    const forged = Buffer.from(bytes)
    const at = forged.indexOf(be(POOL_FIRST + 2))
    assert.ok(at > 0 && forged.indexOf(be(POOL_FIRST + 2), at + 1) < 0, 'the address occurs once')
    be(POOL_FIRST + 1).copy(forged, at)
    assert.throws(
      () => r.restore(forged),
      (e) => e instanceof DecodeError && /two nodes address/.test(e.message),
    )
    assert.deepEqual(r.snapshot(), before)
  })
})

describe('registry properties', () => {
  test('random command sequences keep every invariant and apply deterministically', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 300 }), (seed, n) => {
        const rng = new SeededRng(seed)
        const cmds = Array.from({ length: n }, (_, i) => encodeCommand(registryCommand(rng, i + 1)))
        const a = new Registry()
        const b = new Registry()
        for (const [i, c] of cmds.entries()) {
          const ra = a.apply(c, i + 1)
          assert.equal(a.checkInvariants(), undefined)
          assert.deepEqual(b.apply(c, i + 1), ra)
          if (i % 50 === 25) {
            // A replica that restarts from a snapshot must continue identically.
            const c2 = new Registry()
            c2.restore(b.snapshot())
            b.restore(c2.snapshot())
          }
        }
        assert.deepEqual(a.snapshot(), b.snapshot())
        const addrs = [...a.state.nodes.values()].map((x) => x.ipv4)
        assert.equal(new Set(addrs).size, addrs.length, 'two nodes share an address')
      }),
      { numRuns: 200 },
    )
  })

  const decoders = [
    ['command', registryCommandCodec],
    ['query', registryQueryCodec],
    ['snapshot', registrySnapshotCodec],
  ] as const
  for (const [name, codec] of decoders) {
    test(`${name} decoder: arbitrary bytes give a value or a DecodeError`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 1024 }), (b) => {
          try {
            decodeWith(codec as typeof registryCommandCodec, b)
          } catch (err) {
            if (!(err instanceof DecodeError)) throw err
          }
        }),
        { numRuns: 10_000 },
      )
    })
  }

  test('command codec: mutated encodings of real commands give a value or a DecodeError', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.nat(7), (seed, at, bit) => {
        const b = encodeCommand(registryCommand(new SeededRng(seed), seed)).slice()
        b[at % b.length]! ^= 1 << bit
        for (const cut of [b, b.subarray(0, at % b.length)]) {
          try {
            decodeWith(registryCommandCodec, cut)
          } catch (err) {
            if (!(err instanceof DecodeError)) throw err
          }
        }
      }),
      { numRuns: 10_000 },
    )
  })
})

describe('IPv4 pool', () => {
  test('text forms, usability and the wrap-around search', () => {
    assert.equal(formatIpv4(POOL_FIRST), '100.64.0.0')
    assert.equal(formatIpv4(POOL_LAST), '100.127.255.255')
    assert.equal(parseIpv4('100.64.0.1'), POOL_FIRST + 1)
    for (const bad of ['100.64.0', '100.64.0.256', '100.064.0.1', 'a.b.c.d'])
      assert.equal(parseIpv4(bad), undefined)
    assert.equal(usableIpv4(POOL_FIRST), false)
    assert.equal(usableIpv4(POOL_FIRST + 255), false)
    assert.equal(usableIpv4(POOL_FIRST + 1), true)
    const taken = new Map([[POOL_LAST - 1, 'x']])
    assert.equal(
      nextFreeIpv4(POOL_LAST - 1, taken),
      POOL_FIRST + 1,
      'wraps past the last (.255) to the first usable',
    )
  })
})
