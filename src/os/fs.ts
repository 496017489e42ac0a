// Small filesystem questions the adapters ask.

import { access } from 'node:fs/promises'

/** Whether something exists at `path` (following symlinks); false when it cannot be reached either. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}
