// The daemon as a user meets it, as a real process on this machine (no namespaces needed): it starts from a
// config file, answers the CLI over its socket, keeps its node key private, creates a federation and clusters
// whose join tokens verify, refuses bad configs and missing privileges with clear exit statuses, and on
// SIGTERM stops cleanly and removes its socket.

import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import dgram from 'node:dgram'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import dnsPacket from 'dns-packet'
import { fingerprint, loadFederation, verifyJoinToken } from '../../src/identity/index.js'
import { collect, runCli, spawnCli } from '../helpers/cli.js'

// A loopback address of its own, so parallel runs and a host resolver on 127.0.0.53 never collide.
const DNS_ADDR = `127.0.${1 + Math.floor(Math.random() * 250)}.153`

/** dns-packet decodes rcode as a name ('NXDOMAIN'...), which its type declarations leave out. */
type Answer = dnsPacket.DecodedPacket & { rcode?: string }

function dnsQuery(name: string, type: 'A' | 'SOA'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4')
    const timer = setTimeout(() => {
      sock.close()
      reject(new Error(`no DNS answer for ${name}`))
    }, 3000)
    sock.on('message', (msg) => {
      clearTimeout(timer)
      sock.close()
      resolve(dnsPacket.decode(msg) as Answer)
    })
    sock.send(
      dnsPacket.encode({
        type: 'query',
        id: 7,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ type, name }],
      }),
      53,
      DNS_ADDR,
    )
  })
}

async function waitForSocket(sock: string, child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`daemon exited early with ${child.exitCode}`)
    if (await fs.stat(sock).catch(() => null)) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`socket ${sock} did not appear within ${timeoutMs} ms`)
}

function configYaml(dir: string, extra = ''): string {
  return [
    'node:',
    '  name: test-node',
    `  state_dir: ${dir}/state`,
    'cluster:',
    '  name: us-west',
    '  region: us-west-2',
    'api:',
    `  socket: ${dir}/run/blackroad.sock`,
    'metrics:',
    '  enabled: false',
    'dns:',
    `  listen: ['${DNS_ADDR}:53']`,
    'logging:',
    '  level: info',
    '  format: json',
    extra,
  ].join('\n')
}

