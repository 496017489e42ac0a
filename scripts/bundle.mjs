// Bundles the compiled CLI and daemon (dist/src, from tsc) into dist/bin/: one entry file plus chunks that load
// only when needed (the daemon's code is a chunk the operator commands never read). One minified file instead of
// ~700 modules takes the daemon's start-up from resolving, reading and compiling hundreds of files to one, which
// is most of the join time on a Pi or a busy machine. Packages with native addons stay in node_modules.
//
// The entry starts with `#!/usr/bin/env -S node <flags>`: the V8 flags the daemon is measured and shipped with
// (package.json "blackroad.nodeFlags"; a 1 MiB young generation halves its idle heap, see bench suite memory).

import { chmod, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'))
const flags = pkg.blackroad?.nodeFlags ?? []
const outdir = path.join(root, 'dist', 'bin')

// Loaded at run time from node_modules: native addons (prebuilt .node files found relative to the package)
// and pino-pretty, which is only used on a terminal.
const external = ['sodium-native', 'udx-native', 'pino-pretty']

await rm(outdir, { recursive: true, force: true })
const result = await build({
  absWorkingDir: root,
  entryPoints: { blackroad: 'dist/src/cli/main.js' },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  keepNames: true,
  legalComments: 'none',
  external,
  banner: {
    // CommonJS dependencies inside an ES module bundle still call require().
    js: "import { createRequire as __brCreateRequire } from 'node:module'; const require = __brCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
})
if (result.errors.length > 0) process.exit(1)

const entry = path.join(outdir, 'blackroad.mjs')
const body = await readFile(entry, 'utf8')
const shebang = `#!/usr/bin/env -S node${flags.length > 0 ? ` ${flags.join(' ')}` : ''}\n`
await writeFile(entry, shebang + body.replace(/^#!.*\n/, ''))
await chmod(entry, 0o755)
