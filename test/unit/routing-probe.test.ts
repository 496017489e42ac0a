// Link metrics from probes: estimators, loss window, silent-failure detection within a second, recovery
// after consecutive replies, the guard against a stalled driver declaring links dead, and the same with
// replies that ride on the peer's own probes (held, overtaken, loss both ways).

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { type LinkEvent, LinkMonitor, RoutingError } from '../../src/routing/index.js'

const P = 'node_aaaaaaaaaaaaaaaa'
const INTERVAL = 200

/**
 * Drives a monitor the way the daemon does: a probe every 200 ms, ticks every 10 ms, replies after
 * rttOf(seq) ms or never (null). Returns all events with their times.
 */
function drive(
  m: LinkMonitor,
  from: number,
  to: number,
  rttOf: (seq: number, at: number) => number | null,
  seq0 = 0,
) {
  const events: LinkEvent[] = []
  const replies: Array<{ seq: number; at: number }> = []
  let seq = seq0
  for (let t = from; t < to; t += 10) {
    replies.sort((a, b) => a.at - b.at)
    while (replies.length > 0 && replies[0]!.at <= t) {
      const r = replies.shift()!
      events.push(...m.onProbeReply(P, r.seq, r.at))
    }
    if ((t - from) % INTERVAL === 0) {
      seq++
      m.onProbeSent(P, seq, t)
      const rtt = rttOf(seq, t)
      if (rtt !== null) replies.push({ seq, at: t + rtt })
    }
    events.push(...m.tick(t))
  }
  return { events, lastSeq: seq }
}