describe('blackroad daemon', () => {
  let dir: string
  let sock: string
  let daemon: ChildProcess
  let exited: Promise<Awaited<ReturnType<typeof collect>>>

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'brd-'))
    sock = path.join(dir, 'run', 'blackroad.sock')
    await fs.writeFile(path.join(dir, 'config.yaml'), configYaml(dir))
    daemon = spawnCli(['daemon', '--config', path.join(dir, 'config.yaml')])
    exited = collect(daemon, 120_000)
    await waitForSocket(sock, daemon)
  })

  after(async () => {
    if (daemon.exitCode === null) daemon.kill('SIGKILL')
    await fs.rm(dir, { recursive: true, force: true })
  })

  test('status answers over the socket, human and --json', async () => {
    const json = await runCli(['status', '--json', '--socket', sock])
    assert.equal(json.code, 0, json.stderr)
    const s = JSON.parse(json.stdout) as {
      node_id: string
      name: string
      cluster: { name: string }
      uptime_seconds: number
      pid: number
    }
    assert.match(s.node_id, /^node_/)
    assert.equal(s.name, 'test-node')
    assert.equal(s.cluster.name, 'us-west')
    assert.equal(s.pid, daemon.pid)
    const human = await runCli(['status', '--socket', sock])
    assert.equal(human.code, 0)
    assert.match(human.stdout, /Node:\s+test-node \(node_/)
    assert.match(human.stdout, /Cluster:\s+us-west/)
  })

  test('mesh DNS answers for the zone, says NXDOMAIN for unknown names and refuses others', async () => {
    const soa = await dnsQuery('mesh.blackroad.local', 'SOA')
    assert.equal(soa.rcode, 'NOERROR')
    assert.equal(soa.answers?.[0]?.type, 'SOA')
    const missing = await dnsQuery('nobody.us-west.mesh.blackroad.local', 'A')
    assert.equal(missing.rcode, 'NXDOMAIN')
    const outside = await dnsQuery('example.com', 'A')
    assert.equal(outside.rcode, 'REFUSED')
  })

  test('the node key is private (0600 in a 0700 directory) and stable', async () => {
    const st = await fs.stat(path.join(dir, 'state', 'node.key'))
    assert.equal(st.mode & 0o777, 0o600)
    assert.equal((await fs.stat(path.join(dir, 'state'))).mode & 0o777, 0o700)
    const sockMode = (await fs.stat(sock)).mode & 0o777
    assert.equal(sockMode, 0o660)
    const keys = await runCli(['keys', 'show', '--json', '--socket', sock])
    const status = await runCli(['status', '--json', '--socket', sock])
    assert.equal(JSON.parse(keys.stdout).node_id, JSON.parse(status.stdout).node_id)
  })

  test('federation init, then create-cluster prints a join token that verifies', async () => {
    const init = await runCli(['federation', 'init', '--name', 'blackroad-global', '--socket', sock])
    assert.equal(init.code, 0, init.stderr)
    assert.match(init.stdout, /Federation created:\s+blackroad-global/)
    const again = await runCli(['federation', 'init', '--name', 'other', '--socket', sock])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /FEDERATION_EXISTS/)

    const created = await runCli([
      'federation',
      'create-cluster',
      '--name',
      'us-west',
      '--region',
      'us-west-2',
      '--capacity',
      '5000',
      '--socket',
      sock,
    ])
    assert.equal(created.code, 0, created.stderr)
    assert.match(created.stdout, /^Cluster created: us-west$/m)
    const id = /^Cluster ID: (cluster_[a-z0-9]+)$/m.exec(created.stdout)?.[1]
    const token = /^Join Token: (eyJ[\w-]+\.[\w-]+\.[\w-]+)$/m.exec(created.stdout)?.[1]
    assert.ok(id && token, created.stdout)

    const fed = await loadFederation(path.join(dir, 'state'))
    const claims = verifyJoinToken(token, {
      rootPublicKey: fed.rootPublicKey,
      federationId: fed.id,
      now: Date.now(),
    })
    assert.equal(claims.cluster, id)
    assert.equal(claims.cluster_name, 'us-west')
    assert.equal(claims.capacity, 5000)
    assert.equal(claims.rfp, fingerprint(fed.rootPublicKey))

    const dup = await runCli([
      'federation',
      'create-cluster',
      '--name',
      'us-west',
      '--region',
      'x',
      '--capacity',
      '1',
      '--socket',
      sock,
    ])
    assert.equal(dup.code, 1)
    assert.match(dup.stderr, /CLUSTER_EXISTS/)

    const status = JSON.parse((await runCli(['status', '--json', '--socket', sock])).stdout) as {
      federation: { name: string }
    }
    assert.equal(status.federation.name, 'blackroad-global')
  })

  test('bus on a standalone node: subscribe sees what send publishes; a request with no responder fails clearly', async () => {
    const sub = spawnCli(['subscribe', 'agent.*.status', '--json', '--count', '2', '--socket', sock])
    const got = collect(sub, 20_000)
    // The subscription is live once the daemon has it; retry the send until the subscriber has both messages.
    for (let i = 0; i < 50 && sub.exitCode === null; i++) {
      await runCli(['send', 'agent.a1.status', `hello ${i}`, '--socket', sock])
      await new Promise((r) => setTimeout(r, 100))
    }
    const r = await got
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { subject: string; data: string; from_node: string })
    assert.equal(lines.length, 2)
    assert.equal(lines[0]!.subject, 'agent.a1.status')
    assert.match(lines[0]!.data, /^hello \d+$/)
    const none = await runCli(['request', 'nobody.home', 'ping', '--timeout', '500', '--socket', sock])
    assert.equal(none.code, 1)
    assert.match(none.stderr, /NO_RESPONDERS|TIMEOUT/)
    const bad = await runCli(['send', 'bad..subject', 'x', '--socket', sock])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /INVALID_SUBJECT/)
  })

  test('SIGTERM stops the daemon cleanly and removes its socket', async () => {
    daemon.kill('SIGTERM')
    const r = await exited
    assert.equal(r.code, 0, r.stderr)
    await assert.rejects(fs.stat(sock), { code: 'ENOENT' })
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string })
    assert.ok(
      lines.some((l) => l.msg === 'blackroad daemon stopped'),
      'logs its stop as JSON',
    )
  })
})

describe('blackroad daemon refuses to start', () => {
  test('on a bad config: exit 78 naming file, line and field', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'brd-'))
    const file = path.join(dir, 'config.yaml')
    await fs.writeFile(file, 'node:\n  name: x\nwireguard:\n  listen_port: "lots"\n')
    const r = await runCli(['daemon', '--config', file])
    assert.equal(r.code, 78)
    assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:\\d+`))
    assert.match(r.stderr, /wireguard\.listen_port/)
    await fs.rm(dir, { recursive: true, force: true })
  })

  test('on a missing config file: exit 78', async () => {
    const r = await runCli(['daemon', '--config', '/nonexistent/blackroad.yaml'])
    assert.equal(r.code, 78)
    assert.match(r.stderr, /nonexistent\/blackroad\.yaml/)
  })

  test('without CAP_NET_ADMIN: exit 77 with the reason', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('needs root to drop a capability')
      return
    }
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'brd-'))
    await fs.writeFile(path.join(dir, 'config.yaml'), configYaml(dir))
    const r = await runCli(['daemon', '--config', path.join(dir, 'config.yaml')], {
      prefix: ['setpriv', '--bounding-set', '-net_admin', '--inh-caps', '-net_admin', process.execPath],
    })
    assert.equal(r.code, 77, r.stderr)
    assert.match(r.stderr, /CAP_NET_ADMIN/)
    await fs.rm(dir, { recursive: true, force: true })
  })
})
