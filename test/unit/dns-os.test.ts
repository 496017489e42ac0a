// OS resolver integration against a fake Exec: the resolvectl command sequences of the systemd-resolved
// configurator, its typed failure, detection (runtime directory + a resolvectl that answers), and the settings
// the daemon derives from the config.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { defaultConfig } from '../../src/config/index.js'
import { DnsError } from '../../src/dns/errors.js'
import { osDnsSettings } from '../../src/dns/index.js'
import { detectOsDnsConfigurator, NoopDnsConfigurator, RESOLVED_RUNTIME_DIR } from '../../src/dns/os.js'
import { ResolvedConfigurator } from '../../src/dns/resolved.js'
import { MeshZone } from '../../src/dns/zone.js'
import { type Exec, ExecError, type RunOptions, type RunResult } from '../../src/os/index.js'

class FakeExec implements Exec {
  readonly calls: string[] = []
  constructor(
    private readonly behave: (cmd: string, args: readonly string[]) => RunResult | Error = () => ok,
  ) {}

  async run(cmd: string, args: readonly string[], _opts?: RunOptions): Promise<RunResult> {
    this.calls.push([cmd, ...args].join(' '))
    const r = this.behave(cmd, args)
    if (r instanceof Error) throw r
    return r
  }

  spawn(): never {
    throw new Error('not used')
  }
}
const ok: RunResult = { stdout: '', stderr: '', code: 0 }

const SETTINGS = {
  iface: 'br0',
  servers: ['127.0.0.153'],
  domains: ['mesh.blackroad.local', '64.100.in-addr.arpa'],
}

describe('ResolvedConfigurator', () => {
  test('apply: per-link DNS, routing-only domains, not a default route; revert undoes it', async () => {
    const exec = new FakeExec()
    const r = new ResolvedConfigurator(exec)
    await r.apply(SETTINGS)
    await r.revert()
    await r.revert()
    assert.deepEqual(exec.calls, [
      'resolvectl dns br0 127.0.0.153',
      'resolvectl domain br0 ~mesh.blackroad.local ~64.100.in-addr.arpa',
      'resolvectl default-route br0 false',
      'resolvectl revert br0',
    ])
  })

  test('apply again on another interface reverts the first', async () => {
    const exec = new FakeExec()
    const r = new ResolvedConfigurator(exec)
    await r.apply(SETTINGS)
    await r.apply({ ...SETTINGS, iface: 'br1', servers: ['[fd00::53]:5353'] })
    assert.deepEqual(exec.calls.slice(3), [
      'resolvectl revert br0',
      'resolvectl dns br1 [fd00::53]:5353',
      'resolvectl domain br1 ~mesh.blackroad.local ~64.100.in-addr.arpa',
      'resolvectl default-route br1 false',
    ])
  })

  test('a failing resolvectl is DNS_OS_CONFIG_FAILED with its message; revert cleans up the half-applied link', async () => {
    const exec = new FakeExec((_c, args) =>
      args[0] === 'domain'
        ? new ExecError('EXEC_FAILED', 'resolvectl domain', { exitCode: 1, stderr: 'Link br0 not known' })
        : ok,
    )
    const r = new ResolvedConfigurator(exec)
    await assert.rejects(r.apply(SETTINGS), (err: unknown) => {
      assert.ok(err instanceof DnsError, 'err instanceof DnsError')
      assert.equal(err.code, 'DNS_OS_CONFIG_FAILED')
      assert.match(err.message, /Link br0 not known/)
      return true
    })
    await r.revert()
    assert.deepEqual(exec.calls, [
      'resolvectl dns br0 127.0.0.153',
      'resolvectl domain br0 ~mesh.blackroad.local ~64.100.in-addr.arpa',
      'resolvectl revert br0',
    ])
  })

  test('empty settings are refused before running anything', async () => {
    const exec = new FakeExec()
    await assert.rejects(new ResolvedConfigurator(exec).apply({ ...SETTINGS, servers: [] }), DnsError)
    assert.deepEqual(exec.calls, [])
  })
})

describe('detectOsDnsConfigurator', () => {
  const exists = (yes: boolean) => async (p: string) => yes && p === RESOLVED_RUNTIME_DIR

  test('resolved: directory present and resolvectl answers', async () => {
    const exec = new FakeExec()
    const c = await detectOsDnsConfigurator({ exec, exists: exists(true) })
    assert.equal(c.kind, 'systemd-resolved')
    assert.deepEqual(exec.calls, ['resolvectl --no-pager status'])
  })

  test('no directory: no-op, resolvectl not even tried', async () => {
    const exec = new FakeExec()
    const c = await detectOsDnsConfigurator({ exec, exists: exists(false) })
    assert.ok(c instanceof NoopDnsConfigurator, 'c instanceof NoopDnsConfigurator')
    assert.deepEqual(exec.calls, [])
    await c.apply()
    await c.revert()
  })

  test('resolvectl failing, missing or hung: no-op', async () => {
    for (const result of [
      { stdout: '', stderr: 'Failed to get global data', code: 1 },
      new ExecError('EXEC_NOT_FOUND', 'resolvectl', {}),
      new ExecError('EXEC_TIMEOUT', 'resolvectl', {}),
    ]) {
      const c = await detectOsDnsConfigurator({ exec: new FakeExec(() => result), exists: exists(true) })
      assert.equal(c.kind, 'none')
    }
  })
})

describe('osDnsSettings', () => {
  test('listen addresses become resolvectl servers; the zone apexes become routing domains', () => {
    const config = defaultConfig()
    config.dns.listen = ['127.0.0.153:53', '[fd00::1]:5353', '0.0.0.0:53']
    const zone = new MeshZone(
      { domain: 'mesh.blackroad.local', ttl: { node: 60, agent: 30, negative: 30 } },
      { nodes: [{ name: 'a', cluster: 'c', ipv4: '100.64.0.1' }], clusters: [], control: [], agents: [] },
    )
    assert.deepEqual(osDnsSettings(config, zone, 'blackroad0'), {
      iface: 'blackroad0',
      servers: ['127.0.0.153', '[fd00::1]:5353'],
      domains: ['mesh.blackroad.local', '64.100.in-addr.arpa'],
    })
  })
})
