// Agents across the mesh, on a line of three routers A–B–C (real daemons, real WireGuard, point-to-point links
// only, so everything between A and C is forwarded by B): an agent registered on C over C's socket is listed on
// A, named in A's DNS, and reached from A by name and by node/agent; a responder on C answers requests from A,
// to its subject and to the agent; unknown agents are clear errors; when C's session closes the agent leaves
// every node's list. Busy polling (src/os/busy-poll.ts) runs in the daemons where `auto` turns it on, at
// SCHED_IDLE, and its CPU shows in the metrics.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BlackroadClient, type BusStream, type StreamError } from '../src/client/index.js'
import { BUSY_POLL_THREAD, chooseBusyPoll, readHostFacts } from '../src/os/busy-poll.js'
import { Lab, waitFor } from './lib/index.js'
import { Mesh, type MeshNode } from './lib/mesh.js'
import { fetchMetrics, METRICS_LISTEN, requireRoot, sampleValue } from './lib/mesh-inspect.js'
import { threadsNamed } from './lib/procfs.js'
import { routedLinks } from './lib/routed-links.js'

test('line A-B-C: A reaches an agent and a responder registered on C', async (t) => {
  if (!requireRoot(t)) return
  const lab = await Lab.create(t)
  const hosts = []
  for (const name of ['a', 'b', 'c']) hosts.push(await lab.host(name, { forwarding: true }))
  const [a, b, c] = hosts as [(typeof hosts)[0], (typeof hosts)[0], (typeof hosts)[0]]
  const links = [await lab.link(a, b), await lab.link(b, c)]
  const { bootstrap } = await routedLinks(lab, hosts, links, b)
  const mesh = new Mesh(lab)
  const [na, nb, nc] = (await mesh.start(
    hosts.map((host) => ({ host, config: { metrics: { enabled: true, listen: METRICS_LISTEN } } })),
    bootstrap,
  )) as [MeshNode, MeshNode, MeshNode]
  const C = nc.node.nodeId
  const A = na.node.nodeId

  await waitFor(async () => (await mesh.routes(na)).some((r) => r.destination === C), {
    timeoutMs: 60_000,
    intervalMs: 250,
    what: "A's route to C",
  })
  const route = (await mesh.routes(na)).find((r) => r.destination === C)!
  t.diagnostic(`A's route to C: next hop ${route.next_hop_name}, ${route.kind}`)

  const httpA = new BlackroadClient({ socketPath: na.daemon!.socketPath })
  const sessions: BusStream[] = []
  t.after(() => {
    for (const s of sessions) s.close()
    httpA.close()
  })
  const sc = await new BlackroadClient({ socketPath: nc.daemon!.socketPath }).connect()
  const sa = await new BlackroadClient({ socketPath: na.daemon!.socketPath }).connect()
  sessions.push(sc, sa)

  // On C: an agent, and a responder on a subject.
  const inbox: string[] = []
  const agent = await sc.register({ name: 'summarizer', type: 'llm', labels: { model: 'small' } }, (m) => {
    if (m.isRequest) m.respond(`summary of ${m.text()}`)
    else inbox.push(`${m.fromNode}|${m.subject}|${m.text()}`)
  })
  assert.equal(agent.address, `${C}/summarizer`)
  const responder = sc.respond('math.double', (m) => String(Number(m.text()) * 2))
  await sc.subscribed(responder)

  // A learns of the agent through the interest flood (bounded wait), and lists it with C as its node.
  const listed = await waitFor(
    async () => (await httpA.agents()).find((x) => x.name === 'summarizer') ?? null,
    { timeoutMs: 20_000, intervalMs: 200, what: 'A lists the agent registered on C' },
  )
  assert.deepEqual([listed.node, listed.type, listed.local], [C, 'llm', false])
  // By cluster, as C's certificate names it ('lab' here), through the CLI.
  const byCluster = async (cluster: string) => {
    const r = await na.daemon!.cli(['agent', 'list', '--cluster', cluster, '--json'])
    assert.equal(r.code, 0, r.stderr)
    return (JSON.parse(r.stdout) as Array<{ name: string }>).map((a) => a.name)
  }
  assert.ok((await byCluster('lab')).includes('summarizer'))
  assert.deepEqual(await byCluster('elsewhere'), [])

  // A direct message from A, by name and by address, arrives on C (send resolves once C delivered it).
  await sa.send('summarizer', 'hello by name', { subject: 'docs.new' })
  await sa.send(`${C}/summarizer`, 'hello by address')
  await waitFor(() => inbox.length === 2, { timeoutMs: 5_000, intervalMs: 20, what: 'two messages on C' })
  assert.deepEqual(inbox, [`${A}|docs.new|hello by name`, `${A}||hello by address`])

  // Requests from A: to the responder's subject, and to the agent; both answered on C, replies back on A.
  const doubled = await waitFor(
    async () =>
      sa.request('math.double', '21', { timeoutMs: 2000 }).catch((e: StreamError) => {
        if (e.code === 'NO_RESPONDERS') return null
        throw e
      }),
    { timeoutMs: 20_000, intervalMs: 200, what: "A's request answered by C's responder" },
  )
  assert.equal(Buffer.from(doubled).toString(), '42')
  const summary = await sa.request('', 'the report', { to: 'summarizer', timeoutMs: 3000 })
  assert.equal(Buffer.from(summary).toString(), 'summary of the report')
  // The plain HTTP request route on A reaches C's responder too.
  assert.equal((await httpA.busRequest({ subject: 'math.double', data: '5' })).data, '10')

  // Back-to-back requests keep A's busy-poll window open where it runs: this machine is a VM with two CPUs, so
  // `auto` is on here; on bare metal it is off and nothing spins.
  const poll = chooseBusyPoll('auto', readHostFacts())
  t.diagnostic(`busy polling: ${poll.us} µs (${poll.reason})`)
  for (let i = 0; i < 300; i++) await sa.request('math.double', String(i), { timeoutMs: 2000 })
  const spun = sampleValue(await fetchMetrics(na.daemon!), 'blackroad_busy_poll_seconds_total')
  assert.match(
    na.daemon!.proc.logText(),
    poll.us > 0 ? /"busy polling after each message/ : /"no busy polling"/,
  )
  if (poll.us > 0) {
    assert.ok(spun > 0, `A's busy-poll thread spun ${spun} s`)
    assert.deepEqual(
      threadsNamed(na.daemon!.pid, BUSY_POLL_THREAD).map((t) => t.policy),
      [5],
      'one busy-poll thread, at SCHED_IDLE (5)',
    )
    // No traffic, no spinning: the window closes (probes and floods come far further apart than 300 µs).
    await new Promise((r) => setTimeout(r, 500))
    const idle0 = sampleValue(await fetchMetrics(na.daemon!), 'blackroad_busy_poll_seconds_total')
    await new Promise((r) => setTimeout(r, 2000))
    const idle1 = sampleValue(await fetchMetrics(na.daemon!), 'blackroad_busy_poll_seconds_total')
    assert.ok(idle1 - idle0 < 0.001, `idle A spun ${((idle1 - idle0) * 1e3).toFixed(3)} ms in 2 s`)
  } else {
    assert.equal(spun, 0)
    assert.deepEqual(
      threadsNamed(na.daemon!.pid, BUSY_POLL_THREAD).map((t) => t.policy),
      [],
    )
  }

  // Unknown agents: refused on A by name, and by C for an address on C.
  await assert.rejects(sa.send('nobody', 'x'), (e: StreamError) => e.code === 'NO_RESPONDERS')
  await assert.rejects(
    sa.send(`${C}/nobody`, 'x'),
    (e: StreamError) => e.code === 'NO_RESPONDERS' && /nobody/.test(e.message),
  )

  // A's mesh DNS names the agent, pointing at C.
  await waitFor(
    async () => {
      const r = await a.exec([
        'dig',
        '+short',
        '@127.0.0.153',
        'summarizer.agents.mesh.blackroad.local',
        'SRV',
      ])
      return r.stdout.includes(`${nc.node.name}.`)
    },
    { timeoutMs: 15_000, intervalMs: 250, what: "A's DNS answers the agent's SRV record" },
  )

  // C's session ends: the agent leaves A's list and B's.
  sc.close()
  for (const n of [na, nb]) {
    const http = new BlackroadClient({ socketPath: n.daemon!.socketPath })
    await waitFor(async () => !(await http.agents()).some((x) => x.name === 'summarizer'), {
      timeoutMs: 20_000,
      intervalMs: 200,
      what: `${n.node.name} forgets the agent`,
    })
    http.close()
  }
  await assert.rejects(sa.send('summarizer', 'x'), (e: StreamError) => e.code === 'NO_RESPONDERS')
  await Promise.all([na, nb, nc].map((n) => n.daemon!.stop()))
})
