// Discovery and peer links across real network namespaces, with the federation's own DHT and no internet:
//   - three routers on one bridge, started at the same moment (the join race), find each other through a
//     bootstrap namespace running the bootstrapper + 2 extra DHT nodes, and every pair links and talks;
//   - two routers, each behind its own home-router NAT (MASQUERADE, unsolicited inbound dropped), link
//     through hole punching; the test reports whether the path is direct (the far NAT's WAN address);
//   - a router whose underlay address changes is found again, and linked, at its new address.
// Routers are netns-tests/fixtures/discovery-peer.ts (discovery + link manager, no daemon); they must exit
// by themselves on SIGTERM, so a leaked handle fails here too.

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { TestFederation, type TestNode } from '../src/transport/testing.js'
import { type Host, Lab, type Proc, waitFor } from './lib/index.js'
import { requireRoot } from './lib/mesh-inspect.js'
import { repoRoot } from './lib/repo.js'

const DHT_PORT = 49737

// From source (tsx) the fixtures run from source too; compiled, they run with plain node from dist.
const fromSource = import.meta.url.endsWith('.ts')
function fixture(name: string): string[] {
  const file = fileURLToPath(new URL(`./fixtures/${name}${fromSource ? '.ts' : '.js'}`, import.meta.url))
  return fromSource ? [process.execPath, '--import', 'tsx', file] : [process.execPath, file]
}

interface Event {
  name: string
  ms: number
  ev: string
  peer?: string
  peerName?: string
  remote?: string
  text?: string
  reason?: string
  status?: { holepunches: Record<string, number> }
}

function events(p: Proc): Event[] {
  return p
    .logText()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Event)
}

async function startSeed(host: Host): Promise<Proc> {
  const seed = host.spawn(fixture('dht-seed'), {
    logName: 'dht-seed',
    cwd: repoRoot(),
    env: { HOST: host.addr(), PORT: String(DHT_PORT), EXTRA: '2', LIFETIME_S: '120' },
  })
  await seed.waitForLog('"ev":"ready"', 15_000)
  return seed
}

function startPeer(
  host: Host,
  node: TestNode,
  fed: TestFederation,
  topicSecret: Buffer,
  bootstrap: string,
): Proc {
  return host.spawn(fixture('discovery-peer'), {
    logName: 'peer',
    cwd: repoRoot(),
    env: {
      NAME: node.name,
      BOOTSTRAP: bootstrap,
      SECRET_KEY: node.keyPair.secretKey.toString('hex'),
      CERT: Buffer.from(node.certificateBytes).toString('base64url'),
      ROOT: fed.root.publicKey.toString('hex'),
      FED_ID: fed.id,
      TOPIC_SECRET: topicSecret.toString('hex'),
      LIFETIME_S: '120',
    },
  })
}

/** Every peer has an up link to, and a message from, every other. */
function fullyLinked(procs: Proc[], nodes: TestNode[]): boolean {
  return procs.every((p, i) => {
    const evs = events(p)
    return nodes.every(
      (n, j) =>
        i === j ||
        (evs.some((e) => e.ev === 'link-up' && e.peer === n.nodeId) &&
          evs.some((e) => e.ev === 'message' && e.peer === n.nodeId && e.text === `hello from ${n.name}`)),
    )
  })
}

/** SIGTERM, and the process must close everything and exit 0 on its own. */
async function stopCleanly(p: Proc): Promise<void> {
  const status = await p.stop(10_000)
  assert.deepEqual(status, { code: 0, signal: null }, `${p.name} did not exit cleanly; log: ${p.logPath}`)
  assert.ok(events(p).some((e) => e.ev === 'closed'))
}

test('three routers on a bridge find each other through the federation DHT and every pair links', async (t) => {
  if (!requireRoot(t)) return
  const lab = await Lab.create(t)
  const lan = await lab.bridge('lan')
  const boot = await lab.host('boot')
  await lab.attach(boot, lan)
  const hosts: Host[] = []
  for (const name of ['n1', 'n2', 'n3']) {
    const h = await lab.host(name)
    await lab.attach(h, lan)
    hosts.push(h)
  }
  const seed = await startSeed(boot)

  const fed = new TestFederation()
  const secret = randomBytes(32)
  const nodes = hosts.map((h) => fed.node(h.name))
  const started = performance.now()
  // All at once: the case where announce and lookup cross and a bounded re-query has to repair it.
  const procs = hosts.map((h, i) => startPeer(h, nodes[i]!, fed, secret, `${boot.addr()}:${DHT_PORT}`))
  await waitFor(() => fullyLinked(procs, nodes), {
    timeoutMs: 45_000,
    intervalMs: 100,
    what: 'every pair linked and talking',
  })
  t.diagnostic(
    `full mesh of 3 (processes started -> every pair exchanged a message): ${Math.round(performance.now() - started)} ms`,
  )

  // Each link runs over the peer's own bridge address (direct), and nothing was refused.
  for (const [i, p] of procs.entries()) {
    const evs = events(p)
    assert.equal(evs.filter((e) => e.ev === 'rejected').length, 0, `${hosts[i]!.name} refused a peer`)
    for (const [j, other] of hosts.entries()) {
      if (i === j) continue
      const up = evs.find((e) => e.ev === 'link-up' && e.peer === nodes[j]!.nodeId)
      assert.equal(up?.remote?.split(':')[0], other.addr(lan))
    }
  }
  for (const p of procs) await stopCleanly(p)
  await stopCleanly(seed)
})

