// The network policy engine: selectors and globs, first-match order and the default, deny, rate limits with
// an injected clock (per policy and sender, per direction), max_latency_ms against the path, the encryption
// rule, fan-out decisions, and bad patterns refused with a clear PolicyError.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Registry } from 'prom-client'
import { Flag, makeEnvelope } from '../../src/bus/index.js'
import { parseConfig } from '../../src/config/index.js'
import { engineFromConfig } from '../../src/daemon/policy-node.js'
import {
  DEFAULT_POLICY,
  type Party,
  type PathInfo,
  PolicyEngine,
  PolicyError,
  PolicyPoint,
  type PolicySpec,
  parseSelector,
} from '../../src/policy/index.js'

const party = (node: string, cluster: string, agent = '', region = 'r1'): Party => ({
  node: `node_${node}`,
  nodeName: node,
  cluster,
  region,
  agent,
})
const fast: PathInfo = { latencyMs: () => 1, encrypted: () => true }
const a = party('a1', 'alpha')
const b = party('b1', 'beta')
const c = party('c1', 'gamma')

describe('selectors', () => {
  test('cluster, node and agent globs match what they name', () => {
    assert.ok(parseSelector('cluster/alpha').matches(a))
    assert.ok(!parseSelector('cluster/alpha').matches(b))
    assert.ok(parseSelector('cluster/*').matches(b))
    assert.ok(parseSelector('cluster/al*').matches(a))
    assert.ok(!parseSelector('cluster/al*').matches(party('x', 'xalpha')))
    assert.ok(parseSelector('node/a1').matches(a))
    assert.ok(parseSelector('node/node_a*').matches(a), 'node id')
    assert.ok(parseSelector('agent/web-*').matches(party('a1', 'alpha', 'web-3')))
    assert.ok(!parseSelector('agent/web-*').matches(party('a1', 'alpha', 'db-1')))
  })

  test('a dot is literal, not "any character"', () => {
    assert.ok(parseSelector('cluster/us.west').matches(party('x', 'us.west')))
    assert.ok(!parseSelector('cluster/us.west').matches(party('x', 'usXwest')))
  })

  test('agent/* does not match a message without an agent (a router or the CLI)', () => {
    assert.ok(!parseSelector('agent/*').matches(a))
  })

  test('bad patterns are refused with BAD_PATTERN and say why', () => {
    for (const [text, why] of [
      ['alpha', /expected cluster/],
      ['team/alpha', /unknown kind "team"/],
      ['cluster/', /is empty/],
      ['cluster/al pha', /only letters/],
      ['cluster/a(b)', /only letters/],
      [`cluster/${'x'.repeat(200)}`, /longer than/],
    ] as const) {
      assert.throws(
        () => parseSelector(text),
        (e: unknown) => e instanceof PolicyError && e.code === 'BAD_PATTERN' && why.test(e.message),
        text,
      )
    }
  })

  test('a policy with a bad pattern, a duplicate name or a rate on a deny fails to compile', () => {
    const ok = { source: 'cluster/*', destination: 'cluster/*' }
    assert.throws(() => new PolicyEngine([{ name: 'p', ...ok, destination: 'x/y' }]), /policy "p": "x\/y"/)
    assert.throws(
      () =>
        new PolicyEngine([
          { name: 'p', ...ok },
          { name: 'p', ...ok },
        ]),
      (e: unknown) => e instanceof PolicyError && e.code === 'DUPLICATE_POLICY',
    )
    assert.throws(
      () => new PolicyEngine([{ name: 'p', ...ok, allow: false, rate_limit_rps: 5 }]),
      /needs allow: true/,
    )
    assert.throws(() => new PolicyEngine([{ name: 'p', ...ok, rate_limit_rps: 0 }]), /positive/)
  })
})

