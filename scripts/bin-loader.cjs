// The installed `blackroad` command (copied to dist/bin/blackroad-cli.cjs by bundle.mjs, behind a shebang with
// the daemon's V8 flags). It runs the bundle dist/bin/blackroad.cjs, compiled with the V8 code cache the build
// made from it (blackroad.cjs.cache): start-up then deserialises compiled code instead of parsing and compiling
// the bundle's 2.5 MB, about a third of the CPU a daemon spends before it reads its config (Node 20 has no module
// compile cache of its own). V8 itself refuses a cache made by another Node version or with other V8 flags
// (cachedDataRejected), and the bundle is then compiled as usual. CommonJS, not an ES module: Node loads its
// ES module loader only for an ES module entry, which cost a daemon 1.2 MiB of memory and 20-30 ms of start-up.
//
// With BLACKROAD_BUILD_CODE_CACHE=1 (bundle.mjs, at build time) it loads every module without running a command
// and writes the cache. With BLACKROAD_LOAD_ONLY=1 it loads the bundle as always (cache included) and exits
// without running a command: the memory bench's floor, measured on this loader rather than a copy of it.
//
// The build's cache holds what loading the modules compiles, not what the daemon then runs while it starts
// (parsing its config, bringing up WireGuard, DNS, discovery...): V8 compiles each of those functions the first
// time it runs. So `blackroad daemon` has a second cache, which the first daemon started after a build or an
// upgrade writes a few seconds after it is up, with what joining the mesh compiled (the saveCodeCache hook below,
// called after CODE_CACHE_DELAY_MS, src/daemon/code-cache.ts; atomically, by rename), and later daemon starts
// load instead. It lives in systemd's cache directory for the unit (CacheDirectory=, /var/cache/blackroad: the
// installed bundle is read-only to the daemon) or else beside the bundle, and is named after the bundle's size,
// modification time and inode: V8 checks only a script's length before it takes a cache, so a cache of another
// build of the same length must never be offered. A cache V8 refuses anyway (another Node, other V8 flags) is
// written over by the daemon that found it, and so is one that neither root nor this user owns or that group or
// others may write (it is compiled code the daemon would run). Measured here, one daemon at a time: CPU from
// spawn to "ready" about 560 -> 485 ms.
//
// The same directory keeps the daemon's validated config (src/config/cached.ts), keyed by this bundle's identity
// and Node's version: a restart with an unchanged config file skips building the config schemas and validating
// (~35 ms of CPU from spawn to "ready" here).

'use strict'

const fs = require('node:fs')
const Module = require('node:module')
const path = require('node:path')
const { Script } = require('node:vm')

const file = path.join(__dirname, 'blackroad.cjs')
const cacheFile = `${file}.cache`
const building = process.env.BLACKROAD_BUILD_CODE_CACHE === '1'
const DAEMON_CACHE_PREFIX = 'blackroad.cjs.daemon-cache-'

function readCache(f) {
  try {
    return fs.readFileSync(f)
  } catch {
    // No cache (a build without one, not written yet, or removed).
    return undefined
  }
}

/** Where the daemon cache for this very bundle is, or null when the bundle cannot be examined. */
function daemonCachePath() {
  try {
    const st = fs.statSync(file)
    const dir = process.env.CACHE_DIRECTORY?.split(':')[0] || __dirname
    return path.join(dir, `${DAEMON_CACHE_PREFIX}${st.size}-${Math.trunc(st.mtimeMs)}-${st.ino}`)
  } catch {
    return null
  }
}

function removeQuietly(f) {
  try {
    fs.unlinkSync(f)
  } catch {
    // Gone already, or a read-only directory.
  }
}

/**
 * The daemon cache, read through one open file: undefined when there is none, or when it is not to be trusted.
 * It is compiled code the daemon (root, normally) will run, so one that someone other than root or this user
 * owns, or that group or others may write, is not read (a fresh one is written over it).
 */
function readDaemonCache(f) {
  let fd
  try {
    fd = fs.openSync(f, 'r')
    const st = fs.fstatSync(fd)
    const uid = process.getuid?.() ?? 0
    return (st.uid === 0 || st.uid === uid) && (st.mode & 0o022) === 0 ? fs.readFileSync(fd) : undefined
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}

const daemonCacheFile = !building && process.argv[2] === 'daemon' ? daemonCachePath() : null
let daemonCache = daemonCacheFile !== null ? readDaemonCache(daemonCacheFile) : undefined
let cachedData = building ? undefined : (daemonCache ?? readCache(cacheFile))
// Latin-1: the bundle is ASCII (bundle.mjs), and decoding it as such is a copy, not a UTF-8 decode.
const script = new Script(Module.wrap(fs.readFileSync(file, 'latin1')), {
  filename: file,
  ...(cachedData !== undefined ? { cachedData } : {}),
})
// Refused: this daemon compiles what it runs, as without a cache, and writes a good one over it.
if (daemonCache !== undefined && script.cachedDataRejected === true) daemonCache = undefined
// V8 has deserialised the cache; dropping the buffer lets it go back to the OS (a daemon's lifetime).
cachedData = undefined
const bundle = { exports: {} }
script.runInThisContext()(bundle.exports, Module.createRequire(file), bundle, file, __dirname)

/** Writes the daemon cache and removes those of other builds beside it (see the header). */
function saveCodeCache() {
  const tmp = `${daemonCacheFile}.${process.pid}`
  fs.writeFileSync(tmp, script.createCachedData(), { flag: 'wx', mode: 0o644 })
  fs.renameSync(tmp, daemonCacheFile)
  const dir = path.dirname(daemonCacheFile)
  for (const f of fs.readdirSync(dir)) {
    // Others' caches, not the one just written nor another daemon's write in progress (NAME.pid).
    const other = path.join(dir, f)
    const ours = f.startsWith(DAEMON_CACHE_PREFIX) && !f.includes('.', DAEMON_CACHE_PREFIX.length)
    if (ours && other !== daemonCacheFile) removeQuietly(other)
  }
}

if (building) {
  bundle.exports.warm().then(
    () => {
      fs.writeFileSync(cacheFile, script.createCachedData())
      // Some modules start timers or handles when loaded; nothing else is to run here.
      process.exit(0)
    },
    (err) => {
      process.stderr.write(`blackroad: loading the modules for the code cache failed: ${err.stack ?? err}\n`)
      process.exit(1)
    },
  )
} else if (process.env.BLACKROAD_LOAD_ONLY === '1') {
  process.exit(0)
} else {
  // A daemon without a cache of its own gets the hook; it calls it once it has been up a while. A daemon keeps
  // its validated config beside its code cache, for this very bundle (src/config/cached.ts).
  const hooks = {}
  if (daemonCacheFile !== null) {
    if (daemonCache === undefined) hooks.saveCodeCache = saveCodeCache
    const build = path.basename(daemonCacheFile).slice(DAEMON_CACHE_PREFIX.length)
    hooks.configCache = { dir: path.dirname(daemonCacheFile), key: `${build} ${process.version}` }
  }
  bundle.exports.runMain(hooks)
}
