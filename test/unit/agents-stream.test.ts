// The bus stream and agent registration against a real daemon process on a real Unix socket: agents register
// and get their mesh address and DNS name, are listed and reached by name, request/reply and pub/sub flow
// through sessions (and interoperate with the plain HTTP routes), and the daemon survives clients that send
// garbage, flood, stop reading or vanish mid-frame: they get clear errors or are dropped, counted in
// /v1/bus/sessions, while other clients go on being served.

import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import dgram from 'node:dgram'
import { promises as fs } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import dnsPacket from 'dns-packet'
import { decodeFrame, encodeFrame, type Frame, FrameSplitter } from '../../src/agents/frames.js'
import { filterAgents } from '../../src/agents/node.js'
import { BlackroadClient, type BusStream, type StreamError } from '../../src/client/index.js'
import { collect, runCli, spawnCli } from '../helpers/cli.js'

const DNS_ADDR = `127.0.${1 + Math.floor(Math.random() * 250)}.154`

interface SessionsView {
  counters: Record<string, number>
  sessions: { id: number; agents: string[]; subscriptions: number }[]
}

function srvQuery(name: string): Promise<dnsPacket.DecodedPacket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4')
    const timer = setTimeout(() => {
      sock.close()
      reject(new Error(`no DNS answer for ${name}`))
    }, 3000)
    sock.on('message', (msg) => {
      clearTimeout(timer)
      sock.close()
      resolve(dnsPacket.decode(msg))
    })
    sock.send(dnsPacket.encode({ type: 'query', id: 9, questions: [{ type: 'SRV', name }] }), 53, DNS_ADDR)
  })
}

/** A raw upgraded connection, for sending what the typed client never would. */
async function rawSession(sock: string): Promise<{ socket: net.Socket; frames: Frame[] }> {
  const socket = net.connect(sock)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  socket.write(
    'GET /v1/bus/stream HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: blackroad-bus/1\r\n\r\n',
  )
  const frames: Frame[] = []
  const split = new FrameSplitter()
  let head: Buffer | null = Buffer.alloc(0)
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      if (head !== null) {
        head = Buffer.concat([head, chunk])
        const end = head.indexOf('\r\n\r\n')
        if (end < 0) return
        if (!head.subarray(0, 12).toString().startsWith('HTTP/1.1 101')) reject(new Error(head.toString()))
        chunk = head.subarray(end + 4)
        head = null
        resolve()
      }
      split.push(chunk, (b, s, e) => frames.push(decodeFrame(b, s, e)))
    })
  })
  return { socket, frames }
}

