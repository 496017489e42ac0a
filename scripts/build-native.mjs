// Builds native-bindings/ (the blackroad_native N-API addon) with npm's own node-gyp against this Node's local
// headers, offline. npm runs it as the root package's "install" script, so `npm ci` builds the addon; install.sh
// runs it with --require. It never fails an install: when the addon cannot be built (no compiler, another OS,
// BLACKROAD_NATIVE=off) it prints one line and the daemon runs its pure-JS paths (src/os/native.ts).
//
//   node scripts/build-native.mjs [--force] [--require]
//     --force    rebuild even when the addon is newer than its sources
//     --require  exit 1 instead of falling back (for installs that rely on it, e.g. Type=notify under systemd)

import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const dir = path.join(root, 'native-bindings')
const addon = path.join(dir, 'build', 'Release', 'blackroad_native.node')
const logFile = path.join(dir, 'build.log')
const force = process.argv.includes('--force')
const required = process.argv.includes('--require')

function done(ok, line) {
  const msg = `blackroad native addon: ${line}`
  if (ok) console.log(msg)
  else console.error(`${msg}; continuing without it (pure-JS fallbacks: no sd_notify, dgram DNS path, no busy polling)`)
  process.exit(ok || !required ? 0 : 1)
}

const off = (process.env.BLACKROAD_NATIVE ?? '').toLowerCase()
if (off === '0' || off === 'off' || off === 'false') done(false, 'not built: BLACKROAD_NATIVE=off')
if (process.platform !== 'linux') done(false, `not built: ${process.platform} is not supported (Linux only)`)

function newestSource() {
  const files = [path.join(dir, 'binding.gyp'), ...readdirSync(path.join(dir, 'src')).map((f) => path.join(dir, 'src', f))]
  return Math.max(...files.map((f) => statSync(f).mtimeMs))
}

function loads() {
  try {
    createRequire(import.meta.url)(addon)
    return null
  } catch (err) {
    return err instanceof Error ? err.message.split('\n')[0] : String(err)
  }
}

if (!force && existsSync(addon) && statSync(addon).mtimeMs >= newestSource() && loads() === null) {
  done(true, `up to date (${path.relative(root, addon)})`)
}

// npm sets npm_config_node_gyp for lifecycle scripts; otherwise use the node-gyp bundled with the npm running
// us, or with the system's npm.
const candidates = [
  process.env.npm_config_node_gyp,
  process.env.npm_execpath && path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter((p) => typeof p === 'string' && p !== '' && existsSync(p))
const nodeGyp = candidates[0]
if (nodeGyp === undefined) done(false, 'not built: node-gyp not found (it comes with npm)')

// Local headers (Debian's nodejs ships them in /usr/include/node): node-gyp would otherwise download them.
const prefix = path.resolve(path.dirname(process.execPath), '..')
const args = [nodeGyp, 'rebuild', `--directory=${dir}`]
if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`)
else if (!process.env.npm_config_nodedir) done(false, `not built: no Node headers in ${prefix}/include/node`)

for (const tool of ['make', 'cc', 'python3']) {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' })
  if (r.status !== 0) done(false, `not built: '${tool}' is missing (scripts/ensure-deps.sh installs it)`)
}

const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', timeout: 180_000, stdio: ['ignore', 'pipe', 'pipe'] })
writeFileSync(logFile, `${process.execPath} ${args.join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}`)
if (r.status !== 0) {
  const why = r.error ? r.error.message : (`${r.stderr}`.split('\n').find((l) => /error/i.test(l)) ?? `exit ${r.status}`)
  done(false, `build failed (${why.trim()}; full log in ${path.relative(root, logFile)})`)
}
const problem = loads()
if (problem !== null) done(false, `built but does not load (${problem})`)
done(true, `built ${path.relative(root, addon)}`)
