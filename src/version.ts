// The daemon's version, read once from the package.json that ships with it (two or three levels above this
// file, in src/ or in dist/src/), so `blackroad status` and the build-info metric never drift from the package.

import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

function findPackageRoot(start: string): string | null {
  let dir = start
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string }
      if (pkg.name === 'blackroad-mesh') return dir
    } catch {
      // not here; keep walking up
    }
    const parent = path.dirname(dir)
    if (parent === dir) break
    dir = parent
  }
  return null
}

export const PACKAGE_ROOT: string =
  findPackageRoot(path.dirname(fileURLToPath(import.meta.url))) ?? process.cwd()

export const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string })
      .version
  } catch {
    return '0.0.0-unknown'
  }
})()