async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await fn()) return
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('bus stream and agents on a real daemon', () => {
  let dir: string
  let sock: string
  let daemon: ChildProcess
  let client: BlackroadClient
  const sessions: BusStream[] = []
  const open = async () => {
    const s = await client.connect()
    sessions.push(s)
    return s
  }
  const counters = async () => (await client.request<SessionsView>('GET', '/v1/bus/sessions')).counters

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'brd-agents-'))
    sock = path.join(dir, 'run', 'blackroad.sock')
    const config = [
      'node:',
      '  name: agent-host',
      `  state_dir: ${dir}/state`,
      'cluster:',
      '  name: us-west',
      '  region: us-west-2',
      'api:',
      `  socket: ${sock}`,
      'metrics:',
      '  enabled: false',
      'dns:',
      `  listen: ['${DNS_ADDR}:53']`,
      'logging:',
      '  level: warn',
    ].join('\n')
    await fs.writeFile(path.join(dir, 'config.yaml'), config)
    daemon = spawnCli(['daemon', '--config', path.join(dir, 'config.yaml')])
    void collect(daemon, 300_000).catch(() => {})
    await until('the daemon socket', async () => (await fs.stat(sock).catch(() => null)) !== null, 15_000)
    client = new BlackroadClient({ socketPath: sock })
  })

  after(async () => {
    for (const s of sessions) s.close()
    client?.close()
    if (daemon && daemon.exitCode === null) daemon.kill('SIGTERM')
    await new Promise((r) => setTimeout(r, 200))
    if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL')
    await fs.rm(dir, { recursive: true, force: true })
  })

  test('an agent registers, gets its address and DNS name, is listed, reached by name, and unregistered on close', async () => {
    const a = await open()
    const status = await client.status()
    const inbox: string[] = []
    const me = await a.register(
      { name: 'worker-1', type: 'worker', labels: { gpu: 'a100' }, capabilities: ['summarize'] },
      (m) => {
        if (m.isRequest) m.respond(`done:${m.text()}`)
        else inbox.push(`${m.subject}|${m.text()}|${m.fromNode}`)
      },
    )
    assert.equal(me.address, `${status.node_id}/worker-1`)
    assert.equal(me.dns, 'worker-1.agents.mesh.blackroad.local')

    const list = await client.agents()
    assert.deepEqual(
      list.map((x) => [x.name, x.type, x.node, x.local, x.labels?.gpu, x.capabilities?.[0]]),
      [['worker-1', 'worker', status.node_id, true, 'a100', 'summarize']],
    )
    const cli = await runCli(['agent', 'list', '--json', '--socket', sock])
    assert.equal(cli.code, 0, cli.stderr)
    assert.equal(JSON.parse(cli.stdout)[0].address, me.address)

    // SRV record under agents.<domain>, pointing at this node.
    await until(
      'the SRV record',
      async () => (await srvQuery(me.dns)).answers?.some((x) => x.type === 'SRV') === true,
    )
    const srv = (await srvQuery(me.dns)).answers?.find((x) => x.type === 'SRV') as {
      data: { target: string }
    }
    assert.equal(srv.data.target, 'agent-host.us-west.mesh.blackroad.local')

    const b = await open()
    await b.send('worker-1', 'by name', { subject: 'jobs.one' })
    await b.send(`${status.node_id}/worker-1`, 'by address')
    const http = await client.sendToAgent({ to: 'worker-1', data: 'over http' })
    assert.equal(http.node, status.node_id)
    await until('three direct messages', () => inbox.length === 3)
    assert.deepEqual(inbox, [
      `jobs.one|by name|${status.node_id}`,
      `|by address|${status.node_id}`,
      `|over http|${status.node_id}`,
    ])
    const reply = await b.request('', 'job-7', { to: 'worker-1' })
    assert.equal(Buffer.from(reply).toString(), 'done:job-7')

    // Unknown agents: a clear error on the stream, over HTTP and from the CLI's route.
    await assert.rejects(
      b.send('nobody', 'x'),
      (e: StreamError) => e.code === 'NO_RESPONDERS' && /nobody/.test(e.message),
    )
    await assert.rejects(
      b.send(`${status.node_id}/nobody`, 'x'),
      (e: StreamError) => e.code === 'NO_RESPONDERS',
    )
    await assert.rejects(
      client.sendToAgent({ to: 'nobody' }),
      (e: { code: string; status: number }) => e.code === 'UNKNOWN_AGENT' && e.status === 404,
    )
    // A bad or taken name is refused.
    await assert.rejects(
      b.register({ name: 'Bad_Name', type: 'worker' }),
      (e: StreamError) => e.code === 'INVALID_ADDRESS',
    )
    await assert.rejects(
      b.register({ name: 'worker-1', type: 'worker' }),
      (e: StreamError) => e.code === 'INVALID_ADDRESS',
    )

    a.close()
    await until('worker-1 to go away', async () => (await client.agents()).length === 0)
    await assert.rejects(b.send('worker-1', 'x'), (e: StreamError) => e.code === 'NO_RESPONDERS')
  })

  test('pub/sub and request/reply between sessions, and with the HTTP routes', async () => {
    const sub = await open()
    const pub = await open()
    const got: string[] = []
    const inbox = sub.subscribe('orders.>', (m) => got.push(`${m.subject}:${m.text()}`))
    await sub.subscribed(inbox)
    const responder = sub.respond('math.double', (m) => String(Number(m.text()) * 2))
    await sub.subscribed(responder)
    for (let i = 0; i < 1000; i++) pub.publish(`orders.${i % 3}`, `o${i}`)
    await pub.flush()
    await until('1000 messages', () => got.length === 1000)
    assert.equal(got[0], 'orders.0:o0')
    assert.equal(got[999], 'orders.0:o999')
    assert.equal(Buffer.from(await pub.request('math.double', '21')).toString(), '42')
    const viaHttp = await client.busRequest({ subject: 'math.double', data: '50' })
    assert.equal(viaHttp.data, '100')
    await client.publish({ subject: 'orders.http', data: 'h' })
    await until('the HTTP publish', () => got.includes('orders.http:h'))
    await assert.rejects(pub.request('math.nobody', 'x'), (e: StreamError) => e.code === 'NO_RESPONDERS')
    const failing = sub.respond('math.fail', () => {
      throw new Error('cannot')
    })
    await sub.subscribed(failing)
    await assert.rejects(
      pub.request('math.fail', 'x'),
      (e: StreamError) => e.code === 'REMOTE_ERROR' && /cannot/.test(e.message),
    )
    // An acknowledged publish that the bus queues at once is confirmed (and still delivered).
    await pub.publishAck('orders.acked', 'a')
    await until('the acknowledged publish', () => got.includes('orders.acked:a'))
    // A bad subject is refused with the bus's code, and the session goes on.
    await assert.rejects(
      pub.publishAck('bad..subject', 'x'),
      (e: StreamError) => e.code === 'INVALID_SUBJECT',
    )
    const bad = sub.subscribe('a.>.b')
    await assert.rejects(bad.next(), (e: StreamError) => e.code === 'INVALID_SUBJECT')
    await pub.flush()
  })

  test('malformed frames get MALFORMED_FRAME errors and are counted; a broken length closes only that connection', async () => {
    const before = await counters()
    const bystander = await open()
    const { socket, frames } = await rawSession(sock)
    // Unknown kind, truncated body, trailing bytes, a frame a client may not send.
    socket.write(Buffer.from([0, 0, 0, 1, 99]))
    socket.write(Buffer.from([0, 0, 0, 3, 1, 0, 0]))
    socket.write(Buffer.from([0, 0, 0, 6, 9, 0, 0, 0, 5, 7]))
    socket.write(encodeFrame({ kind: 'pong', id: 1 }))
    socket.write(encodeFrame({ kind: 'ping', id: 77 }))
    await until('four errors and the pong', () => frames.length >= 5)
    assert.deepEqual(
      frames.map((f) => (f.kind === 'error' ? f.code : f.kind)),
      ['MALFORMED_FRAME', 'MALFORMED_FRAME', 'MALFORMED_FRAME', 'UNEXPECTED_FRAME', 'pong'],
    )
    assert.match((frames[0] as { message: string }).message, /unknown frame kind 99/)
    // A length no frame can have: the daemon says why and closes this connection.
    const closed = new Promise((r) => socket.once('close', r))
    socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]))
    await closed
    assert.equal(frames.at(-1)?.kind, 'error')
    assert.match((frames.at(-1) as { message: string }).message, /unreadable frame length/)
    const after = await counters()
    assert.equal(after.malformed! - before.malformed!, 4)
    assert.equal(after.disconnected_malformed! - before.disconnected_malformed!, 1)
    await bystander.flush()
    assert.equal((await client.status()).pid, daemon.pid)
  })

  test('a client that floods and never reads is dropped as a slow consumer; others are unaffected', async () => {
    const before = await counters()
    const bystander = await open()
    const watch = await open()
    let seen = 0
    const w = watch.subscribe('flood.>', () => seen++)
    await watch.subscribed(w)
    // The flooder subscribes to what it publishes, then stops reading its socket.
    const { socket } = await rawSession(sock)
    socket.write(encodeFrame({ kind: 'sub', sid: 1, responder: false, pattern: 'flood.>' }))
    await new Promise((r) => setTimeout(r, 100))
    socket.pause()
    const payload = new Uint8Array(256).fill(0x61)
    const batch = Buffer.concat(
      Array.from({ length: 512 }, () =>
        encodeFrame({ kind: 'pub', id: 0, priority: 0, subject: 'flood.x', payload }),
      ),
    )
    let writes = 0
    const closed = new Promise<void>((r) => socket.once('close', () => r()))
    let isClosed = false
    void closed.then(() => {
      isClosed = true
    })
    // Bounded: at most 2,000 batches of 512 messages and 30 s.
    const deadline = Date.now() + 30_000
    while (!isClosed && writes < 2000 && Date.now() < deadline) {
      if (!socket.write(batch))
        await Promise.race([
          new Promise((r) => socket.once('drain', r)),
          closed,
          new Promise((r) => setTimeout(r, 200)),
        ])
      writes++
      if (writes % 50 === 0) await bystander.flush()
    }
    // A paused socket does not notice the daemon hanging up; the counters do.
    await until(
      'the slow consumer disconnected',
      async () => (await counters()).disconnected_slow_consumer! > before.disconnected_slow_consumer!,
      15_000,
    )
    socket.resume()
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5_000))])
    assert.ok(isClosed, 'the daemon closed the flooding, non-reading connection')
    const after = await counters()
    assert.ok(after.dropped_slow_consumer! - before.dropped_slow_consumer! > 0)
    assert.equal(after.disconnected_slow_consumer! - before.disconnected_slow_consumer!, 1)
    // The other clients were served throughout and still are.
    assert.ok(seen > 1000, `the watcher received ${seen}`)
    await bystander.flush()
    assert.equal(
      Buffer.from(
        await bystander.request('', 'x', { to: 'nobody' }).catch((e: StreamError) => Buffer.from(e.code)),
      ).toString(),
      'NO_RESPONDERS',
    )
    socket.destroy()
  })

  test('a client that disconnects mid-frame releases its agent and subscriptions; pending requests fail cleanly', async () => {
    const { socket } = await rawSession(sock)
    socket.write(
      encodeFrame({ kind: 'register', id: 1, name: 'ghost', type: 'worker', labels: [], capabilities: [] }),
    )
    socket.write(encodeFrame({ kind: 'sub', sid: 2, responder: true, pattern: 'ghost.ask' }))
    await until('ghost registered', async () => (await client.agents()).some((a) => a.name === 'ghost'))
    const asker = await open()
    const pending = asker.request('ghost.ask', 'hello?', { timeoutMs: 1500 })
    const full = encodeFrame({
      kind: 'pub',
      id: 0,
      priority: 0,
      subject: 'x.y',
      payload: new Uint8Array(100),
    })
    socket.write(full.subarray(0, 50))
    await new Promise((r) => setTimeout(r, 50))
    socket.destroy()
    await assert.rejects(pending, (e: StreamError) => e.code === 'TIMEOUT' || e.code === 'NO_RESPONDERS')
    await until('ghost gone', async () => !(await client.agents()).some((a) => a.name === 'ghost'))
    const view = await client.request<SessionsView>('GET', '/v1/bus/sessions')
    assert.ok(view.sessions.every((s) => !s.agents.includes('ghost')))
    await assert.rejects(
      asker.request('ghost.ask', 'again', { timeoutMs: 500 }),
      (e: StreamError) => e.code === 'NO_RESPONDERS',
    )
  })
})