describe('LinkMonitor estimators', () => {
  it('starts srtt at the first sample, then smooths with gain 1/8', () => {
    const m = new LinkMonitor()
    m.onProbeSent(P, 1, 0)
    m.onProbeReply(P, 1, 10)
    assert.equal(m.metrics(P)!.srttMicros, 10_000)
    m.onProbeSent(P, 2, 200)
    m.onProbeReply(P, 2, 218)
    assert.equal(m.metrics(P)!.srttMicros, 11_000)
  })

  it('computes RFC 3550 jitter from successive samples', () => {
    const m = new LinkMonitor()
    m.onProbeSent(P, 1, 0)
    m.onProbeReply(P, 1, 10)
    m.onProbeSent(P, 2, 200)
    m.onProbeReply(P, 2, 212)
    assert.equal(m.metrics(P)!.jitterMicros, 125) // (2000 - 0) / 16
    for (let i = 3; i < 200; i++) {
      m.onProbeSent(P, i, i * 200)
      m.onProbeReply(P, i, i * 200 + (i % 2 === 0 ? 12 : 10))
    }
    assert.ok(Math.abs(m.metrics(P)!.jitterMicros - 2000) < 20)
  })

  it('counts probes unanswered after the timeout as lost over the window', () => {
    const m = new LinkMonitor({ lossWindow: 10 })
    for (let i = 1; i <= 10; i++) {
      m.onProbeSent(P, i, i * 100)
      if (i % 5 !== 0) m.onProbeReply(P, i, i * 100 + 5)
    }
    m.tick(1000) // probe 5 is 500 ms old: still in flight
    assert.equal(m.metrics(P)!.lossPermille, 0)
    m.tick(2100)
    assert.equal(m.metrics(P)!.lossPermille, 200)
    // The window slides: ten more answered probes push the losses out.
    for (let i = 11; i <= 20; i++) {
      m.onProbeSent(P, i, 2100 + i)
      m.onProbeReply(P, i, 2105 + i)
    }
    assert.equal(m.metrics(P)!.lossPermille, 0)
  })

  it('ignores unknown, repeated and late replies', () => {
    const m = new LinkMonitor({ probeTimeoutMs: 500, deadLinkTimeoutMs: 1000 })
    assert.deepEqual(m.onProbeReply('node_bbbbbbbbbbbbbbbb', 1, 5), [])
    m.onProbeSent(P, 1, 0)
    m.onProbeReply(P, 1, 10)
    assert.deepEqual(m.onProbeReply(P, 1, 11), [])
    m.onProbeSent(P, 2, 100)
    m.tick(700)
    assert.deepEqual(m.onProbeReply(P, 2, 710), [])
    assert.equal(m.metrics(P)!.replies, 1)
    assert.equal(m.metrics(P)!.srttMicros, 10_000)
  })

  it('takes a probe answered after its timeout off the loss count, without a sample or liveness', () => {
    const m = new LinkMonitor({ lossWindow: 10, probeTimeoutMs: 500, deadLinkTimeoutMs: 1000 })
    for (let i = 1; i <= 4; i++) {
      m.onProbeSent(P, i, i * 100)
      if (i !== 2 && i !== 3) m.onProbeReply(P, i, i * 100 + 5)
    }
    m.tick(1000)
    assert.equal(m.metrics(P)!.lossPermille, 500, 'probes 2 and 3 timed out')
    const before = m.metrics(P)!
    // Probe 2's answer comes 1.3 s late (a busy peer): latency, not loss. Probe 3's never comes.
    assert.deepEqual(m.onProbeReply(P, 2, 1500), [])
    const after = m.metrics(P)!
    assert.equal(after.lossPermille, 250)
    assert.equal(after.replies, before.replies, 'no reply counted')
    assert.equal(after.srttMicros, before.srttMicros, 'no RTT sample')
    assert.equal(after.lastReplyAt, before.lastReplyAt, 'no liveness')
    assert.deepEqual(m.onProbeReply(P, 2, 1600), [], 'a repeat forgives nothing more')
    assert.equal(m.metrics(P)!.lossPermille, 250)
    // An acknowledgement in a later probe's mask counts the same way.
    assert.equal(m.onProbeDelivered(P, 3), false)
    assert.equal(m.metrics(P)!.lossPermille, 0)
    // A loss that already left the window is not forgiven into another probe's slot.
    m.onProbeSent(P, 5, 1700)
    m.tick(2300)
    for (let i = 6; i <= 15; i++) {
      m.onProbeSent(P, i, 2300 + i)
      m.onProbeReply(P, i, 2305 + i)
    }
    m.onProbeSent(P, 16, 2400)
    m.tick(3000)
    assert.equal(m.metrics(P)!.lossPermille, 100, 'probe 16 lost; probe 5 left the window')
    m.onProbeReply(P, 5, 3010)
    assert.equal(m.metrics(P)!.lossPermille, 100)
  })

  it('declares a suspected link dead in round trips: probes that asked for an answer get no hold', () => {
    const suspected = (asked: boolean) => {
      const m = new LinkMonitor({
        deadLinkTimeoutMs: 750,
        replyDelayMs: 200,
        probeTimeoutMs: 600,
        upAfterReplies: 1,
      })
      m.onProbeSent(P, 1, 0)
      m.onProbeReply(P, 1, 1)
      // Idle for a while, then suspected: probed fast, the peer allowed its 200 ms hold for ordinary probes.
      m.setPace(P, { replyDelayMs: 200 })
      m.onProbeSent(P, 2, 5000, asked)
      m.onProbeSent(P, 3, 5040, asked)
      m.onProbeSent(P, 4, 5080, asked)
      return { events: m.tick(5070).map((e) => e.type), deadline: m.downDeadline(5070) }
    }
    assert.deepEqual(suspected(true).events, ['link-down'], 'two asked probes unanswered for 2 RTTs: dead')
    const ordinary = suspected(false)
    assert.deepEqual(ordinary.events, [], 'ordinary probes may still be held by the peer')
    assert.ok(ordinary.deadline! >= 5240, `not before the hold has passed: ${ordinary.deadline}`)
  })

  it('reports link metrics in the form records carry', () => {
    const m = new LinkMonitor({ upAfterReplies: 1 })
    m.addPeer('node_bbbbbbbbbbbbbbbb')
    m.onProbeSent(P, 1, 0)
    m.onProbeReply(P, 1, 3.2)
    assert.deepEqual(m.linkReports(), [
      { peer: 'node_aaaaaaaaaaaaaaaa', rttMicros: 3200, lossPermille: 0, up: true },
      { peer: 'node_bbbbbbbbbbbbbbbb', rttMicros: 0xffff_ffff, lossPermille: 0, up: false },
    ])
  })

  it('validates its options with a typed error', () => {
    assert.throws(
      () => new LinkMonitor({ deadLinkTimeoutMs: 0 }),
      (e: unknown) => {
        return (
          e instanceof RoutingError && e.code === 'INVALID_OPTIONS' && /deadLinkTimeoutMs/.test(e.message)
        )
      },
    )
    assert.throws(() => new LinkMonitor({ lossWindow: Number.NaN }), RoutingError)
  })
})

