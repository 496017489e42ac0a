// The link-state database: every receive() result (accepted, duplicate, stale, bad-signature, too-old,
// from-future, malformed), our own origin's records, aging, convergence on a reused sequence, and flooding
// over a small mesh where only accepted records are passed on.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  encodeSignedRecord,
  type KeyPair,
  keyPairFromSeed,
  nodeIdFromPublicKey,
  signRecord,
} from '../../src/identity/index.js'
import {
  DEFAULT_MAX_AGE_MS,
  encodeRecordBody,
  LinkStateDb,
  type LinkStateRecord,
  RoutingError,
  sealLinkState,
} from '../../src/routing/index.js'

const NOW = 1_732_000_000_000
/** The database's default max age, which these tests use. */
const MAX_AGE = DEFAULT_MAX_AGE_MS

interface Node {
  key: KeyPair
  id: string
}
const nodes: Node[] = [1, 2, 3, 4, 5, 6].map((i) => {
  const key = keyPairFromSeed(Buffer.alloc(32, i))
  return { key, id: nodeIdFromPublicKey(key.publicKey) }
})
const [A, B, C] = nodes as [Node, Node, Node]
const registry = new Map(nodes.map((n) => [n.id, n.key.publicKey]))

function db(local: Node, opts: { keyOf?: (id: string) => Uint8Array | undefined } = {}) {
  return new LinkStateDb({ localId: local.id, keyOf: opts.keyOf ?? ((id) => registry.get(id)) })
}

function rec(origin: Node, seq: number, issuedAt = NOW, peers: Node[] = []): LinkStateRecord {
  return {
    origin: origin.id,
    seq,
    issuedAt,
    links: peers.map((p) => ({ peer: p.id, rttMicros: 1000, lossPermille: 0, up: true })),
    addresses: [],
  }
}

const seal = (r: LinkStateRecord, key?: KeyPair) =>
  sealLinkState(r, key ?? nodes.find((n) => n.id === r.origin)!.key).bytes

