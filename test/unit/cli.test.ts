// The CLI's command tree and exit statuses, run as a real process: every command of the guide's Operations
// section exists; those whose layer is not built yet exit 2 naming the capability and print nothing invented;
// usage errors exit 64; a missing daemon is a clear error with status 1.

import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, test } from 'node:test'
import { runCli } from '../helpers/cli.js'

const NO_DAEMON = ['--socket', '/nonexistent/blackroad-test.sock']

const pending: Array<{ args: string[]; capability: RegExp }> = [
  { args: ['cluster', 'drain', 'us-west'], capability: /scheduler/ },
  { args: ['cluster', 'cordon', 'us-west'], capability: /scheduler/ },
  { args: ['cluster', 'uncordon', 'us-west'], capability: /scheduler/ },
  { args: ['cluster', 'health', 'us-west'], capability: /failover/ },
  { args: ['agent', 'migrate', 'a1', '--to', 'eu-west'], capability: /migration/ },
  { args: ['agent', 'migrate', '--from', 'us-west', '--all'], capability: /migration/ },
  { args: ['agent', 'list', '--status', 'pending'], capability: /scheduler/ },
  { args: ['replication', 'status'], capability: /replication/ },
  { args: ['replication', 'force-sync', '--cluster', 'us-west'], capability: /replication/ },
  { args: ['failover', 'simulate', '--cluster', 'us-west'], capability: /failover/ },
  { args: ['failover', 'status'], capability: /failover/ },
]

describe('blackroad CLI', () => {
  for (const p of pending) {
    test(`\`blackroad ${p.args.join(' ')}\` waits for its capability (exit 2)`, async () => {
      const r = await runCli([...p.args, ...NO_DAEMON])
      assert.equal(r.code, 2, r.stderr)
      assert.equal(r.stdout, '', 'prints no data')
      assert.match(r.stderr, /NOT_AVAILABLE/)
      assert.match(r.stderr, p.capability)
    })
  }

  test('--json gives a JSON error document for a pending command', async () => {
    const r = await runCli(['failover', 'status', '--json', ...NO_DAEMON])
    assert.equal(r.code, 2)
    const doc = JSON.parse(r.stdout) as { error: { code: string; message: string } }
    assert.equal(doc.error.code, 'NOT_AVAILABLE')
  })

  for (const args of [
    ['federation', 'join', '--token', 'x', '--control-plane', 'y', '--cluster-name', 'z'],
    ['node', 'revoke', 'node_x'],
    ['agent', 'list', '--cluster', 'us-west'],
    ['agent', 'list', '--status', 'running'],
  ]) {
    test(`\`blackroad ${args.slice(0, 3).join(' ')}\` asks the daemon (exit 1 without one, not 2)`, async () => {
      const r = await runCli([...args, ...NO_DAEMON])
      assert.equal(r.code, 1, r.stderr)
      assert.match(r.stderr, /DAEMON_NOT_RUNNING/)
    })
  }

  test('status without a daemon: exit 1 with DAEMON_NOT_RUNNING', async () => {
    const r = await runCli(['status', ...NO_DAEMON])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /DAEMON_NOT_RUNNING/)
  })

  test('unknown command and missing options are usage errors (64)', async () => {
    const unknown = await runCli(['frobnicate'])
    assert.equal(unknown.code, 64)
    assert.match(unknown.stderr, /Unknown argument|Unknown command/i)
    const missing = await runCli(['federation', 'create-cluster', '--name', 'x', ...NO_DAEMON])
    assert.equal(missing.code, 64)
    assert.match(missing.stderr, /region/)
  })

  test('config check names every problem with file:line:column; config describe documents fields', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'brcli-'))
    const file = path.join(dir, 'config.yaml')
    await writeFile(file, 'node:\n  nmae: x\nwireguard:\n  listen_port: "a"\n')
    const bad = await runCli(['config', 'check', '--config', file])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /config\.yaml:2:3: node\.nmae: unknown key "nmae"; did you mean "name"/)
    assert.match(bad.stderr, /config\.yaml:4:\d+: wireguard\.listen_port/)
    await writeFile(file, 'node:\n  name: pi-1\n')
    const good = await runCli(['config', 'check', '--config', file, '--json'])
    assert.equal(good.code, 0)
    assert.deepEqual(JSON.parse(good.stdout), { file, valid: true, node: 'pi-1' })
    const doc = await runCli(['config', 'describe'])
    assert.equal(doc.code, 0)
    assert.match(doc.stdout, /^wireguard\.key_rotation .*default 24h/m)
    await rm(dir, { recursive: true, force: true })
  })

  test("--help lists the guide's command groups", async () => {
    const r = await runCli(['--help'])
    assert.equal(r.code, 0)
    for (const word of [
      'daemon',
      'status',
      'keys',
      'federation',
      'cluster',
      'agent',
      'replication',
      'failover',
    ]) {
      assert.match(r.stdout, new RegExp(`blackroad ${word}`))
    }
  })
})
