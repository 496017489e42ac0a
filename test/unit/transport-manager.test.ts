// The link manager's promises: one link per peer even when two connections cross (and both ends keep the
// same one), a restarted peer's new connection replaces the silent old one, renewed certificates are taken
// and revocations enforced on up links, send() reports backpressure and drained() waits it out, and misuse
// of send() fails with typed errors.

import assert from 'node:assert/strict'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import type { NodeCertificate } from '../../src/identity/index.js'
import {
  encodeFrame,
  LinkError,
  type LinkManager,
  type LinkReason,
  type PeerLink,
} from '../../src/transport/index.js'
import { counterValue, type TestNode } from '../../src/transport/testing.js'
import { linkTestbed, until } from '../helpers/link-testbed.js'

const within = (ms: number) => ({ signal: AbortSignal.timeout(ms) })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const bed = linkTestbed()
const { fed } = bed
const manager = bed.manager.bind(bed)
const linked = bed.link.bind(bed)

describe('duplicate connections', () => {
  it('two crossing connections leave one link per side, the same connection on both ends', async () => {
    const a = fed.node('a')
    const b = fed.node('b')
    const la = manager(a)
    const lb = manager(b)
    const [a1, b1] = await bed.net.connectionPair(a.keyPair, b.keyPair) // a dialled
    const [b2, a2] = await bed.net.connectionPair(b.keyPair, a.keyPair) // b dialled
    // Each side sees them in a different order, so "keep the first" would disagree.
    la.accept(a1)
    la.accept(a2)
    lb.accept(b2)
    lb.accept(b1)
    const hash = (l?: PeerLink) => (l ? Buffer.from(l.conn.handshakeHash ?? []).toString('hex') : '')
    await until(() => la.size === 1 && lb.size === 1 && hash(la.get(b.nodeId)) === hash(lb.get(a.nodeId)))
    await sleep(300) // and it stays that way
    const kept = la.get(b.nodeId)!
    assert.equal(hash(kept), hash(lb.get(a.nodeId)))
    // The rule: the connection dialled by the larger key wins.
    const aLarger = Buffer.compare(a.keyPair.publicKey, b.keyPair.publicKey) > 0
    assert.equal(kept.isInitiator, aLarger)
    const got = once(lb.get(a.nodeId)!.channel('bus'), 'message', within(3000))
    kept.send('bus', Buffer.from('still here'))
    assert.equal(Buffer.from(((await got) as [Uint8Array])[0]).toString(), 'still here')
  })

  it("a restarted peer's new connection replaces the old link once that has gone silent", async () => {
    const a = fed.node('a2')
    const b = fed.node('b2')
    const la = manager(a, { keepAliveIntervalMs: 100, deadAfterMs: 10_000, staleAfterMs: 300 })
    // The old connection is dialled by the larger key, so by the tie rule alone it would win.
    const aLarger = Buffer.compare(a.keyPair.publicKey, b.keyPair.publicKey) > 0
    const [oldA, oldB] = aLarger
      ? await bed.net.connectionPair(a.keyPair, b.keyPair)
      : (await bed.net.connectionPair(b.keyPair, a.keyPair)).reverse()
    la.accept(oldA!)
    // The "old b" completes the handshake, then falls silent like a crashed process whose socket lingers.
    oldB!.on('data', () => {})
    oldB!.write(
      encodeFrame({ type: 'hello', version: 1, certificate: b.certificateBytes, maxFrameBytes: 1 << 20 }),
    )
    oldB!.write(encodeFrame({ type: 'ready' }))
    const [, first] = (await once(la, 'link-up', within(5000))) as [string, PeerLink]
    await sleep(500)

    const events: string[] = []
    la.on('link-down', (_id, reason) => events.push(`down:${reason}`))
    la.on('link-up', () => events.push('up'))
    const lb = manager(b)
    const [newA, newB] = aLarger
      ? (await bed.net.connectionPair(b.keyPair, a.keyPair)).reverse()
      : await bed.net.connectionPair(a.keyPair, b.keyPair)
    const up = once(la, 'link-up', within(5000))
    la.accept(newA!)
    lb.accept(newB!)
    const [, second] = (await up) as [string, PeerLink]
    assert.notEqual(second, first)
    assert.equal(la.get(b.nodeId), second)
    assert.equal(first.closeReason, 'superseded')
    assert.deepEqual(events, ['down:superseded', 'up'])
  })
})