describe('LinkStateDb.receive', () => {
  it('accepts a fresh, validly signed record and hands back what to flood', () => {
    const d = db(A)
    const bytes = seal(rec(B, 5, NOW, [A]))
    const r = d.receive(bytes, NOW)
    assert.equal(r.status, 'accepted')
    assert.equal(r.origin, B.id)
    assert.deepEqual(r.signed!.bytes, bytes)
    assert.equal(d.get(B.id)!.record.seq, 5)
    assert.equal(d.version, 1)
  })

  it('answers a replay with duplicate and an older sequence with stale, without verifying either', () => {
    let lookups = 0
    const d = db(A, {
      keyOf: (id) => {
        lookups++
        return registry.get(id)
      },
    })
    const old = seal(rec(B, 5))
    const newer = seal(rec(B, 6))
    assert.equal(d.receive(old, NOW).status, 'accepted')
    assert.equal(d.receive(newer, NOW).status, 'accepted')
    assert.equal(lookups, 2)
    assert.equal(d.receive(newer, NOW + 1).status, 'duplicate')
    assert.equal(d.receive(old, NOW + 1).status, 'stale')
    assert.equal(lookups, 2, 'no signature work for records that cannot change the database')
    assert.equal(d.get(B.id)!.record.seq, 6)
  })

  it('refuses forged records as bad-signature', () => {
    const d = db(A)
    // Signed by C but claiming to come from B.
    const impersonation = encodeSignedRecord(
      signRecord('link-state', encodeRecordBody(rec(B, 9, NOW, [A])), C.key),
    )
    assert.equal(d.receive(impersonation, NOW).status, 'bad-signature')
    // B's genuine record with a flipped signature byte.
    const tampered = Uint8Array.from(seal(rec(B, 9)))
    tampered[tampered.length - 1]! ^= 0x01
    assert.equal(d.receive(tampered, NOW).status, 'bad-signature')
    // A node the registry does not know (or revoked).
    const stranger = keyPairFromSeed(Buffer.alloc(32, 99))
    const strangerRec = rec({ key: stranger, id: nodeIdFromPublicKey(stranger.publicKey) }, 1)
    const r = d.receive(sealLinkState(strangerRec, stranger).bytes, NOW)
    assert.equal(r.status, 'bad-signature')
    assert.match(r.reason!, /unknown or revoked/)
    assert.equal(d.size, 0)
    assert.equal(d.version, 0)
  })

  it('refuses records past max age and from too far in the future', () => {
    const d = db(A)
    assert.equal(d.receive(seal(rec(B, 1, NOW - MAX_AGE - 1)), NOW).status, 'too-old')
    assert.equal(d.receive(seal(rec(B, 2, NOW + MAX_AGE / 2 + 1)), NOW).status, 'from-future')
    assert.equal(d.receive(seal(rec(B, 3, NOW + 10_000)), NOW).status, 'accepted', 'within clock skew')
    assert.equal(d.receive(seal(rec(C, 3, NOW - MAX_AGE + 1000)), NOW).status, 'accepted', 'within max age')
  })

  it('answers malformed for bytes that are not a link-state record', () => {
    const d = db(A)
    assert.equal(d.receive(new Uint8Array([1, 2, 3]), NOW).status, 'malformed')
    const otherKind = encodeSignedRecord(signRecord('revocation', encodeRecordBody(rec(B, 1)), B.key))
    assert.equal(d.receive(otherKind, NOW).status, 'malformed')
    const r = d.receive(Uint8Array.from([...seal(rec(B, 1)), 0]), NOW)
    assert.equal(r.status, 'malformed')
    assert.match(r.reason!, /trailing/)
  })

  it('never lets others speak for the local origin, but reports a newer sequence of ours', () => {
    const d = db(A)
    d.installLocal(sealLinkState(rec(A, 10), A.key))
    const fromBeforeRestart = d.receive(seal(rec(A, 50)), NOW)
    assert.equal(fromBeforeRestart.status, 'stale')
    assert.equal(fromBeforeRestart.selfSeqSeen, 50)
    assert.equal(d.get(A.id)!.record.seq, 10)
    assert.equal(d.receive(seal(rec(A, 5)), NOW).selfSeqSeen, undefined)
    const forged = encodeSignedRecord(signRecord('link-state', encodeRecordBody(rec(A, 2 ** 52)), B.key))
    const r = d.receive(forged, NOW)
    assert.equal(r.status, 'bad-signature')
    assert.equal(r.selfSeqSeen, undefined, 'a forger cannot push our sequence to its limit')
  })

  it('converges on one record when an origin reuses a sequence, whatever the arrival order', () => {
    const first = seal(rec(B, 7, NOW, [A]))
    const second = seal(rec(B, 7, NOW, [C]))
    const d1 = db(A)
    const d2 = db(C)
    d1.receive(first, NOW)
    d1.receive(second, NOW)
    d2.receive(second, NOW)
    d2.receive(first, NOW)
    assert.deepEqual(d1.get(B.id)!.bytes, d2.get(B.id)!.bytes)
  })
})

