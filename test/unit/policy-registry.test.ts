// The federation's network policies from the registry (src/policy/registry-policies.ts, PolicyNode and the
// API's validation): the guide's NetworkPolicy matched by cluster and agent lists, tried after the config's
// policies in name order, bad patterns left out with a reason instead of failing the rest, an unchanged
// registry not rebuilding the engine (rate-limit buckets survive), and API requests refused with a reason.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Registry } from 'prom-client'
import { ApiError } from '../../src/api/errors.js'
import { Flag, makeEnvelope } from '../../src/bus/index.js'
import { parseConfig } from '../../src/config/index.js'
import { RAFT_AGENT } from '../../src/daemon/control-plane.js'
import { PolicyNode } from '../../src/daemon/policy-node.js'
import { policyFromRequest, policyView } from '../../src/daemon/policy-routes.js'
import type { Party, PathInfo } from '../../src/policy/index.js'
import { compileRegistryPolicies, compileRegistryPolicy } from '../../src/policy/registry-policies.js'
import type { NetworkPolicy } from '../../src/protocols/registry/index.js'

const party = (cluster: string, agent = ''): Party => ({
  node: `node_${cluster}`,
  nodeName: cluster,
  cluster,
  region: 'r1',
  agent,
})
const fast: PathInfo = { latencyMs: () => 1, encrypted: () => true }

function pol(name: string, over: Partial<NetworkPolicy> = {}): NetworkPolicy {
  return {
    name,
    sourceClusters: ['*'],
    destinationClusters: ['*'],
    sourceAgents: [],
    destinationAgents: [],
    action: 'allow',
    rateLimitRps: 0,
    encrypt: true,
    maxLatencyMs: 0,
    ...over,
  }
}

test('a registry policy matches by cluster lists and, when given, agent lists', () => {
  const p = compileRegistryPolicy(
    pol('edge-to-db', {
      sourceClusters: ['edge-*', 'lab'],
      destinationClusters: ['core'],
      destinationAgents: ['db-*'],
      action: 'deny',
    }),
  )
  assert.equal(p.allow, false)
  assert.ok(p.source.matches(party('edge-3')))
  assert.ok(p.source.matches(party('lab', 'anything')))
  assert.ok(!p.source.matches(party('core')))
  assert.ok(p.destination.matches(party('core', 'db-1')))
  assert.ok(!p.destination.matches(party('core', 'web-1')), 'agent list not matched')
  assert.ok(!p.destination.matches(party('core')), 'no agent: an agent list never matches it')
  const limited = compileRegistryPolicy(pol('slow', { action: 'rateLimit', rateLimitRps: 5 }))
  assert.equal(limited.rateLimitRps, 5)
  assert.equal(compileRegistryPolicy(pol('lat', { maxLatencyMs: 40 })).maxLatencyMs, 40)
})

test('patterns that cannot compile are left out with a reason; the rest still apply, in name order', () => {
  const { policies, refused } = compileRegistryPolicies([
    pol('zeta'),
    pol('bad', { sourceClusters: ['us west'] }),
    pol('alpha'),
    pol('empty', { destinationClusters: [] }),
  ])
  assert.deepEqual(
    policies.map((p) => p.name),
    ['alpha', 'zeta'],
  )
  assert.deepEqual(
    refused.map((r) => r.name),
    ['bad', 'empty'],
  )
  assert.match(refused[0]!.reason, /us west/)
})