describe('decisions', () => {
  test('the first matching policy decides, in configured order', () => {
    const specs: PolicySpec[] = [
      { name: 'alpha-to-gamma', source: 'cluster/alpha', destination: 'cluster/gamma', allow: false },
      { name: 'anything', source: 'cluster/*', destination: 'cluster/*', allow: true },
    ]
    const e = new PolicyEngine(specs)
    const v = e.decide(a, c, 'ingress', fast, 0)
    assert.equal(v.allow, false)
    assert.equal(v.policy, 'alpha-to-gamma')
    assert.equal(v.code, 'POLICY_DENIED')
    assert.match(v.reason!, /denied by policy "alpha-to-gamma"/)
    assert.deepEqual(
      { allow: e.decide(a, b, 'ingress', fast, 0).allow, policy: e.decide(a, b, 'ingress', fast, 0).policy },
      { allow: true, policy: 'anything' },
    )
    // Reversed order: the broad allow comes first and wins.
    const r = new PolicyEngine([specs[1]!, specs[0]!])
    assert.equal(r.decide(a, c, 'ingress', fast, 0).allow, true)
  })

  test('a node whose certificate names another cluster is judged afresh (no stale remembered match)', () => {
    const e = new PolicyEngine([
      { name: 'no-alpha', source: 'cluster/alpha', destination: 'cluster/*', allow: false },
    ])
    assert.equal(e.decide(a, c, 'ingress', fast, 0).allow, false)
    assert.equal(e.decide({ ...a, cluster: 'beta' }, c, 'ingress', fast, 0).allow, true)
    assert.equal(e.decide(a, c, 'ingress', fast, 0).allow, false)
  })

  test('nothing matching: allowed by default, refused with default_policy deny', () => {
    const specs: PolicySpec[] = [
      { name: 'x', source: 'cluster/beta', destination: 'cluster/beta', allow: true },
    ]
    const open = new PolicyEngine(specs).decide(a, c, 'ingress', fast, 0)
    assert.deepEqual([open.allow, open.policy], [true, DEFAULT_POLICY])
    const closed = new PolicyEngine(specs, { defaultAllow: false }).decide(a, c, 'ingress', fast, 0)
    assert.equal(closed.allow, false)
    assert.equal(closed.policy, DEFAULT_POLICY)
    assert.match(closed.reason!, /default policy is deny/)
    assert.equal(
      new PolicyEngine(specs, { defaultAllow: false }).decide(b, b, 'ingress', fast, 0).allow,
      true,
    )
  })

  test('max_latency_ms: refused above the bound, allowed below it or when the latency is unknown', () => {
    const e = new PolicyEngine([
      { name: 'near', source: 'cluster/*', destination: 'cluster/*', max_latency_ms: 100 },
    ])
    const lat = (ms: number | null): PathInfo => ({ latencyMs: () => ms, encrypted: () => true })
    const slow = e.decide(a, c, 'ingress', lat(150), 0)
    assert.equal(slow.allow, false)
    assert.equal(slow.outcome, 'latency_exceeded')
    assert.match(slow.reason!, /at most 100 ms and the path to node_c1 takes 150 ms/)
    assert.equal(e.decide(a, c, 'ingress', lat(99), 0).allow, true)
    assert.equal(e.decide(a, c, 'ingress', lat(null), 0).allow, true)
  })

  test('the latency that counts is to the destination at ingress and to the source at egress', () => {
    const asked: string[] = []
    const path: PathInfo = {
      latencyMs: (n) => {
        asked.push(n)
        return 1
      },
      encrypted: () => true,
    }
    const e = new PolicyEngine([
      { name: 'near', source: 'cluster/*', destination: 'cluster/*', max_latency_ms: 100 },
    ])
    e.decide(a, c, 'ingress', path, 0)
    e.decide(a, c, 'egress', path, 0)
    assert.deepEqual(asked, ['node_c1', 'node_a1'])
  })

  test('encrypt: a path that is not encrypted is refused', () => {
    const e = new PolicyEngine([
      { name: 'sealed', source: 'cluster/*', destination: 'cluster/*', encrypt: true },
    ])
    const v = e.decide(a, c, 'ingress', { latencyMs: () => 1, encrypted: (n) => n !== 'node_c1' }, 0)
    assert.equal(v.allow, false)
    assert.equal(v.outcome, 'unencrypted')
    assert.equal(
      e.decide(a, b, 'ingress', { latencyMs: () => 1, encrypted: (n) => n !== 'node_c1' }, 0).allow,
      true,
    )
  })
})

