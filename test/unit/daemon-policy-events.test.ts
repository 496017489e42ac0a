// Policies and federated events in a real daemon process on this machine (standalone, no namespaces): an
// event published through the socket reaches a local events subscriber; a rate-limit policy from the config
// refuses the sender with 429 RATE_LIMITED naming the policy, and the CLI prints the code and exits 1; bad
// event types and patterns get 400s with their codes.

import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { promises as fs } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { BlackroadClient, ClientError } from '../../src/client/index.js'
import { collect, runCli, spawnCli } from '../helpers/cli.js'

async function waitForSocket(sock: string, child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`daemon exited early with ${child.exitCode}`)
    if (await fs.stat(sock).catch(() => null)) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`socket ${sock} did not appear within ${timeoutMs} ms`)
}

/** Opens an events stream and resolves once the daemon answered (the subscription is live then). */
function openStream(
  sock: string,
  pattern: string,
): Promise<{ lines: string[]; status: number; close(): void }> {
  return new Promise((resolve, reject) => {
    const lines: string[] = []
    let buf = ''
    const req = http.get(
      { socketPath: sock, path: `/v1/events/subscribe?pattern=${encodeURIComponent(pattern)}` },
      (res) => {
        res.setEncoding('utf8')
        res.on('data', (d: string) => {
          buf += d
          const parts = buf.split('\n')
          buf = parts.pop() ?? ''
          lines.push(...parts.filter(Boolean))
        })
        res.on('error', () => {})
        resolve({ lines, status: res.statusCode ?? 0, close: () => req.destroy() })
      },
    )
    req.on('error', reject)
  })
}

