// The harness starts daemons as the installed command runs: with the environment and node flags of the
// command's shebang line (netns-tests/lib/repo.ts), which the build writes from package.json.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { repoRoot, shebangEnv, shebangFlags } from '../../netns-tests/lib/repo.js'

test('shebang lines: environment assignments before node, flags after it', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'brt-shebang-'))
  try {
    const of = (line: string) => {
      const f = path.join(dir, 'cmd.mjs')
      writeFileSync(f, `${line}\nconsole.log(1)\n`)
      return { env: shebangEnv(f), flags: shebangFlags(f) }
    }
    assert.deepEqual(of('#!/usr/bin/env -S MALLOC_ARENA_MAX=1 node --max-semi-space-size=1 --no-warnings'), {
      env: { MALLOC_ARENA_MAX: '1' },
      flags: ['--max-semi-space-size=1', '--no-warnings'],
    })
    assert.deepEqual(of('#!/usr/bin/env -S node --max-semi-space-size=1'), {
      env: {},
      flags: ['--max-semi-space-size=1'],
    })
    assert.deepEqual(of('#!/usr/bin/env -S A=1 B_2=x node'), { env: { A: '1', B_2: 'x' }, flags: [] })
    assert.deepEqual(of('#!/usr/bin/env node'), { env: {}, flags: [] })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test("the built command carries package.json's node environment and flags", () => {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot(), 'package.json'), 'utf8'))
  const cli = path.join(repoRoot(), 'dist', 'bin', 'blackroad-cli.cjs')
  assert.deepEqual(shebangEnv(cli), pkg.blackroad.nodeEnv)
  assert.deepEqual(shebangFlags(cli), pkg.blackroad.nodeFlags)
})

test('BLACKROAD_LOAD_ONLY=1: the command loads its bundle and exits without running the command it was given', () => {
  const cli = path.join(repoRoot(), 'dist', 'bin', 'blackroad-cli.cjs')
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, [...shebangFlags(cli), cli, '--version'], {
      env: { ...process.env, ...shebangEnv(cli), ...env },
      encoding: 'utf8',
      timeout: 60_000,
    })
  const normal = run({})
  assert.equal(normal.status, 0)
  assert.match(normal.stdout, /^\d+\.\d+\.\d+/, 'without it, --version prints the version')
  const loaded = run({ BLACKROAD_LOAD_ONLY: '1' })
  assert.equal(loaded.status, 0, loaded.stderr)
  assert.equal(loaded.stdout, '', 'with it, nothing runs')
})
