// Secret files for `wg`: 0600 inside a private 0700 directory, gone afterwards — also when the command failed.

import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { withSecretFiles } from '../../src/wireguard/secrets.js'

const base = mkdtempSync(join(tmpdir(), 'brw-secrets-test-'))
after(() => rmSync(base, { recursive: true, force: true }))

test('files hold the secret with mode 0600 in a 0700 directory while the command runs', async () => {
  const seen: { path: string; mode: number; dirMode: number; text: string }[] = []
  const result = await withSecretFiles(
    (file) => ['set', 'x', 'private-key', file('S1'), 'preshared-key', file('S2')],
    async (args) => {
      for (const path of [args[3] as string, args[5] as string]) {
        const dir = path.slice(0, path.lastIndexOf('/'))
        seen.push({
          path,
          mode: statSync(path).mode & 0o777,
          dirMode: statSync(dir).mode & 0o777,
          text: readFileSync(path, 'utf8'),
        })
      }
      return 'done'
    },
    base,
  )
  assert.equal(result, 'done')
  assert.deepEqual(
    seen.map((s) => [s.mode, s.dirMode, s.text]),
    [
      [0o600, 0o700, 'S1\n'],
      [0o600, 0o700, 'S2\n'],
    ],
  )
  for (const s of seen) assert.equal(existsSync(s.path), false)
})

test('a failing command still leaves nothing behind', async () => {
  let path = ''
  await assert.rejects(
    withSecretFiles(
      (file) => {
        path = file('S')
        return [path]
      },
      async () => {
        throw new Error('wg failed')
      },
      base,
    ),
    /wg failed/,
  )
  assert.equal(existsSync(path), false)
  assert.equal(existsSync(path.slice(0, path.lastIndexOf('/'))), false)
})