describe('LinkStateDb local records and aging', () => {
  it('installs local records only with a rising sequence and our origin', () => {
    const d = db(A)
    d.installLocal(sealLinkState(rec(A, 2), A.key))
    assert.throws(
      () => d.installLocal(sealLinkState(rec(A, 2), A.key)),
      (e: unknown) => e instanceof RoutingError && e.code === 'LOCAL_RECORD_NOT_NEWER',
    )
    assert.throws(
      () => d.installLocal(sealLinkState(rec(B, 3), B.key)),
      (e: unknown) => e instanceof RoutingError && e.code === 'NOT_LOCAL_ORIGIN',
    )
  })

  it('ages out records whose origin stopped refreshing, never the local one', () => {
    const d = db(A)
    d.installLocal(sealLinkState(rec(A, 1, NOW - 2 * MAX_AGE), A.key))
    d.receive(seal(rec(B, 1, NOW - MAX_AGE / 2)), NOW)
    d.receive(seal(rec(C, 1, NOW - MAX_AGE / 6)), NOW)
    assert.equal(d.nextExpiryAt(), NOW + MAX_AGE / 2 + 1)
    assert.deepEqual(d.expire(NOW + MAX_AGE / 2), [])
    const v = d.version
    assert.deepEqual(d.expire(NOW + MAX_AGE / 2 + 1), [B.id])
    assert.equal(d.version, v + 1)
    assert.deepEqual(
      d.records().map((r) => r.origin),
      [A.id, C.id].sort(),
    )
    // After aging out, a replay of the old record is too old to come back.
    assert.equal(d.receive(seal(rec(B, 1, NOW - MAX_AGE / 2)), NOW + MAX_AGE / 2 + 1).status, 'too-old')
  })

  it('forgets a revoked origin at once', () => {
    const d = db(A)
    d.receive(seal(rec(B, 1)), NOW)
    assert.equal(d.forget(B.id), true)
    assert.equal(d.forget(B.id), false)
    assert.equal(d.get(B.id), undefined)
  })

  it('validates its options', () => {
    assert.throws(
      () => new LinkStateDb({ localId: A.id, keyOf: () => undefined, maxAgeMs: 0 }),
      (e: unknown) => e instanceof RoutingError && e.code === 'INVALID_OPTIONS',
    )
  })
})

describe('flooding over LinkStateDb', () => {
  it('property: forwarding only accepted records reaches every router and terminates', () => {
    // A random connected mesh of the six nodes; each originates one record; deliveries are shuffled and
    // some are duplicated, as a real network would.
    const arbMesh = fc.record({
      extra: fc.array(fc.tuple(fc.nat(5), fc.nat(5)), { maxLength: 8 }),
      order: fc.array(fc.nat(1000), { minLength: 64, maxLength: 64 }),
      dup: fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
    })
    fc.assert(
      fc.property(arbMesh, ({ extra, order, dup }) => {
        const adj = new Map(nodes.map((n) => [n.id, new Set<string>()]))
        const link = (i: number, j: number) => {
          if (i === j) return
          adj.get(nodes[i]!.id)!.add(nodes[j]!.id)
          adj.get(nodes[j]!.id)!.add(nodes[i]!.id)
        }
        for (let i = 1; i < nodes.length; i++) link(i - 1, i) // a line keeps it connected
        for (const [i, j] of extra) link(i, j)
        const dbs = new Map(nodes.map((n) => [n.id, db(n)]))
        const queue: Array<{ to: string; from: string; bytes: Uint8Array; copy?: boolean }> = []
        for (const n of nodes) {
          const s = sealLinkState(
            rec(
              n,
              1,
              NOW,
              [...adj.get(n.id)!].map((id) => nodes.find((x) => x.id === id)!),
            ),
            n.key,
          )
          dbs.get(n.id)!.installLocal(s)
          for (const peer of adj.get(n.id)!) queue.push({ to: peer, from: n.id, bytes: s.bytes })
        }
        let delivered = 0
        let k = 0
        while (queue.length > 0) {
          assert.ok(++delivered < 10_000, 'flooding terminates')
          const pick = order[k % order.length]! % queue.length
          const msg = queue.splice(pick, 1)[0]!
          if (dup[k++ % dup.length]! && !msg.copy) queue.push({ ...msg, copy: true })
          const r = dbs.get(msg.to)!.receive(msg.bytes, NOW)
          assert.ok(['accepted', 'duplicate', 'stale'].includes(r.status), r.status)
          if (r.status !== 'accepted') continue
          for (const peer of adj.get(msg.to)!)
            if (peer !== msg.from) queue.push({ to: peer, from: msg.to, bytes: msg.bytes })
        }
        for (const d of dbs.values()) assert.equal(d.size, nodes.length)
      }),
      { numRuns: 50 },
    )
  })
})