test('two routers behind their own NATs link through hole punching', async (t) => {
  if (!requireRoot(t)) return
  const lab = await Lab.create(t)
  const wan = await lab.bridge('wan')
  const boot = await lab.host('boot')
  await lab.attach(boot, wan)
  const r1 = await lab.natRouter('r1', { wan })
  const r2 = await lab.natRouter('r2', { wan })
  const p1 = await lab.host('p1')
  const p2 = await lab.host('p2')
  await lab.behind(p1, r1)
  await lab.behind(p2, r2)
  const seed = await startSeed(boot)

  const fed = new TestFederation()
  const secret = randomBytes(32)
  const nodes = [fed.node('p1'), fed.node('p2')]
  const started = performance.now()
  const procs = [p1, p2].map((h, i) => startPeer(h, nodes[i]!, fed, secret, `${boot.addr()}:${DHT_PORT}`))
  await waitFor(() => fullyLinked(procs, nodes), {
    timeoutMs: 45_000,
    intervalMs: 100,
    what: 'p1 and p2 linked through their NATs',
  })
  const ms = Math.round(performance.now() - started)

  // Direct means each side talks to the other's NAT (its WAN address), not to a relay or the bootstrap.
  const remote1 = events(procs[0]!).find((e) => e.ev === 'link-up')?.remote
  const remote2 = events(procs[1]!).find((e) => e.ev === 'link-up')?.remote
  const direct = remote1?.split(':')[0] === r2.wanAddr && remote2?.split(':')[0] === r1.wanAddr
  for (const p of procs) await stopCleanly(p)
  const punches = procs.map((p) =>
    JSON.stringify(events(p).find((e) => e.ev === 'stats')?.status?.holepunches),
  )
  t.diagnostic(
    `NAT <-> NAT: linked in ${ms} ms, path ${direct ? 'direct (hole-punched)' : 'NOT direct'}: p1 sees ${remote1}, p2 sees ${remote2} (r1 ${r1.wanAddr}, r2 ${r2.wanAddr}); punches p1 ${punches[0]} p2 ${punches[1]}`,
  )
  assert.ok(direct, `expected a direct path between the NATs' WAN addresses, got ${remote1} / ${remote2}`)
  await stopCleanly(seed)
})

test('a router whose underlay address changes is found again at its new address', async (t) => {
  if (!requireRoot(t)) return
  const lab = await Lab.create(t)
  const lan = await lab.bridge('lan')
  const boot = await lab.host('boot')
  await lab.attach(boot, lan)
  const n1 = await lab.host('n1')
  const n2 = await lab.host('n2')
  await lab.attach(n1, lan)
  await lab.attach(n2, lan)
  const seed = await startSeed(boot)

  const fed = new TestFederation()
  const secret = randomBytes(32)
  const nodes = [fed.node('n1'), fed.node('n2')]
  const procs = [n1, n2].map((h, i) => startPeer(h, nodes[i]!, fed, secret, `${boot.addr()}:${DHT_PORT}`))
  await waitFor(() => fullyLinked(procs, nodes), {
    timeoutMs: 45_000,
    intervalMs: 100,
    what: 'n1 and n2 linked',
  })

  // DHCP gave n2 a new address: the old one disappears, connections to it die.
  const newAddr = lan.subnet.v4(200)
  const moved = performance.now()
  await n2.renumber(lan, newAddr)
  const relinked = () =>
    events(procs[0]!).some(
      (e) => e.ev === 'link-up' && e.peer === nodes[1]!.nodeId && e.remote?.startsWith(`${newAddr}:`),
    )
  await waitFor(relinked, { timeoutMs: 60_000, intervalMs: 100, what: `n1 linked to n2 at ${newAddr}` })
  t.diagnostic(`relinked at the new address ${Math.round(performance.now() - moved)} ms after the change`)
  // How: n2 noticed its interfaces change and closed the link nothing answered on (the keepalive would
  // have taken its dead interval), so it dialled again at once.
  const checks = events(procs[1]!).filter((e) => e.ev === 'checked-links')
  assert.ok(
    checks.some((e) => (e as Event & { closed?: number }).closed === 1),
    `n2 closed its dead link after the change: ${JSON.stringify(checks)}`,
  )
  const n1Down = events(procs[0]!)
    .filter((e) => e.ev === 'link-down')
    .map((e) => e.reason)
  t.diagnostic(`n2 checked its links ${checks.length} time(s); n1's old link ended: ${n1Down.join(', ')}`)
  for (const p of procs) await stopCleanly(p)
  await stopCleanly(seed)
})
