// The daemon's config, validated once per file content. Building the zod schemas and validating a config took
// ~40-50 ms of every daemon start here (a tenth of its CPU from spawn to "ready"), for a file that rarely
// changes between starts. So the daemon keeps what the last validation of its file gave, beside its code cache
// (systemd's CacheDirectory, or the bundle's directory), and takes it again when the file's text is exactly the
// one validated, under the same build of the daemon and the same hostname (the one default that depends on the
// machine). Any difference, a missing, unreadable or untrusted entry: the file is parsed and validated as always
// (the schemas load only then), and the entry is written anew. A file that does not validate is never cached:
// its errors are reported on every start.
//
// Trust: the entry decides the daemon's configuration, so it is read only when root or this user owns it and
// neither group nor others may write it, like the code cache beside it. Written atomically (rename), mode 0600.

import { promises as fs } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { hostname } from 'node:os'
import path from 'node:path'
import { deserialize, serialize } from 'node:v8'
import { readConfigText } from './read.js'
import type { Config } from './schema.js'

/** Where entries live and what identifies the code that validated them (the loader's bundle and Node). */
export interface ConfigCache {
  dir: string
  key: string
}

/** Text -> Config, throwing ConfigError for an invalid text (load.ts's parseConfig). */
export type ConfigParser = (text: string, file: string) => Config

const FORMAT = 1
const PREFIX = 'blackroad.config-cache-'
const STALE_MS = 7 * 24 * 3_600_000

interface Entry {
  format: number
  key: string
  host: string
  file: string
  text: string
  config: Config
}

const loadParser = async (): Promise<ConfigParser> => (await import('./load.js')).parseConfig

/**
 * Reads the config at `file` and returns it validated: from `cache` when an entry matches the file's text
 * exactly (fromCache), else through the parser (loaded on first use), caching the result. Without a cache,
 * always parses.
 * Errors are loadConfig's: ConfigError naming file, line and field.
 */
export async function loadConfigCached(
  file: string,
  cache?: ConfigCache,
  parser: () => Promise<ConfigParser> = loadParser,
): Promise<{ config: Config; fromCache: boolean }> {
  const text = await readConfigText(file)
  if (cache === undefined) return { config: (await parser())(text, file), fromCache: false }
  const at = entryPath(cache.dir, file)
  const host = hostname()
  const entry = await readEntry(at)
  if (
    entry !== undefined &&
    entry.format === FORMAT &&
    entry.key === cache.key &&
    entry.host === host &&
    entry.file === file &&
    entry.text === text
  )
    return { config: entry.config, fromCache: true }
  const config = (await parser())(text, file)
  await writeEntry(at, { format: FORMAT, key: cache.key, host, file, text, config })
  return { config, fromCache: false }
}

/** One entry per config path (its FNV-1a hash in the name; the entry names the file it is for). */
export function entryPath(dir: string, file: string): string {
  let h = 0x811c9dc5
  for (const c of Buffer.from(path.resolve(file))) h = Math.imul(h ^ c, 0x01000193) >>> 0
  return path.join(dir, `${PREFIX}${h.toString(16).padStart(8, '0')}`)
}

async function readEntry(at: string): Promise<Entry | undefined> {
  let handle: FileHandle | undefined
  try {
    handle = await fs.open(at, 'r')
    const st = await handle.stat()
    const uid = process.getuid?.() ?? 0
    if (!st.isFile() || (st.uid !== 0 && st.uid !== uid) || (st.mode & 0o022) !== 0) return undefined
    const value = deserialize(await handle.readFile()) as Partial<Entry> | null
    return typeof value === 'object' && value !== null && typeof value.text === 'string'
      ? (value as Entry)
      : undefined
  } catch {
    // None yet, unreadable, or not an entry (another format, truncated): parsed and written anew.
    return undefined
  } finally {
    await handle?.close().catch(() => {})
  }
}

async function writeEntry(at: string, entry: Entry): Promise<void> {
  const tmp = `${at}.${process.pid}`
  try {
    await fs.writeFile(tmp, serialize(entry), { flag: 'w', mode: 0o600 })
    await fs.chmod(tmp, 0o600)
    await fs.rename(tmp, at)
  } catch {
    // A read-only or missing directory: the next start validates again, nothing worse.
    await fs.rm(tmp, { force: true }).catch(() => {})
    return
  }
  await removeStale(path.dirname(at), at).catch(() => {})
}

/** Entries of other config paths untouched for a week (a test run's daemons leave one each). */
async function removeStale(dir: string, keep: string): Promise<void> {
  const before = Date.now() - STALE_MS
  for (const name of await fs.readdir(dir)) {
    const f = path.join(dir, name)
    if (!name.startsWith(PREFIX) || name.includes('.', PREFIX.length) || f === keep) continue
    const st = await fs.stat(f).catch(() => null)
    if (st !== null && st.mtimeMs < before) await fs.rm(f, { force: true }).catch(() => {})
  }
}