describe('LinkMonitor liveness', () => {
  it('comes up after three consecutive replies', () => {
    const m = new LinkMonitor()
    const { events } = drive(m, 0, 1000, () => 10)
    assert.deepEqual(
      events.map((e) => [e.type, e.at]),
      [['link-up', 410]],
    )
    assert.equal(m.metrics(P)!.state, 'up')
  })

  it('detects a silent failure within one second with probes every 200 ms', () => {
    for (const failAt of [3000, 3010, 3100, 3190, 3200]) {
      const m = new LinkMonitor()
      const { events } = drive(m, 0, 6000, (_seq, at) => (at < failAt ? 10 : null))
      const down = events.filter((e) => e.type === 'link-down')
      assert.equal(down.length, 1, `one link-down for failure at ${failAt}`)
      const detection = down[0]!.at - failAt
      assert.ok(detection <= 1000, `detected ${detection} ms after failure at ${failAt}`)
      assert.ok(detection >= 1000 - INTERVAL, `not before the dead interval (${detection} ms)`)
    }
  })

  it('never declares a link down that answers every probe, even slowly', () => {
    const m = new LinkMonitor()
    const { events } = drive(m, 0, 20_000, (seq) => 150 + (seq % 7) * 40)
    assert.deepEqual(
      events.filter((e) => e.type !== 'metric-changed').map((e) => e.type),
      ['link-up'],
    )
  })

  it('gives a slow link three round trips of silence, a fast one the configured interval', () => {
    // Replies take 400 ms (an overloaded peer): 1 s of silence is not enough, 3 srtt + 4 jitter is.
    const slow = new LinkMonitor()
    const s = drive(slow, 0, 10_000, (_seq, at) => (at < 5000 ? 400 : null))
    const sDown = s.events.filter((e) => e.type === 'link-down')
    assert.equal(sDown.length, 1, 'the slow link still goes down when it stops answering')
    // Last reply: the probe sent at 4800 answered at 5200.
    const silence = sDown[0]!.at - 5200
    assert.ok(silence >= 1200, `silent ${silence} ms >= 3 x 400 ms before down`)
    assert.ok(silence <= 1600, `but not much longer (${silence} ms)`)
    // The same failure on a 10 ms link is detected within the configured second.
    const fast = new LinkMonitor()
    const f = drive(fast, 0, 10_000, (_seq, at) => (at < 5000 ? 10 : null))
    const fDown = f.events.filter((e) => e.type === 'link-down')
    assert.equal(fDown.length, 1)
    assert.ok(fDown[0]!.at - 5000 <= 1000, `fast link down ${fDown[0]!.at - 5000} ms after the failure`)
  })

  it('does not declare links down when the driver itself stalled', () => {
    const m = new LinkMonitor()
    const { lastSeq } = drive(m, 0, 1000, () => 10)
    assert.equal(m.metrics(P)!.state, 'up')
    // Event loop blocked for 5 s: no probes, no ticks. On wake-up the first tick must not kill the link…
    assert.deepEqual(m.tick(6000), [])
    // …nor the tick right after the first new probe, which has not had time to be answered.
    m.onProbeSent(P, lastSeq + 1, 6000)
    assert.deepEqual(m.tick(6010), [])
    m.onProbeReply(P, lastSeq + 1, 6012)
    assert.equal(m.metrics(P)!.state, 'up')
  })

  it('comes back after three replies with srtt restarted from the new samples', () => {
    const m = new LinkMonitor()
    const { events } = drive(m, 0, 8000, (_seq, at) => (at < 2000 ? 10 : at < 4000 ? null : 40))
    assert.deepEqual(
      events.filter((e) => e.type !== 'metric-changed').map((e) => [e.type, e.at]),
      [
        ['link-up', 410],
        ['link-down', 2810],
        ['link-up', 4440],
      ],
    )
    const up = events.filter((e) => e.type === 'link-up').at(-1)!
    assert.equal(up.metrics.srttMicros, 40_000, 'no memory of the old 10 ms link')
    assert.equal(up.metrics.lossPermille, 0)
    assert.equal(
      m.metrics(P)!.lossPermille,
      0,
      'probes lost during the outage do not count against the new link',
    )
  })

  it('reports a metric change once the RTT really moved, not on noise', () => {
    const m = new LinkMonitor()
    const noisy = drive(m, 0, 10_000, (seq) => 10 + (seq % 3) * 0.2)
    assert.deepEqual(
      noisy.events.map((e) => e.type),
      ['link-up'],
    )
    const slower = drive(m, 10_000, 14_000, () => 30, noisy.lastSeq)
    const changes = slower.events.filter((e) => e.type === 'metric-changed')
    // srtt converges from 10 to 30 ms over a few seconds; at most one event per second floods a record.
    assert.ok(changes.length >= 1 && changes.length <= 4, `${changes.length} metric-changed events`)
    for (let i = 1; i < changes.length; i++) assert.ok(changes[i]!.at - changes[i - 1]!.at >= 1000)
    // Records carry the base RTT (the smallest recent sample): it reports the new 30 ms, srtt lags behind.
    assert.equal(changes.at(-1)!.metrics.baseRttMicros, 30_000)
    assert.equal(m.linkReports()[0]!.rttMicros, 30_000)
  })

  it('keeps the base RTT at the path latency when busy event loops delay most samples', () => {
    const m = new LinkMonitor()
    // A 1 ms link, then load delays its samples by 40-300 ms, except about one in five.
    const loaded = drive(m, 0, 20_000, (seq) => (seq <= 10 || seq % 5 === 0 ? 1 : 40 + ((seq * 37) % 260)))
    assert.deepEqual(
      loaded.events.map((e) => e.type),
      ['link-up'],
      'no metric change floods a record for the noise',
    )
    const met = m.metrics(P)!
    assert.ok(met.srttMicros! > 50_000, `srtt follows the delays: ${met.srttMicros} µs`)
    assert.equal(met.baseRttMicros, 1000)
    assert.equal(m.linkReports()[0]!.rttMicros, 1000, 'records carry the path latency')
  })

  it('reports a loss change from tick()', () => {
    const m = new LinkMonitor({ lossChangePermille: 50 })
    const { events } = drive(m, 0, 12_000, (seq) => (seq > 10 && seq % 4 === 0 ? null : 10))
    const loss = events.filter((e) => e.type === 'metric-changed')
    assert.ok(loss.length >= 1)
    assert.ok(loss.some((e) => e.metrics.lossPermille >= 50))
    assert.ok(!events.some((e) => e.type === 'link-down'))
  })

  it('tells the driver when the next tick matters, and only future times', () => {
    const m = new LinkMonitor({ probeTimeoutMs: 900, deadLinkTimeoutMs: 1000, upAfterReplies: 1 })
    assert.equal(m.nextDeadline(0), undefined)
    m.onProbeSent(P, 1, 100)
    assert.equal(m.nextDeadline(100), 1000, 'the probe times out')
    m.onProbeReply(P, 1, 110)
    assert.equal(m.nextDeadline(110), 1110, 'the link may be declared dead')
    m.onProbeSent(P, 2, 300)
    assert.equal(m.nextDeadline(300), 320, 'the new probe leaves its grace period')
    // Past the dead interval but only one unanswered probe: nothing happens, and the timer is not re-armed
    // in the past.
    assert.deepEqual(m.tick(1110), [])
    assert.equal(m.nextDeadline(1110), 1200, 'the probe times out')
    assert.equal(m.removePeer(P), true)
    assert.equal(m.nextDeadline(1110), undefined)
  })
})

