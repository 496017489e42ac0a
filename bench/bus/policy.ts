// Micro-benchmark of the network policy check on the bus hot path, in one process: the enforcement point
// alone (no policies; 20 policies where the last one matches; a rate-limit policy), and two routers joined by
// an in-memory link publishing 256-byte messages without a policy hook and with 20 policies (ingress at the
// sender, egress at the receiver). Rates are per second of this process's CPU time, as in micro.ts.
//
//   node --import tsx bench/bus/policy.ts [--count N] [--runs R]

import { performance } from 'node:perf_hooks'
import { type BusLink, BusRouter, type Envelope, makeEnvelope, type PolicyHook } from '../../src/bus/index.js'
import { PolicyEngine, PolicyPoint, type PolicySpec } from '../../src/policy/index.js'

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : def
}
const COUNT = arg('count', 300_000)
const RUNS = arg('runs', 5)
const PAYLOAD = new Uint8Array(256).fill(0x61)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(0)}k`)

function cpuRate(n: number, fn: () => void): number {
  const cpu = process.cpuUsage()
  fn()
  const used = process.cpuUsage(cpu)
  return n / ((used.user + used.system) / 1e6)
}

const facts: Record<string, { name: string; cluster: string; region: string }> = {
  a: { name: 'a', cluster: 'alpha', region: 'west' },
  b: { name: 'b', cluster: 'beta', region: 'west' },
}

/** 19 policies that do not match alpha -> beta, then one that does. */
const twenty: PolicySpec[] = [
  ...Array.from({ length: 19 }, (_, i) => ({
    name: `p${i}`,
    source: `cluster/other-${i}-*`,
    destination: 'cluster/*',
    allow: false,
  })),
  { name: 'last', source: 'cluster/alpha', destination: 'cluster/be*', allow: true, max_latency_ms: 100 },
]

function point(specs: PolicySpec[], self: string): PolicyPoint {
  return new PolicyPoint({
    selfId: self,
    engine: new PolicyEngine(specs),
    directory: (id) => facts[id],
    path: { latencyMs: () => 1, encrypted: () => true },
    now: () => performance.now(),
  })
}

const env: Envelope = makeEnvelope({
  flags: 0,
  ttl: 8,
  priority: 5,
  epoch: 1,
  seq: 1,
  timestamp: 0,
  srcNode: 'a',
  srcAgent: '',
  to: ['b'],
  agent: '',
  subject: 'bench.policy',
  payload: PAYLOAD,
})

function checks(label: string, p: PolicyPoint): void {
  const rates: number[] = []
  for (let r = 0; r < RUNS; r++)
    rates.push(
      cpuRate(COUNT, () => {
        for (let i = 0; i < COUNT; i++) p.check(env, 'ingress')
      }),
    )
  console.log(`${label.padEnd(40)} ${fmt(median(rates)).padStart(7)} checks/cpu-s`)
}

/** Two routers, a -> b over an in-memory link delivering synchronously; b has one subscriber. */
async function routers(label: string, hook: (self: string) => PolicyHook | undefined): Promise<void> {
  const a = new BusRouter({ nodeId: 'a', nextHop: (n) => (n === 'b' ? 'b' : null), policy: hook('a') })
  const b = new BusRouter({ nodeId: 'b', nextHop: (n) => (n === 'a' ? 'a' : null), policy: hook('b') })
  const link = (to: BusRouter, peer: string, self: string): BusLink => ({
    peerId: peer,
    send: (frame) => {
      to.receive(self, frame)
      return true
    },
    onDrain: () => {},
  })
  a.addLink(link(b, 'b', 'a'))
  b.addLink(link(a, 'a', 'b'))
  let got = 0
  b.subscribe('bench.>', () => got++)
  const rates: number[] = []
  // Interest travels on a timer; give it a moment before measuring.
  await new Promise((r) => setTimeout(r, 50))
  for (let r = 0; r < RUNS; r++) {
    const cpu = process.cpuUsage()
    const before = got
    for (let i = 0; i < COUNT; i++) {
      a.publish('bench.policy', PAYLOAD).catch(() => {})
      if (i % 1024 === 0) await new Promise((res) => setImmediate(res))
    }
    await new Promise((res) => setTimeout(res, 20))
    const used = process.cpuUsage(cpu)
    rates.push((got - before) / ((used.user + used.system) / 1e6))
  }
  console.log(`${label.padEnd(40)} ${fmt(median(rates)).padStart(7)} msgs/cpu-s delivered (${got} in all)`)
  a.close()
  b.close()
}

async function main(): Promise<void> {
  console.log(`policy micro-benchmark: ${COUNT} per run, ${RUNS} runs, median`)
  checks('check, no policies', point([], 'b'))
  checks('check, 20 policies, last matches', point(twenty, 'b'))
  checks(
    'check, rate limit (never refusing)',
    point([{ name: 'rl', source: 'cluster/*', destination: 'cluster/*', rate_limit_rps: 1e6 }], 'b'),
  )
  await routers('a -> b publish, no policy hook', () => undefined)
  await routers('a -> b publish, 20 policies both ends', (self) => point(twenty, self).hook)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
