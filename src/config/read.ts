// Reading a config file's text: every failure (missing, unreadable, a directory, too large, not UTF-8) becomes a
// ConfigError naming the file. No schema here: the daemon reads its file through this before it knows whether
// it needs to parse it at all (cached.ts).

import { promises as fs } from 'node:fs'
import { ConfigError } from './errors.js'

/** A config is a few kilobytes; anything this large is the wrong file. */
const MAX_CONFIG_BYTES = 1024 * 1024

/** The text of the config file, checked to be a regular file of sane size in UTF-8; ConfigError otherwise. */
export async function readConfigText(file: string): Promise<string> {
  let bytes: Buffer
  try {
    const handle = await fs.open(file, 'r')
    try {
      const st = await handle.stat()
      if (!st.isFile()) throw fileError('CONFIG_UNREADABLE', file, 'is not a regular file')
      if (st.size > MAX_CONFIG_BYTES)
        throw fileError(
          'CONFIG_UNREADABLE',
          file,
          `is larger than ${MAX_CONFIG_BYTES} bytes; is it the right file?`,
        )
      bytes = await handle.readFile()
    } finally {
      await handle.close()
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') {
      throw fileError(
        'CONFIG_NOT_FOUND',
        file,
        'does not exist; create it (an empty file means all defaults) or pass --config',
        err,
      )
    }
    if (code === 'EISDIR')
      throw fileError('CONFIG_UNREADABLE', file, 'is a directory, not a config file', err)
    const reason =
      code === 'EACCES' || code === 'EPERM' ? 'permission denied' : ((err as Error).message ?? String(err))
    throw fileError('CONFIG_UNREADABLE', file, `cannot be read: ${reason}`, err)
  }
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch (err) {
    throw fileError('CONFIG_UNREADABLE', file, 'is not valid UTF-8 text', err)
  }
  return text
}

function fileError(code: ConfigError['code'], file: string, what: string, cause?: unknown): ConfigError {
  // Line 0 marks a problem with the file as a whole; formatProblem then prints no position.
  return new ConfigError(code, [{ file, line: 0, column: 0, path: '', message: `config file ${what}` }], {
    cause,
  })
}