/**
 * Drives a monitor the way the daemon's driver does with probe datagrams: we probe every 200 ms; the peer
 * sends its own probe every 200 ms at `phase` (+ jitterOf(j)), echoing the newest of ours that has arrived,
 * with the time it held it, and acknowledging the older ones (the mask). Packets take oneWay ms each way and
 * nothing gets through after failAt. Ticks every 10 ms. The peer's probes go to onPeerProbe.
 */
function driveEcho(
  m: LinkMonitor,
  opts: { to: number; phase: number; oneWay: number; failAt?: number; jitterOf?: (j: number) => number },
) {
  const events: LinkEvent[] = []
  const failAt = opts.failAt ?? Number.POSITIVE_INFINITY
  const atPeer: Array<{ seq: number; at: number }> = []
  const back: Array<{ at: number; echo: number; held: number; acked: number[] }> = []
  let seq = 0
  let echoed = 0
  let peerSeq = 0
  let nextPeerSend = opts.phase
  for (let t = 0; t < opts.to; t++) {
    while (back.length > 0 && back[0]!.at <= t) {
      const r = back.shift()!
      events.push(...m.onProbeReply(P, r.echo, t, r.held))
      for (const s of r.acked) m.onProbeDelivered(P, s)
    }
    if (t % INTERVAL === 0) {
      seq++
      m.onProbeSent(P, seq, t)
      if (t < failAt) atPeer.push({ seq, at: t + opts.oneWay })
    }
    if (t >= nextPeerSend) {
      peerSeq++
      const arrived = atPeer.filter((x) => x.at <= t && x.seq > echoed)
      const newest = arrived.at(-1)
      if (newest && t < failAt) {
        back.push({
          at: t + opts.oneWay,
          echo: newest.seq,
          held: t - newest.at,
          acked: arrived.slice(0, -1).map((x) => x.seq),
        })
        echoed = newest.seq
        m.onPeerProbe(P, 0)
      }
      nextPeerSend += INTERVAL + (opts.jitterOf?.(peerSeq) ?? 0)
    }
    if (t % 10 === 0) events.push(...m.tick(t))
  }
  return events
}

