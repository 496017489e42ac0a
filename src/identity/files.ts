// Crash-safe file writes for secrets and state: write a temporary file beside the target, fsync it, move
// it into place, fsync the directory. After a crash the target is either the old file or the complete
// new one, never a torn key. `exclusive` uses link() instead of rename() so two processes racing to
// create the same key cannot silently replace each other's: the loser gets EEXIST and reads the winner's.

import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'

export interface AtomicWriteOptions {
  /** Permission bits of the new file (the process umask can only remove bits). */
  mode: number
  /** Fail with EEXIST instead of replacing an existing target. */
  exclusive?: boolean
}

const LINK_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'])

export async function writeFileAtomic(
  target: string,
  data: string | Uint8Array,
  opts: AtomicWriteOptions = { mode: 0o600 },
): Promise<void> {
  const dir = path.dirname(target)
  const tmp = path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`)
  const fh = await fs.open(tmp, 'wx', opts.mode)
  try {
    try {
      await fh.writeFile(data)
      await fh.chmod(opts.mode)
      await fh.sync()
    } finally {
      await fh.close()
    }
    if (opts.exclusive) {
      await linkExclusive(tmp, target)
    } else {
      await fs.rename(tmp, target)
    }
  } catch (err) {
    await fs.rm(tmp, { force: true })
    throw err
  }
  await fsyncDir(dir)
}

async function linkExclusive(tmp: string, target: string): Promise<void> {
  try {
    await fs.link(tmp, target)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? ''
    if (!LINK_UNSUPPORTED.has(code)) throw err
    // Filesystems without hard links (vfat on some Pi boot partitions): check, then rename. The window
    // between the two is the best such a filesystem allows.
    if (await exists(target)) throw Object.assign(new Error(`EEXIST: ${target}`), { code: 'EEXIST' })
    await fs.rename(tmp, target)
    return
  }
  await fs.rm(tmp, { force: true })
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p)
    return true
  } catch {
    return false
  }
}

/** Makes a rename or link in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/**
 * Creates `dir` (and missing parents) with mode 0700 if it does not exist. An existing directory keeps
 * its mode: packaging may have set it deliberately (for example 0750 with a service group).
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  const first = await fs.mkdir(dir, { recursive: true, mode: 0o700 })
  if (first === undefined) return
  // mkdir's mode is filtered by the umask; set it explicitly on every directory we created.
  let d = path.resolve(dir)
  const stop = path.resolve(first)
  for (;;) {
    await fs.chmod(d, 0o700)
    if (d === stop) break
    const parent = path.dirname(d)
    if (parent === d) break
    d = parent
  }
}