/** Links `a` (managed by la) to a fake `b` that completes the handshake and then never sends again. */
async function silentPeer(
  a: TestNode,
  la: LinkManager,
  b: TestNode,
  dialledByLarger: boolean,
): Promise<PeerLink> {
  const aLarger = Buffer.compare(a.keyPair.publicKey, b.keyPair.publicKey) > 0
  const aDials = dialledByLarger === aLarger
  const [oldA, oldB] = aDials
    ? await bed.net.connectionPair(a.keyPair, b.keyPair)
    : (await bed.net.connectionPair(b.keyPair, a.keyPair)).reverse()
  const up = once(la, 'link-up', within(5000))
  la.accept(oldA!)
  oldB!.on('data', () => {})
  oldB!.write(
    encodeFrame({ type: 'hello', version: 1, certificate: b.certificateBytes, maxFrameBytes: 1 << 20 }),
  )
  oldB!.write(encodeFrame({ type: 'ready' }))
  return ((await up) as [string, PeerLink])[1]
}

describe('links that give no sign of life', () => {
  it('a new connection from the peer takes over once the kept link fails its check, long before it is stale', async () => {
    // The peer's underlay address changed: the old connection is dead (we still send to the old address),
    // the peer dials from its new one, and the tie rule alone would keep the old connection.
    const a = fed.node('moved-a')
    const b = fed.node('moved-b')
    const la = manager(a, { keepAliveIntervalMs: 1000, deadAfterMs: 20_000, staleAfterMs: 15_000 })
    const first = await silentPeer(a, la, b, true)
    const events: string[] = []
    la.on('link-down', (_id, reason) => events.push(`down:${reason}`))
    la.on('link-up', () => events.push('up'))
    const lb = manager(b)
    // b holds only the new connection, so it uses it at once (a router sends its records on link-up): what
    // it sends before a has checked the old link must still reach a's listeners.
    lb.on('link-up', (_id, l) => l.send('bus', Buffer.from('sent at once')))
    const aLarger = Buffer.compare(a.keyPair.publicKey, b.keyPair.publicKey) > 0
    const [newA, newB] = aLarger
      ? (await bed.net.connectionPair(b.keyPair, a.keyPair)).reverse()
      : await bed.net.connectionPair(a.keyPair, b.keyPair)
    const started = performance.now()
    let early: Promise<unknown> | undefined
    const up = once(la, 'link-up', within(5000))
    la.once('link-up', (_id, l) => {
      early = once(l.channel('bus'), 'message', within(3000))
    })
    la.accept(newA!)
    lb.accept(newB!)
    const [, second] = (await up) as [string, PeerLink]
    const tookMs = performance.now() - started
    const [got] = (await early) as [Uint8Array]
    assert.equal(Buffer.from(got).toString(), 'sent at once')
    assert.notEqual(second, first)
    assert.equal(la.get(b.nodeId), second)
    assert.equal(first.closeReason, 'superseded')
    assert.deepEqual(events, ['down:superseded', 'up'])
    assert.ok(tookMs < 15_000 - 1000, `took over after ${tookMs} ms, not by staleness`)
  })

  it('checkLinks() closes the links that stay silent and keeps those that answer', async () => {
    const a = fed.node('check-a')
    const live = fed.node('check-live')
    const dead = fed.node('check-dead')
    const la = manager(a, { keepAliveIntervalMs: 1000, deadAfterMs: 20_000 })
    const lLive = manager(live)
    await linked(a, la, live, lLive)
    const silent = await silentPeer(a, la, dead, true)
    const downs: string[] = []
    la.on('link-down', (id, reason) => downs.push(`${id === dead.nodeId ? 'dead' : id}:${reason}`))
    assert.equal(await la.checkLinks(), 1)
    assert.equal(silent.closeReason, 'keepalive_timeout')
    assert.deepEqual(downs, ['dead:keepalive_timeout'])
    assert.equal(la.get(live.nodeId)?.state, 'up')
    assert.equal(la.get(dead.nodeId), undefined)
  })
})

