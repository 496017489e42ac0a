// The plain `blackroad daemon` line main.ts runs without the full parser: exactly the daemon's own options, and
// null for anything the full parser must see (help, other options, repeats, a missing value).

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { plainDaemonArgs } from '../../src/cli/daemon-args.js'

test('the daemon line as systemd runs it is recognised', () => {
  assert.deepEqual(plainDaemonArgs(['daemon']), { skipPrivilegeCheck: false })
  assert.deepEqual(plainDaemonArgs(['daemon', '--config', '/etc/b.yaml']), {
    config: '/etc/b.yaml',
    skipPrivilegeCheck: false,
  })
  assert.deepEqual(plainDaemonArgs(['daemon', '--skip-privilege-check', '--config=/x.yaml']), {
    config: '/x.yaml',
    skipPrivilegeCheck: true,
  })
})

test('anything else is left to the full command line', () => {
  for (const argv of [
    [],
    ['status'],
    ['daemon', '--help'],
    ['daemon', '--version'],
    ['daemon', '--json'],
    ['daemon', '--config'],
    ['daemon', '--config='],
    ['daemon', '--config', '--help'],
    ['daemon', '--config', 'a', '--config', 'b'],
    ['daemon', '--skip-privilege-check', '--skip-privilege-check'],
    ['daemon', 'extra'],
    ['--config', 'x', 'daemon'],
  ])
    assert.equal(plainDaemonArgs(argv), null, argv.join(' '))
})
