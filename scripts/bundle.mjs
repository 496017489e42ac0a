// Bundles the compiled CLI and daemon (dist/src, from tsc) into dist/bin/: one CommonJS file (blackroad.cjs)
// instead of ~700 modules, which takes the daemon's start-up from resolving, reading and
// compiling hundreds of files to one; most of the join time on a Pi or a busy machine is start-up. Modules load
// lazily inside it: the daemon's code is initialised only by `blackroad daemon`, the operator commands' only by
// them. Only the native addons themselves (.node files) load from node_modules (see addonBindings).
//
// dist/bin/blackroad-cli.cjs, the command itself, is scripts/bin-loader.cjs behind
// `#!/usr/bin/env -S [VAR=value ...] node <flags>`: the V8 flags the daemon is measured and shipped with
// (package.json "blackroad.nodeFlags": --single-threaded-gc keeps V8's collections on the main thread instead
// of waking helper threads for every scavenge, which on a 2-core machine shared with the bus's clients and the
// other router contended for the cores: bus suite throughput 136-235k -> 205-317k msgs/s, 10 runs each, same
// hour). Keep this list short: most V8 flags change V8's flag hash, and V8 then refuses Node's own code cache
// for its built-in modules (see src/daemon/heap-trim.ts). It compiles the bundle with the V8 code cache made
// here, by running the loader once with those same flags (V8 accepts a cache only under the flags it was made
// with).

import { spawnSync } from 'node:child_process'
import { chmod, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'))
const flags = pkg.blackroad?.nodeFlags ?? []
const outdir = path.join(root, 'dist', 'bin')

// The packages with native addons (sodium-native, udx-native) are bundled like the rest, so their JavaScript
// comes compiled from the code cache; only the addons themselves load from node_modules. Each package's
// binding.js finds its addon with require-addon relative to its own file, which in the bundle would be the
// bundle's, so the bundle gets its own binding module per package: the prebuilt addon for this platform from
// the package's directory, or, when that is missing or does not load (an addon built from source, a musl
// system), whatever require-addon finds there, as the package itself would. Loaded from node_modules instead,
// the two packages took 30 ms of a daemon's start-up here, 25 of them in resolving and compiling JavaScript.
const addonPackages = ['sodium-native', 'udx-native']

// Loaded at run time from node_modules: pino-pretty, which is only used on a terminal, and the addon packages'
// package.json, which the binding modules resolve to find the package's directory.
const external = ['pino-pretty', ...addonPackages.map((p) => `${p}/package.json`)]

/** Whether a module esbuild resolves from belongs to the npm package `name`. */
const inPackage = (importer, name) => importer.includes(`${path.sep}node_modules${path.sep}${name}${path.sep}`)

const addonBindings = {
  name: 'addon-bindings',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\/binding(\.js)?$/ }, (args) => {
      const pkgName = addonPackages.find((p) => inPackage(args.importer, p))
      return pkgName === undefined ? undefined : { path: pkgName, namespace: 'addon-binding' }
    })
    b.onLoad({ filter: /.*/, namespace: 'addon-binding' }, (args) => ({
      resolveDir: root,
      loader: 'js',
      contents: `const { dirname, join } = require('node:path')
const dir = dirname(require.resolve(${JSON.stringify(`${args.path}/package.json`)}))
const prebuilt = join(dir, 'prebuilds', process.platform + '-' + process.arch, ${JSON.stringify(`${args.path}.node`)})
let binding
try {
  binding = require(prebuilt)
} catch {
  binding = require('require-addon')('.', join(dir, 'binding.js'))
}
module.exports = binding
`,
    }))
  },
}

// prom-client's index loads its Pushgateway client (node:https, so TLS; node:zlib) and its cluster aggregator
// (node:cluster) whenever it is required, and the daemon and the CLI use neither. In the bundle both are stubs
// that throw if constructed, so a daemon does not load those built-in modules for nothing.
const promClientUnused = {
  name: 'prom-client-unused',
  setup(b) {
    b.onResolve({ filter: /^\.\/lib\/(pushgateway|cluster)$/ }, (args) =>
      inPackage(args.importer, 'prom-client')
        ? { path: args.path.slice('./lib/'.length), namespace: 'prom-client-unused' }
        : undefined,
    )
    b.onLoad({ filter: /.*/, namespace: 'prom-client-unused' }, (args) => ({
      loader: 'js',
      contents: `module.exports = class {
  constructor() {
    throw new Error('prom-client ${args.path} is left out of the blackroad bundle')
  }
}
`,
    }))
  },
}

await rm(outdir, { recursive: true, force: true })
const result = await build({
  absWorkingDir: root,
  entryPoints: ['dist/src/cli/entry.js'],
  outfile: path.join(outdir, 'blackroad.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // Whitespace and syntax minified, names kept as written: stack traces, logged error types and CPU profiles
  // read as the source does, without esbuild's keepNames, which wraps every function and class in a call that
  // defines its `name` property, at run time, for each closure made (on the bus's hot paths, per message).
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  // Non-ASCII characters escaped (esbuild's default, relied on): the loader reads the bundle as Latin-1, which
  // skips UTF-8 decoding of 2.5 MB at every start.
  charset: 'ascii',
  external,
  plugins: [addonBindings, promClientUnused],
  // Our modules locate the package and the native addon from import.meta.url: the bundle's own URL.
  define: { 'import.meta.url': '__brImportMetaUrl' },
  banner: { js: "const __brImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  // For reading CPU profiles of the daemon by source file: BLACKROAD_BUNDLE_SOURCEMAP=1 npm run build writes
  // blackroad.cjs.map beside the bundle (node:module's SourceMap reads it).
  sourcemap: process.env.BLACKROAD_BUNDLE_SOURCEMAP === '1' ? 'external' : false,
  logLevel: 'warning',
})
if (result.errors.length > 0) process.exit(1)

const entry = path.join(outdir, 'blackroad-cli.cjs')
const loader = await readFile(path.join(root, 'scripts', 'bin-loader.cjs'), 'utf8')
// Environment the command runs under (package.json "blackroad.nodeEnv"), set by env(1) before node starts:
// glibc reads MALLOC_ARENA_MAX only at process start. One malloc arena instead of one per thread that
// allocates (V8's workers, libuv's pool) keeps about 5 MiB less resident in an idle daemon (bench suite memory).
const nodeEnv = Object.entries(pkg.blackroad?.nodeEnv ?? {}).map(([k, v]) => `${k}=${v} `)
const shebang = `#!/usr/bin/env -S ${nodeEnv.join('')}node${flags.length > 0 ? ` ${flags.join(' ')}` : ''}\n`
await writeFile(entry, shebang + loader)
await chmod(entry, 0o755)

const made = spawnSync(process.execPath, [...flags, entry], {
  env: { ...process.env, ...pkg.blackroad?.nodeEnv, BLACKROAD_BUILD_CODE_CACHE: '1' },
  stdio: 'inherit',
  timeout: 60_000,
})
if (made.status !== 0) {
  process.stderr.write(`bundle: making the code cache failed (${made.error ?? `exit ${made.status}`})\n`)
  process.exit(1)
}