test('GET /v1/agents filters: type, and cluster as the node certificates say', () => {
  const view = (name: string, node: string, type: string) => ({
    name,
    type,
    node,
    address: `${node}/${name}`,
    local: false,
    labels: null,
    capabilities: null,
    registered_at: null,
  })
  const list = [
    view('x', 'node_a', 'llm'),
    view('y', 'node_b', 'llm'),
    view('z', 'node_a', 'db'),
    view('w', 'node_c', 'llm'),
  ]
  const clusterOf = (n: string) => ({ node_a: 'us-west', node_b: 'eu-west' })[n]
  const names = (f: { type: string | null; cluster: string | null }) =>
    filterAgents(list, f, clusterOf).map((a) => a.name)
  assert.deepEqual(names({ type: null, cluster: null }), ['x', 'y', 'z', 'w'])
  assert.deepEqual(names({ type: 'llm', cluster: null }), ['x', 'y', 'w'])
  assert.deepEqual(names({ type: null, cluster: 'us-west' }), ['x', 'z'])
  assert.deepEqual(names({ type: 'llm', cluster: 'us-west' }), ['x'])
  assert.deepEqual(names({ type: null, cluster: 'nowhere' }), [])
  // Without certificates (no mesh), no agent is known to be in any cluster.
  assert.deepEqual(filterAgents(list, { type: null, cluster: 'us-west' }), [])
})
