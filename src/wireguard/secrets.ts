// Hands secrets (private and preshared keys) to `wg` through 0600 files in a private 0700 directory, because argv
// is readable by every user through /proc. Prefers a tmpfs (/dev/shm, /run) so keys never reach a disk; files are
// overwritten and removed as soon as the command has run, also when it failed.

import { randomBytes } from 'node:crypto'
import { constants, existsSync } from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

function defaultBase(): string {
  for (const dir of ['/dev/shm', '/run']) if (existsSync(dir)) return dir
  return tmpdir()
}

/**
 * Calls `fn` with a function that turns a secret into a file path valid during `fn`. The files are written
 * before `fn` runs (the path function only records and names them), so `fn` receives paths synchronously.
 */
export async function withSecretFiles<T>(
  build: (secretFile: (secret: string) => string) => string[],
  fn: (args: string[]) => Promise<T>,
  baseDir: string = defaultBase(),
): Promise<T> {
  const dir = await mkdtemp(join(baseDir, 'blackroad-wg-'))
  try {
    const pending: { path: string; secret: string }[] = []
    const args = build((secret) => {
      const path = join(dir, randomBytes(6).toString('hex'))
      pending.push({ path, secret })
      return path
    })
    for (const { path, secret } of pending) {
      // O_EXCL: never follow or reuse something another user placed there.
      const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
      try {
        await fh.writeFile(`${secret}\n`)
      } finally {
        await fh.close()
      }
    }
    try {
      return await fn(args)
    } finally {
      for (const { path, secret } of pending) {
        // Best effort overwrite before unlink; on tmpfs this is the only copy.
        await open(path, constants.O_WRONLY)
          .then(async (fh) => {
            await fh.writeFile('0'.repeat(secret.length + 1))
            await fh.close()
          })
          .catch(() => {})
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
