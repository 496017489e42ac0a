// The policy hook with a fake policy: called with 'ingress' where a message enters the bus and 'egress' at
// the destination router; a refusal at ingress fails the send, at egress drops the message and tells a
// requester (error reply) or an at-least-once sender (refusal ack); replies are not checked again.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { BusError, type Envelope, type PolicyDecision, type PolicyDirection } from '../../src/bus/index.js'
import { buildMesh, enc } from './bus-harness.js'

interface Call {
  node: string
  direction: PolicyDirection
  subject: string
  src: string
}

/** A fake policy: denies by subject prefix per direction, and records every call. */
function fakePolicy(deny: { ingress?: string; egress?: string }) {
  const calls: Call[] = []
  const hook =
    (node: string) =>
    (env: Envelope, direction: PolicyDirection): PolicyDecision => {
      calls.push({ node, direction, subject: env.subject || `agent:${env.agent}`, src: env.srcNode })
      const prefix = deny[direction]
      if (prefix !== undefined && (env.subject.startsWith(prefix) || env.agent.startsWith(prefix)))
        return { allow: false, code: 'DENY_RULE', reason: `${direction} rule for ${prefix}` }
      return { allow: true }
    }
  return { calls, hook }
}

const rejectsWith = (code: string, text?: RegExp) => (e: unknown) =>
  e instanceof BusError && e.code === code && (text === undefined || text.test(e.message))

describe('policy hook', () => {
  test('is called at ingress on the origin and at egress on the destination, not in transit', async () => {
    const p = fakePolicy({})
    const m = buildMesh(
      ['a', 'b', 'c'],
      [
        ['a', 'b'],
        ['b', 'c'],
      ],
      { policy: p.hook },
    )
    m.r('c').subscribe('ok.*', () => {})
    await m.sched.advance(5)
    await m.r('a').publish('ok.1', enc(''))
    await m.sched.advance(5)
    assert.deepEqual(p.calls, [
      { node: 'a', direction: 'ingress', subject: 'ok.1', src: 'a' },
      { node: 'c', direction: 'egress', subject: 'ok.1', src: 'a' },
    ])
  })

  test('an ingress refusal fails the send before anything leaves the node', async () => {
    const p = fakePolicy({ ingress: 'secret' })
    const m = buildMesh(['a', 'b'], [['a', 'b']], { policy: p.hook })
    const local: string[] = []
    m.r('a').subscribe('secret.x', () => local.push('a'))
    m.r('b').subscribe('secret.x', () => local.push('b'))
    await m.sched.advance(5)
    const frames = m.link('a', 'b').framesSent
    await assert.rejects(m.r('a').publish('secret.x', enc('')), rejectsWith('POLICY_DENIED', /DENY_RULE/))
    await assert.rejects(
      m.r('a').send({ node: 'b', agent: 'secret-agent' }, enc('')),
      rejectsWith('POLICY_DENIED'),
    )
    await m.sched.advance(5)
    assert.deepEqual(local, [], 'not even local subscribers')
    assert.equal(m.link('a', 'b').framesSent, frames)
    assert.equal(m.r('a').metrics.droppedTotal('policy_denied'), 2)
  })

  test('an egress refusal drops the message at the destination and counts it', async () => {
    const p = fakePolicy({ egress: 'secret' })
    const m = buildMesh(['a', 'b'], [['a', 'b']], { policy: p.hook })
    const got: string[] = []
    m.r('b').subscribe('secret.*', () => got.push('secret'))
    m.r('b').subscribe('open.*', () => got.push('open'))
    await m.sched.advance(5)
    await m.r('a').publish('secret.x', enc(''))
    await m.r('a').publish('open.x', enc(''))
    await m.sched.advance(5)
    assert.deepEqual(got, ['open'])
    assert.equal(m.r('b').metrics.droppedTotal('policy_denied'), 1)
  })

  test('a requester learns of an egress refusal; the reply itself is not checked', async () => {
    const p = fakePolicy({ egress: 'secret' })
    const m = buildMesh(['a', 'b'], [['a', 'b']], { policy: p.hook })
    m.r('b').registerAgent('secret-db', (req) => void m.r('b').reply(req, enc('never')))
    m.r('b').registerAgent('db', (req) => void m.r('b').reply(req, enc('row')))
    const denied = assert.rejects(
      m.r('a').request({ node: 'b', agent: 'secret-db' }, enc('')),
      rejectsWith('POLICY_DENIED', /egress rule/),
    )
    const ok = m.r('a').request({ node: 'b', agent: 'db' }, enc(''))
    await m.sched.advance(5)
    await denied
    assert.equal(new TextDecoder().decode((await ok).payload), 'row')
    assert.ok(!p.calls.some((c) => c.src === 'b'), 'replies were not passed to the policy')
  })

  test('an at-least-once send refused at egress fails with POLICY_DENIED, without retrying', async () => {
    const p = fakePolicy({ egress: 'secret' })
    const m = buildMesh(['a', 'b'], [['a', 'b']], { policy: p.hook, limits: { ackTimeoutMs: 10 } })
    m.r('b').registerAgent('secret-x', () => {})
    const sent = assert.rejects(
      m.r('a').send({ node: 'b', agent: 'secret-x' }, enc(''), { reliable: true }),
      rejectsWith('POLICY_DENIED'),
    )
    await m.sched.advance(1000)
    await sent
    assert.equal(m.r('a').metrics.snapshot().retries, 0)
  })

  test('local delivery passes both checks too', async () => {
    const p = fakePolicy({ egress: 'secret' })
    const m = buildMesh(['a'], [], { policy: p.hook })
    const got: string[] = []
    m.r('a').registerAgent('secret-self', () => got.push('x'))
    await assert.rejects(
      m.r('a').send({ node: 'a', agent: 'secret-self' }, enc('')),
      rejectsWith('POLICY_DENIED'),
    )
    assert.deepEqual(got, [])
    assert.deepEqual(
      p.calls.map((c) => c.direction),
      ['ingress', 'egress'],
    )
  })
})
