// Durable small-file writes for state the daemon must not half-write: write a temporary file, fsync it,
// rename it over the old one, fsync the directory. A crash leaves either the old or the new content.

import { promises as fs } from 'node:fs'
import path from 'node:path'

export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`
  const fh = await fs.open(tmp, 'w', mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await fs.rename(tmp, file)
  const dir = await fs.open(path.dirname(file), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}