describe('rate limits', () => {
  const limit = (rps: number) =>
    new PolicyEngine([
      { name: 'slow', source: 'cluster/alpha', destination: 'cluster/*', rate_limit_rps: rps },
    ])

  test('a burst of one second, then the refill rate, on an injected clock', () => {
    const e = limit(5)
    let ok = 0
    for (let i = 0; i < 20; i++) if (e.decide(a, c, 'ingress', fast, 1000).allow) ok++
    assert.equal(ok, 5, 'burst of rps')
    const v = e.decide(a, c, 'ingress', fast, 1000)
    assert.equal(v.code, 'RATE_LIMITED')
    assert.match(v.reason!, /policy "slow" allows 5 messages per second/)
    // 200 ms later one token is back (5 per second), not two.
    assert.equal(e.decide(a, c, 'ingress', fast, 1200).allow, true)
    assert.equal(e.decide(a, c, 'ingress', fast, 1200).allow, false)
    // Over 10 simulated seconds at 100 tries per second: about 5 per second get through.
    let passed = 0
    for (let t = 2000; t < 12_000; t += 10) if (e.decide(a, c, 'ingress', fast, t).allow) passed++
    assert.ok(passed >= 50 && passed <= 56, `passed ${passed}`)
  })

  test('a fractional rate lets one message through per 1/rps seconds', () => {
    const e = limit(0.5)
    assert.equal(e.decide(a, c, 'ingress', fast, 0).allow, true)
    assert.equal(e.decide(a, c, 'ingress', fast, 1000).allow, false)
    assert.equal(e.decide(a, c, 'ingress', fast, 2000).allow, true)
  })

  test('buckets are per sender (node and agent) and per direction; other traffic is not limited', () => {
    const e = limit(1)
    assert.equal(e.decide(a, c, 'ingress', fast, 0).allow, true)
    assert.equal(e.decide(a, c, 'ingress', fast, 0).allow, false)
    assert.equal(e.decide(party('a2', 'alpha'), c, 'ingress', fast, 0).allow, true, 'another node of alpha')
    assert.equal(e.decide(party('a1', 'alpha', 'bot'), c, 'ingress', fast, 0).allow, true, 'another agent')
    assert.equal(e.decide(a, c, 'egress', fast, 0).allow, true, 'egress has its own bucket')
    assert.equal(e.decide(b, c, 'ingress', fast, 0).allow, true, 'beta is not limited')
  })

  test('the bucket table is bounded', () => {
    const e = new PolicyEngine(
      [{ name: 'slow', source: 'cluster/*', destination: 'cluster/*', rate_limit_rps: 1 }],
      { maxBuckets: 10 },
    )
    for (let i = 0; i < 100; i++) e.decide(party(`n${i}`, 'alpha'), c, 'ingress', fast, 0)
    assert.equal(e.bucketCount('ingress'), 10)
  })

  test('a fan-out takes one token per message, allowed when any destination is', () => {
    const e = new PolicyEngine([
      { name: 'no-gamma', source: 'cluster/*', destination: 'cluster/gamma', allow: false },
      { name: 'slow', source: 'cluster/*', destination: 'cluster/*', rate_limit_rps: 2 },
    ])
    const both = [b, c]
    assert.equal(e.decideMany(a, both, 'ingress', fast, 0).allow, true)
    assert.equal(
      e.decideMany(a, [b, party('b2', 'beta')], 'ingress', fast, 0).allow,
      true,
      'one token for two',
    )
    const third = e.decideMany(a, both, 'ingress', fast, 0)
    assert.equal(third.allow, false)
    assert.equal(third.code, 'RATE_LIMITED', 'first destination refused by the rate')
    const onlyGamma = e.decideMany(a, [c, party('c2', 'gamma')], 'ingress', fast, 0)
    assert.deepEqual([onlyGamma.allow, onlyGamma.policy], [false, 'no-gamma'])
  })
})