describe('policies and events in a standalone daemon', () => {
  let dir: string
  let sock: string
  let daemon: ChildProcess
  let exited: Promise<Awaited<ReturnType<typeof collect>>>

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'brpe-'))
    sock = path.join(dir, 'run', 'blackroad.sock')
    const config = [
      'node:',
      '  name: pe-node',
      `  state_dir: ${dir}/state`,
      'cluster:',
      '  name: us-west',
      '  region: us-west-2',
      'api:',
      `  socket: ${sock}`,
      'metrics:',
      '  enabled: false',
      'network:',
      '  busy_poll_us: 0',
      'dns:',
      '  enabled: false',
      'logging:',
      '  level: info',
      '  format: json',
      'mesh:',
      '  policies:',
      '    - name: trickle',
      '      source: cluster/us-west',
      '      destination: cluster/*',
      // One message per 10 s after the first: whatever the machine's load, the second is over the rate.
      '      rate_limit_rps: 0.1',
      '',
    ].join('\n')
    await fs.writeFile(path.join(dir, 'config.yaml'), config)
    daemon = spawnCli(['daemon', '--config', path.join(dir, 'config.yaml')])
    exited = collect(daemon, 120_000)
    await waitForSocket(sock, daemon)
  })

  after(async () => {
    if (daemon.exitCode === null) daemon.kill('SIGKILL')
    await fs.rm(dir, { recursive: true, force: true })
  })

  test('an event reaches the subscriber once; then the rate-limit policy refuses the sender', async () => {
    const stream = await openStream(sock, 'deploy.>')
    assert.equal(stream.status, 200)
    const client = new BlackroadClient({ socketPath: sock })
    try {
      const sent = await client.publishEvent({
        type: 'deploy.finished',
        scope: 'local',
        data: { v: 7 },
        id: 'evt-1',
      })
      assert.equal(sent.id, 'evt-1')
      assert.equal(sent.source_cluster, 'us-west')
      assert.equal(sent.duplicate, false)
      for (let i = 0; i < 50 && stream.lines.length === 0; i++) await new Promise((r) => setTimeout(r, 20))
      assert.equal(stream.lines.length, 1)
      const got = JSON.parse(stream.lines[0]!) as { id: string; type: string; scope: string; data: unknown }
      assert.deepEqual(
        [got.id, got.type, got.scope, got.data],
        ['evt-1', 'deploy.finished', 'local', { v: 7 }],
      )

      // The same id again is not sent again (and costs no token).
      const again = await client.publishEvent({
        type: 'deploy.finished',
        scope: 'local',
        data: { v: 7 },
        id: 'evt-1',
      })
      assert.equal(again.duplicate, true)

      // The bucket (one message per 10 s) is empty now: the next message is refused, naming the policy.
      await assert.rejects(
        client.publish({ subject: 'x.y', data: 'over' }),
        (e: unknown) =>
          e instanceof ClientError &&
          e.code === 'RATE_LIMITED' &&
          e.status === 429 &&
          /"trickle"/.test(e.message),
      )
      const cli = await runCli(['send', 'x.y', 'over', '--socket', sock])
      assert.equal(cli.code, 1)
      assert.match(cli.stderr, /RATE_LIMITED: .*policy "trickle"/)
      const ev = await runCli(['events', 'publish', '--type', 'deploy.finished', '--socket', sock])
      assert.equal(ev.code, 1)
      assert.match(ev.stderr, /RATE_LIMITED/)
      assert.equal(stream.lines.length, 1, 'nothing refused reached the subscriber')
    } finally {
      stream.close()
      client.close()
    }
  })

  test('bad event types and patterns are 400s with their codes; the daemon keeps serving', async () => {
    const bad = await runCli(['events', 'publish', '--type', 'a..b', '--socket', sock])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /INVALID_EVENT/)
    const s = await openStream(sock, 'a.>.b')
    s.close()
    assert.equal(s.status, 400)
    const sub = await runCli(['events', 'subscribe', 'a b', '--socket', sock])
    assert.equal(sub.code, 1)
    assert.match(sub.stderr, /INVALID_PATTERN/)
    const status = await runCli(['status', '--json', '--socket', sock])
    assert.equal(status.code, 0)
    assert.ok((JSON.parse(status.stdout) as { capabilities: string[] }).capabilities.includes('events'))
  })

  test('SIGHUP reloads the policies (without the rate limit the sender is served again) and busy polling', async () => {
    const client = new BlackroadClient({ socketPath: sock })
    try {
      // Empty the bucket (it holds one message; it may have refilled while the previous test ran).
      const codes: string[] = []
      for (let i = 0; i < 3; i++)
        codes.push(
          await client.publish({ subject: 'x.y', data: 'over' }).then(
            () => 'ok',
            (e: ClientError) => e.code,
          ),
        )
      assert.ok(codes.includes('RATE_LIMITED'), codes.join(','))
      const file = path.join(dir, 'config.yaml')
      const text = await fs.readFile(file, 'utf8')
      await fs.writeFile(
        file,
        text.replace(/\nmesh:[\s\S]*$/, '\n').replace('busy_poll_us: 0', 'busy_poll_us: 150'),
      )
      daemon.kill('SIGHUP')
      let served = false
      for (let i = 0; i < 100 && !served; i++) {
        served = await client.publish({ subject: 'x.y', data: 'after reload' }).then(
          () => true,
          () => false,
        )
        if (!served) await new Promise((r) => setTimeout(r, 50))
      }
      assert.ok(served, 'served after SIGHUP')
      // Several in a row: no limit any more.
      for (let i = 0; i < 5; i++) await client.publish({ subject: 'x.y', data: `${i}` })
    } finally {
      client.close()
    }
  })

  test('SIGTERM stops it cleanly', async () => {
    daemon.kill('SIGTERM')
    const r = await exited
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /"busy_poll_us":150,"msg":"SIGHUP: network policies and busy polling reloaded/)
    // Busy polling: off as configured at start, on at 150 µs after the reload (where a second CPU allows it).
    assert.match(r.stdout, /"us":0,"reason":"off \(busy_poll_us: 0\)","msg":"no busy polling"/)
    if (os.availableParallelism() > 1)
      assert.match(r.stdout, /"us":150,"reason":"busy_poll_us","msg":"busy polling after each message/)
  })
})