describe("LinkMonitor with replies that ride on the peer's probes", () => {
  const echoMonitor = () =>
    new LinkMonitor({ deadLinkTimeoutMs: 750, replyDelayMs: 200, probeTimeoutMs: 600 })

  it('takes the time the peer held a reply out of the RTT sample', () => {
    const m = echoMonitor()
    m.onProbeSent(P, 1, 0)
    m.onProbeReply(P, 1, 150, 140)
    assert.equal(m.metrics(P)!.srttMicros, 10_000)
  })

  it('does not count an overtaken probe the peer acknowledged as lost', () => {
    const m = echoMonitor()
    m.onProbeSent(P, 1, 0)
    m.onProbeSent(P, 2, 200)
    // The peer saw both before its next send and answered only the newer one.
    m.onProbeReply(P, 2, 390, 185)
    assert.equal(m.onProbeDelivered(P, 1), true)
    assert.equal(m.onProbeDelivered(P, 1), false, 'once')
    m.tick(5000)
    assert.equal(m.metrics(P)!.lossPermille, 0)
    assert.equal(m.metrics(P)!.replies, 1, 'an acknowledgement is not a reply')
  })

  it("combines our lost probes and the peer's missing ones into round-trip loss", () => {
    const m = new LinkMonitor({ lossWindow: 10, upAfterReplies: 1 })
    for (let i = 1; i <= 10; i++) {
      m.onProbeSent(P, i, i * 100)
      if (i % 5 !== 0) m.onProbeReply(P, i, i * 100 + 5)
    }
    m.tick(3000)
    assert.equal(m.metrics(P)!.lossPermille, 200)
    for (let i = 0; i < 9; i++) m.onPeerProbe(P, 0)
    m.onPeerProbe(P, 1)
    // out 2/10, back 1/10 of its last ten: 1 - 0.8 x 0.9
    assert.equal(m.metrics(P)!.lossPermille, 280)
  })

  it('keeps a healthy link up and loss-free whatever the phase between the two probe timers', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 199 }),
        fc.integer({ min: 0, max: 20 }),
        fc.array(fc.integer({ min: -15, max: 15 }), { minLength: 100, maxLength: 100 }),
        (phase, oneWay, jitter) => {
          const m = echoMonitor()
          const events = driveEcho(m, { to: 12_000, phase, oneWay, jitterOf: (j) => jitter[j % 100]! })
          assert.deepEqual(
            events.filter((e) => e.type !== 'metric-changed').map((e) => e.type),
            ['link-up'],
          )
          assert.equal(m.metrics(P)!.lossPermille, 0)
          const srtt = m.metrics(P)!.srttMicros!
          assert.ok(Math.abs(srtt - 2000 * oneWay) <= 1000, `srtt ${srtt} µs for ${oneWay} ms each way`)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('says when silence can next be declared: a tick then does it, a tick just before does not', () => {
    const m = echoMonitor()
    driveEcho(m, { to: 3000, phase: 120, oneWay: 2, failAt: 2500 })
    assert.equal(m.metrics(P)!.state, 'up')
    const last = m.metrics(P)!.lastReplyAt!
    // The probes sent at 2600 and 2800 went unanswered, and their grace is over.
    const at = m.downDeadline(3000)!
    assert.equal(at, last + 750, 'the dead interval after the last reply')
    assert.ok(at > 3000 && at < 3400, 'before the next probe round but one')
    const downs = (t: number) => m.tick(t).filter((e) => e.type === 'link-down').length
    assert.equal(downs(at - 1), 0)
    assert.equal(downs(at), 1)
    assert.equal(m.downDeadline(at), undefined, 'nothing is up')
  })

  it('detects a silent failure within one second, whatever the phase', () => {
    for (const phase of [0, 1, 50, 100, 150, 199]) {
      for (const failAt of [5000, 5050, 5120, 5199]) {
        const m = echoMonitor()
        const events = driveEcho(m, { to: 9000, phase, oneWay: 2, failAt })
        const down = events.filter((e) => e.type === 'link-down')
        assert.equal(down.length, 1, `phase ${phase}, failure at ${failAt}`)
        const detection = down[0]!.at - failAt
        assert.ok(detection <= 1000, `phase ${phase}: detected ${detection} ms after failure at ${failAt}`)
      }
    }
  })
})

