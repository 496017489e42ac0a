// The installed `blackroad` command (copied to dist/bin/blackroad.mjs by bundle.mjs, behind a shebang with the
// daemon's V8 flags). It runs the bundle dist/bin/blackroad.cjs, compiled with the V8 code cache the build made
// from it (blackroad.cjs.cache): start-up then deserialises compiled code instead of parsing and compiling the
// bundle's 2.4 MB, about a third of the CPU a daemon spends before it reads its config (Node 20 has no module
// compile cache of its own). V8 itself refuses a cache made by another Node version or with other V8 flags
// (cachedDataRejected), and the bundle is then compiled as usual.
//
// With BLACKROAD_BUILD_CODE_CACHE=1 (bundle.mjs, at build time) it loads every module without running a command
// and writes the cache. With BLACKROAD_LOAD_ONLY=1 it loads the bundle as always (cache included) and exits
// without running a command: the memory bench's floor, measured on this loader rather than a copy of it.
//
// The build's cache holds what loading the modules compiles, not what the daemon then runs while it starts
// (parsing its config, bringing up WireGuard, DNS, discovery...): V8 compiles each of those functions the first
// time it runs. So `blackroad daemon` has a second cache, blackroad.cjs.daemon-cache, which the first daemon
// started after a build writes once it is up (through the saveCodeCache hook below; write-once, atomically by
// rename, skipped where this directory is read-only); later daemon starts load it instead. Measured here, one
// daemon at a time: CPU from spawn to "ready" about 560 -> 485 ms. V8 refuses a cache made by another build of
// the bundle, another Node or other V8 flags; a refused daemon cache is deleted, and the next daemon writes a
// fresh one. The build removes it with the rest of dist/bin.

import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import Module, { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Script } from 'node:vm'

const file = fileURLToPath(new URL('./blackroad.cjs', import.meta.url))
const cacheFile = `${file}.cache`
const building = process.env.BLACKROAD_BUILD_CODE_CACHE === '1'

const daemonCacheFile = `${file}.daemon-cache`
const daemonRun = !building && process.argv[2] === 'daemon'

const readCache = (f) => {
  try {
    return readFileSync(f)
  } catch {
    // No cache (a build without one, not written yet, or removed).
    return undefined
  }
}
let daemonCache = daemonRun ? readCache(daemonCacheFile) : undefined
let cachedData = building ? undefined : (daemonCache ?? readCache(cacheFile))
const script = new Script(Module.wrap(readFileSync(file, 'utf8')), {
  filename: file,
  ...(cachedData !== undefined ? { cachedData } : {}),
})
if (daemonCache !== undefined && script.cachedDataRejected === true) {
  try {
    unlinkSync(daemonCacheFile)
  } catch {
    // Read-only here: it stays refused, and this daemon compiles what it runs, as without it.
  }
  daemonCache = undefined
}
// V8 has deserialised the cache; dropping the buffer lets it go back to the OS (a daemon's lifetime).
cachedData = undefined
const bundle = { exports: {} }
script.runInThisContext()(bundle.exports, createRequire(file), bundle, file, path.dirname(file))

if (building) {
  await bundle.exports.warm()
  writeFileSync(cacheFile, script.createCachedData())
  // Some modules start timers or handles when loaded; nothing else is to run here.
  process.exit(0)
} else if (process.env.BLACKROAD_LOAD_ONLY === '1') {
  process.exit(0)
} else {
  // For `blackroad daemon` without a daemon cache: the daemon calls this once it is up (see the header).
  const saveCodeCache =
    daemonRun && daemonCache === undefined
      ? () => {
          const tmp = `${daemonCacheFile}.${process.pid}`
          writeFileSync(tmp, script.createCachedData(), { flag: 'wx' })
          renameSync(tmp, daemonCacheFile)
        }
      : undefined
  bundle.exports.runMain({ saveCodeCache })
}
