// Peer links over real Noise connections on a local HyperDHT testnet: two routers with valid certificates
// link and talk on every channel and in datagrams; a certificate that must not be trusted (other federation, forged,
// expired, not yet valid, revoked, someone else's key) is refused, with the reason logged, counted on the
// refusing side and told to the refused side.

import assert from 'node:assert/strict'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import { generateKeyPair, type NodeCertificate } from '../../src/identity/index.js'
import { type LinkReason, MAX_DATAGRAM_BYTES } from '../../src/transport/index.js'
import { counterValue, TestFederation, type TestNode } from '../../src/transport/testing.js'
import { linkTestbed } from '../helpers/link-testbed.js'

const within = (ms: number) => ({ signal: AbortSignal.timeout(ms) })
const HOUR = 3_600_000

const bed = linkTestbed()
const { fed } = bed
const manager = bed.manager.bind(bed)
const link = bed.link.bind(bed)

describe('peer links between two routers with valid certificates', () => {
  it('link up and exchange messages on every channel, both ways', async () => {
    const a = fed.node('alpha')
    const b = fed.node('beta')
    const la = manager(a)
    const lb = manager(b)
    const [linkA, linkB] = await link(a, la, b, lb)

    assert.equal(linkA.peerId, b.nodeId)
    assert.equal(linkB.peerId, a.nodeId)
    assert.equal(la.get(b.nodeId), linkA)
    assert.deepEqual(la.peers(), [b.nodeId])
    assert.equal(linkA.peerCertificate?.name, 'beta')
    // The underlay address the connection uses: what WireGuard gets as the peer's endpoint.
    assert.equal(la.remoteAddress(b.nodeId)?.host, '127.0.0.1')
    assert.ok((la.remoteAddress(b.nodeId)?.port ?? 0) > 0)

    la.addChannel('agents')
    lb.addChannel('agents')
    for (const ch of ['routing', 'bus', 'agents']) {
      for (const [from, to, dir] of [
        [linkA, linkB, 'a->b'],
        [linkB, linkA, 'b->a'],
      ] as const) {
        const got = once(to.channel(ch), 'message', within(3000))
        assert.equal(from.send(ch, Buffer.from(`${dir} on ${ch}`)), true)
        const [payload] = (await got) as [Uint8Array]
        assert.equal(Buffer.from(payload).toString(), `${dir} on ${ch}`)
      }
    }
    assert.equal((await la.metrics.links.get()).values[0]?.value, 1)
  })

  it('keep the order of many messages across channels', async () => {
    const a = fed.node('gamma')
    const b = fed.node('delta')
    const la = manager(a)
    const lb = manager(b)
    const [linkA, linkB] = await link(a, la, b, lb)
    const seen: string[] = []
    const all = new Promise<void>((resolve) => {
      linkB.on('message', (ch, p) => {
        seen.push(`${ch}:${Buffer.from(p).toString()}`)
        if (seen.length === 300) resolve()
      })
    })
    const sent: string[] = []
    for (let i = 0; i < 300; i++) {
      const ch = ['routing', 'bus'][i % 2]!
      linkA.send(ch, Buffer.from(String(i)))
      sent.push(`${ch}:${i}`)
    }
    await Promise.race([all, once(linkB, 'close')])
    assert.deepEqual(seen, sent)
  })

  it('carry datagrams both ways, apart from the channels', async () => {
    const a = fed.node('epsilon')
    const b = fed.node('zeta')
    const la = manager(a)
    const lb = manager(b)
    const [linkA, linkB] = await link(a, la, b, lb)
    const onChannels: string[] = []
    linkA.on('message', (ch) => onChannels.push(ch))
    linkB.on('message', (ch) => onChannels.push(ch))
    for (const [from, to, dir] of [
      [linkA, linkB, 'a->b'],
      [linkB, linkA, 'b->a'],
    ] as const) {
      // Unreliable by design; on loopback the first one arrives, but the test does not depend on it.
      const got = once(to, 'datagram', within(3000))
      const timer = setInterval(() => from.sendDatagram(Buffer.from(dir)), 100)
      assert.equal(from.sendDatagram(Buffer.from(dir)), true)
      const [payload] = (await got.finally(() => clearInterval(timer))) as [Uint8Array]
      assert.equal(Buffer.from(payload).toString(), dir)
    }
    assert.deepEqual(onChannels, [])
    assert.throws(() => linkA.sendDatagram(new Uint8Array(0)), { code: 'FRAME_TOO_LARGE' })
    assert.throws(() => linkA.sendDatagram(new Uint8Array(MAX_DATAGRAM_BYTES + 1)), {
      code: 'FRAME_TOO_LARGE',
    })
    linkA.close()
    assert.equal(linkA.sendDatagram(Buffer.from('late')), false)
  })
})

describe('certificate refusals', () => {
  const other = new TestFederation()
  const now = Date.now()
  const revokedSerials = new Set<number>([666])
  const cases: Array<{ what: string; reason: LinkReason; peer: () => TestNode }> = [
    {
      what: 'a certificate of another federation',
      reason: 'other_federation',
      peer: () => other.node('outsider'),
    },
    {
      what: 'a certificate claiming this federation but signed by another root',
      reason: 'bad_signature',
      peer: () => fed.node('forger', { signer: generateKeyPair() }),
    },
    {
      what: 'an expired certificate',
      reason: 'expired',
      peer: () => fed.node('stale', { notBefore: now - 2 * HOUR, notAfter: now - HOUR }),
    },
    {
      what: 'a certificate not valid yet',
      reason: 'not_yet_valid',
      peer: () => fed.node('early', { notBefore: now + HOUR, notAfter: now + 2 * HOUR }),
    },
    { what: 'a revoked certificate', reason: 'revoked', peer: () => fed.node('revoked', { serial: 666 }) },
    {
      what: "a valid certificate for another node's key (not the Noise key)",
      reason: 'key_mismatch',
      peer: () => {
        const thief = fed.node('thief')
        return { ...thief, certificateBytes: fed.node('victim').certificateBytes }
      },
    },
  ]

  for (const c of cases) {
    it(`refuses ${c.what}: reason ${c.reason}, counted and told to the peer`, async () => {
      const a = fed.node('judge')
      const la = manager(a, {
        trust: fed.trust({ isRevoked: (cert: NodeCertificate) => revokedSerials.has(cert.serial) }),
      })
      const b = c.peer()
      const lb = manager(b)
      let upEvents = 0
      la.on('link-up', () => upEvents++)
      lb.on('link-up', () => upEvents++)

      const [ca, cb] = await bed.net.connectionPair(b.keyPair, a.keyPair)
      const refusedA = once(la, 'rejected', within(5000))
      const refusedB = once(lb, 'rejected', within(5000))
      la.accept(cb)
      lb.accept(ca)
      const [reasonA, keyA] = (await refusedA) as [LinkReason, Buffer]
      const [reasonB] = (await refusedB) as [LinkReason]

      assert.equal(reasonA, c.reason)
      assert.ok(keyA.equals(b.keyPair.publicKey))
      assert.equal(reasonB, 'remote_rejected', 'the refused side learns it was refused')
      assert.equal(await counterValue(la.metrics.rejected, { reason: c.reason }), 1)
      assert.equal(await counterValue(lb.metrics.rejected, { reason: 'remote_rejected' }), 1)
      assert.equal(upEvents, 0)
      assert.equal(la.size, 0)
      assert.equal(lb.size, 0)
    })
  }
})
