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

import { readFileSync, writeFileSync } from 'node:fs'
import Module, { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Script } from 'node:vm'

const file = fileURLToPath(new URL('./blackroad.cjs', import.meta.url))
const cacheFile = `${file}.cache`
const building = process.env.BLACKROAD_BUILD_CODE_CACHE === '1'

let cachedData
if (!building) {
  try {
    cachedData = readFileSync(cacheFile)
  } catch {
    // No cache (a build without one, or removed): compile from source.
  }
}
const script = new Script(Module.wrap(readFileSync(file, 'utf8')), {
  filename: file,
  ...(cachedData !== undefined ? { cachedData } : {}),
})
// V8 has deserialised the cache; dropping the 1.5 MB buffer lets it go back to the OS (a daemon's lifetime).
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
  bundle.exports.runMain()
}