test("PolicyNode: config policies first, then the registry's; unchanged registries keep the engine", () => {
  const config = parseConfig(
    [
      'node:',
      '  name: n1',
      'mesh:',
      '  policies:',
      '    - name: local-allow',
      '      source: cluster/ops',
      '      destination: cluster/*',
      '      allow: true',
      '',
    ].join('\n'),
    'test.yaml',
  )
  const node = new PolicyNode(config, 'node_n1', new Registry())
  const deny = pol('deny-all', { action: 'deny' })
  const clash = pol('local-allow', { action: 'deny' })
  const r = node.setRegistryPolicies([deny, clash])
  assert.equal(r.changed, true)
  assert.deepEqual(
    r.refused.map((x) => x.name),
    ['local-allow'],
  )
  assert.deepEqual(node.list(), [
    { name: 'local-allow', from: 'config' },
    { name: 'deny-all', from: 'registry' },
  ])
  const engine = node.point.engine
  // ops -> anything: the config's allow comes first; anyone else is denied by the registry.
  assert.equal(engine.decide(party('ops'), party('core'), 'ingress', fast, 0).allow, true)
  const v = engine.decide(party('edge'), party('core'), 'ingress', fast, 0)
  assert.equal(v.allow, false)
  assert.equal(v.policy, 'deny-all')
  assert.equal(node.setRegistryPolicies([clash, deny]).changed, false, 'same policies, other order')
  assert.equal(node.point.engine, engine)
  assert.equal(node.setRegistryPolicies([]).changed, true)
  assert.equal(node.point.engine.decide(party('edge'), party('core'), 'ingress', fast, 0).allow, true)
  // A config reload keeps the registry's policies.
  node.setRegistryPolicies([deny])
  node.reload(config.mesh)
  assert.equal(node.point.engine.decide(party('edge'), party('core'), 'ingress', fast, 0).allow, false)
})

test('the API refuses what routers could not enforce, with the reason', () => {
  const base = {
    name: 'p1',
    source_clusters: ['*'],
    destination_clusters: ['core'],
    policy: 'deny' as const,
  }
  const p = policyFromRequest(base)
  assert.deepEqual(policyView(p), {
    name: 'p1',
    source_clusters: ['*'],
    destination_clusters: ['core'],
    source_agents: [],
    destination_agents: [],
    policy: 'deny',
    encrypt: true,
  })
  const bad = (b: object, re: RegExp) =>
    assert.throws(
      () => policyFromRequest({ ...base, ...b }),
      (e: unknown) => e instanceof ApiError && e.status === 400 && re.test(e.message),
    )
  bad({ policy: 'rate_limit' }, /rate_limit_rps/)
  bad({ rate_limit_rps: 5 }, /rate_limit_rps/)
  bad({ source_clusters: ['us west'] }, /us west/)
  const rl = policyFromRequest({ ...base, policy: 'rate_limit', rate_limit_rps: 10 })
  assert.equal(rl.action, 'rateLimit')
  assert.equal(policyView(rl).rate_limit_rps, 10)
})

test("a deny between clusters does not cut the control plane's own traffic (the _raft agent)", async () => {
  const config = parseConfig('node:\n  name: n1\n', 'test.yaml')
  const registry = new Registry()
  const node = new PolicyNode(config, 'node_n1', registry)
  node.setRegistryPolicies([pol('deny-all', { action: 'deny' })])
  node.point.directory = (id) => ({ name: id, cluster: id === 'node_n1' ? 'alpha' : 'gamma', region: 'r1' })
  const env = (agent: string) =>
    makeEnvelope({
      flags: Flag.ACK_REQUESTED,
      ttl: 8,
      priority: 9,
      epoch: 1,
      seq: 1,
      timestamp: 0,
      srcNode: 'node_n1',
      srcAgent: '',
      to: ['node_n2'],
      agent,
      subject: '',
      payload: new Uint8Array(0),
    })
  assert.equal(node.point.check(env(RAFT_AGENT), 'ingress').allow, true)
  assert.equal(node.point.check(env(RAFT_AGENT), 'egress').allow, true)
  assert.equal(node.point.check(env('worker'), 'ingress').allow, false)
  assert.match(
    await registry.metrics(),
    /blackroad_policy_decisions_total\{policy="_system",decision="allow",direction="ingress"\} 1/,
  )
})