describe('enforcement point and config', () => {
  const envelope = (src: string, to: string[], opts: { agent?: string; from?: string } = {}) =>
    makeEnvelope({
      flags: Flag.ACK_REQUESTED,
      ttl: 8,
      priority: 5,
      epoch: 1,
      seq: 1,
      timestamp: 0,
      srcNode: src,
      srcAgent: opts.from ?? '',
      to,
      agent: opts.agent ?? '',
      subject: opts.agent ? '' : 'x.y',
      payload: new Uint8Array(0),
    })

  test('source and destination clusters come from the directory; decisions are counted', async () => {
    const registry = new Registry()
    const facts: Record<string, { name: string; cluster: string; region: string }> = {
      na: { name: 'a', cluster: 'alpha', region: 'r1' },
      nc: { name: 'c', cluster: 'gamma', region: 'r1' },
    }
    const point = new PolicyPoint({
      selfId: 'nc',
      engine: new PolicyEngine([
        { name: 'no-alpha', source: 'cluster/alpha', destination: 'cluster/gamma', allow: false },
      ]),
      directory: (id) => facts[id],
      path: fast,
      now: () => 0,
      registry,
    })
    const d = point.check(envelope('na', ['nc']), 'egress')
    assert.deepEqual(d, { allow: false, code: 'POLICY_DENIED', reason: 'denied by policy "no-alpha"' })
    assert.deepEqual(point.check(envelope('nc', ['na']), 'ingress'), { allow: true })
    // An unknown node has no cluster: a cluster selector does not match it.
    assert.deepEqual(point.check(envelope('nx', ['nc']), 'egress'), { allow: true })
    const text = await registry.metrics()
    assert.match(
      text,
      /blackroad_policy_decisions_total\{policy="no-alpha",decision="deny",direction="egress"\} 1/,
    )
    assert.match(
      text,
      /blackroad_policy_decisions_total\{policy="_default",decision="allow",direction="ingress"\} 1/,
    )
  })

  test('agent selectors use the envelope sender and destination agent', () => {
    const point = new PolicyPoint({
      selfId: 'nb',
      engine: new PolicyEngine([
        { name: 'bots', source: 'agent/bot-*', destination: 'agent/db', allow: false },
      ]),
      directory: () => ({ name: 'x', cluster: 'alpha', region: 'r1' }),
      path: fast,
      now: () => 0,
    })
    assert.equal(point.check(envelope('na', ['nb'], { from: 'bot-1', agent: 'db' }), 'ingress').allow, false)
    assert.equal(point.check(envelope('na', ['nb'], { from: 'web', agent: 'db' }), 'ingress').allow, true)
    assert.equal(
      point.check(envelope('na', ['nb'], { from: 'bot-1', agent: 'cache' }), 'ingress').allow,
      true,
    )
  })

  test('the guide’s mesh.yaml policies compile, and default_policy and rate_limit_rps parse', () => {
    const cfg = parseConfig(
      [
        'mesh:',
        '  default_policy: deny',
        '  policies:',
        '    - name: agent-to-agent',
        '      source: agent/*',
        '      destination: agent/*',
        '      allow: true',
        '    - name: slow-edge',
        '      source: node/edge-*',
        '      destination: cluster/*',
        '      rate_limit_rps: 10',
        '',
      ].join('\n'),
      'mesh.yaml',
    )
    const e = engineFromConfig(cfg.mesh)
    assert.equal(e.defaultAllow, false)
    assert.deepEqual(
      e.policies.map((p) => [p.name, p.source.kind, p.rateLimitRps]),
      [
        ['agent-to-agent', 'agent', null],
        ['slow-edge', 'node', 10],
      ],
    )
    assert.throws(
      () =>
        parseConfig(
          'mesh:\n  policies:\n    - name: p\n      source: cluster/*\n      destination: cluster/*\n      allow: false\n      rate_limit_rps: 3\n',
          'bad.yaml',
        ),
      /needs allow: true/,
    )
  })
})