describe('LinkMonitor properties', () => {
  it('keeps metrics in range and never goes down while every probe is answered in time', () => {
    const arbRun = fc.array(fc.option(fc.integer({ min: 0, max: 400 }), { freq: 4 }), {
      minLength: 1,
      maxLength: 120,
    })
    fc.assert(
      fc.property(arbRun, (rtts) => {
        const m = new LinkMonitor()
        // Probes after the generated ones are answered, so the run ends on a healthy link.
        const { events } = drive(m, 0, rtts.length * INTERVAL + 2000, (seq) =>
          seq > rtts.length ? 10 : rtts[seq - 1]!,
        )
        const samples = [...rtts.filter((r): r is number => r !== null), 10]
        const met = m.metrics(P)!
        assert.ok(met.lossPermille >= 0 && met.lossPermille <= 1000)
        if (met.srttMicros !== null) {
          assert.ok(
            met.srttMicros >= Math.min(...samples) * 1000 - 1 &&
              met.srttMicros <= Math.max(...samples) * 1000 + 1,
          )
        }
        // Up and down alternate, starting with up.
        const transitions = events.filter((e) => e.type !== 'metric-changed').map((e) => e.type)
        transitions.forEach((t, i) => {
          assert.equal(t, i % 2 === 0 ? 'link-up' : 'link-down')
        })
        if (!rtts.includes(null)) {
          assert.ok(!transitions.includes('link-down'), 'a link answering every probe stays up')
        }
      }),
      { numRuns: 200 },
    )
  })
})
