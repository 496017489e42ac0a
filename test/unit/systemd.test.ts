// The systemd unit: `systemd-analyze verify` must accept it (with ExecStart pointed at this checkout's
// compiled CLI, since /usr/bin/blackroad exists only after install.sh), and it must keep the promises the
// README makes: restart on failure but not on bad config, state/runtime/config directories, and only the two
// capabilities a router needs.

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { chmodSync, existsSync, promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir)
  return dir
}

const root = repoRoot()
const unitPath = path.join(root, 'systemd', 'blackroad.service')

test('unit keeps its promises', async () => {
  const unit = await fs.readFile(unitPath, 'utf8')
  const get = (key: string) =>
    unit
      .split('\n')
      .filter((l) => l.startsWith(`${key}=`))
      .map((l) => l.slice(key.length + 1))
  assert.deepEqual(get('ExecStart'), ['/usr/bin/blackroad daemon --config /etc/blackroad/config.yaml'])
  assert.deepEqual(get('Restart'), ['on-failure'])
  assert.deepEqual(get('Type'), ['notify'])
  assert.deepEqual(get('NotifyAccess'), ['main'])
  assert.deepEqual(get('WatchdogSec'), ['30s'])
  assert.deepEqual(get('RestartPreventExitStatus'), ['77 78'])
  assert.deepEqual(get('StateDirectory'), ['blackroad'])
  assert.deepEqual(get('RuntimeDirectory'), ['blackroad'])
  // The daemon's code cache (scripts/bin-loader.cjs): /usr/lib is read-only under ProtectSystem=strict.
  assert.deepEqual(get('CacheDirectory'), ['blackroad'])
  assert.deepEqual(get('ConfigurationDirectory'), ['blackroad'])
  assert.deepEqual(get('CapabilityBoundingSet'), ['CAP_NET_ADMIN CAP_NET_BIND_SERVICE'])
  assert.deepEqual(get('AmbientCapabilities'), ['CAP_NET_ADMIN CAP_NET_BIND_SERVICE'])
})

test('systemd-analyze verify accepts the unit', async (t) => {
  const which = await run('sh', ['-c', 'command -v systemd-analyze']).catch(() => null)
  if (!which) {
    t.skip('systemd-analyze is not installed')
    return
  }
  const cli = path.join(root, 'dist', 'src', 'cli', 'main.js')
  const target = existsSync(cli) ? cli : '/usr/bin/env'
  if (existsSync(cli)) chmodSync(cli, 0o755)
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'brunit-'))
  try {
    const unit = (await fs.readFile(unitPath, 'utf8')).replace(
      'ExecStart=/usr/bin/blackroad',
      `ExecStart=${target}`,
    )
    const copy = path.join(dir, 'blackroad.service')
    await fs.writeFile(copy, unit)
    const r = await run('systemd-analyze', ['verify', copy]).then(
      (ok) => ({ code: 0, out: ok.stdout + ok.stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({
        code: err.code,
        out: err.stdout + err.stderr,
      }),
    )
    // Warnings about the host (not our unit) are not failures; anything naming our unit is.
    const ours = r.out.split('\n').filter((l) => l.includes('blackroad.service'))
    assert.deepEqual(ours, [], r.out)
    assert.equal(r.code, 0, r.out)
  } finally {
    await fs.rm(dir, { recursive: true, force: true })
  }
})