describe('certificates on up links', () => {
  it('takes a renewed certificate and closes the link when a recheck finds it revoked', async () => {
    const revoked = new Set<number>()
    const a = fed.node('renew-a')
    const b = fed.node('renew-b')
    const la = manager(a, { trust: fed.trust({ isRevoked: (c: NodeCertificate) => revoked.has(c.serial) }) })
    const lb = manager(b)
    const [toB] = await linked(a, la, b, lb)
    assert.equal(toB.peerCertificate?.serial, 1)

    const renewed = fed.node('renew-b', { keyPair: b.keyPair, serial: 2 })
    const got = once(toB, 'certificate', within(3000))
    lb.setCertificate(renewed.certificateBytes)
    assert.equal(((await got) as [NodeCertificate])[0].serial, 2)
    assert.equal(toB.peerCertificate?.serial, 2)

    assert.equal(la.recheck(), 0)
    revoked.add(2)
    const down = once(la, 'link-down', within(3000))
    assert.equal(la.recheck(), 1)
    assert.deepEqual(await down, [b.nodeId, 'revoked'])
    assert.equal(await counterValue(la.metrics.closed, { reason: 'revoked' }), 1)
  })

  it('closes the link when the peer sends a renewed certificate that does not verify', async () => {
    const a = fed.node('bad-renew-a')
    const b = fed.node('bad-renew-b')
    const la = manager(a)
    const lb = manager(b)
    const [toB] = await linked(a, la, b, lb)
    const now = Date.now()
    const expired = fed.node('bad-renew-b', {
      keyPair: b.keyPair,
      notBefore: now - 7200_000,
      notAfter: now - 3600_000,
    })
    const down = once(la, 'link-down', within(3000))
    lb.setCertificate(expired.certificateBytes)
    assert.deepEqual(await down, [b.nodeId, 'expired'])
    assert.equal(toB.state, 'closed')
  })
})

describe('sending', () => {
  it('reports backpressure and drained() resolves when the buffer empties; nothing is lost', async () => {
    const a = fed.node('bulk-a')
    const b = fed.node('bulk-b')
    const la = manager(a)
    const lb = manager(b)
    const [toB, toA] = await linked(a, la, b, lb)
    let received = 0
    let last = -1
    let ordered = true
    toA.channel('bus').on('message', (p) => {
      const i = Buffer.from(p).readUInt32BE(0)
      if (i !== last + 1) ordered = false
      last = i
      received++
    })
    const payload = Buffer.alloc(256 * 1024)
    let sent = 0
    let sawFull = false
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 64; i++) {
        payload.writeUInt32BE(sent, 0)
        const ok = toB.send('bus', payload)
        sent++
        if (!ok) {
          sawFull = true
          break
        }
      }
      await toB.drained()
    }
    assert.ok(sawFull, 'send() returned false at least once')
    await until(() => received === sent, 15_000)
    assert.ok(ordered)
  })

  it('refuses misuse with typed errors', async () => {
    const a = fed.node('err-a')
    const b = fed.node('err-b')
    const la = manager(a)
    const lb = manager(b, { maxFrameBytes: 64 * 1024 })
    const [toB] = await linked(a, la, b, lb)
    const code = (fn: () => unknown) => {
      try {
        fn()
      } catch (err) {
        assert.ok(err instanceof LinkError)
        return err.code
      }
      return 'no error'
    }
    assert.equal(
      code(() => toB.send('nope', new Uint8Array(1))),
      'UNKNOWN_CHANNEL',
    )
    assert.equal(
      code(() => toB.send('bus', new Uint8Array(64 * 1024))),
      'FRAME_TOO_LARGE',
    )
    assert.equal(
      code(() => la.addChannel('Bad Name')),
      'INVALID_CHANNEL',
    )
    assert.equal(typeof toB.send('bus', new Uint8Array(60 * 1024)), 'boolean', 'just under the limit is fine')
    const down = once(lb, 'link-down', within(3000))
    toB.close()
    assert.equal(
      code(() => toB.send('bus', new Uint8Array(1))),
      'LINK_CLOSED',
    )
    await assert.rejects(toB.drained(), (e: unknown) => e instanceof LinkError && e.code === 'LINK_CLOSED')
    const [, reason] = (await down) as [string, LinkReason]
    assert.equal(reason, 'remote_closed')
  })
})
