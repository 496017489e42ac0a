// Locates the repository from wherever this file runs. Tests run both from source (tsx, netns-tests/lib) and
// compiled (dist/netns-tests/lib), and tsc copies no non-TS files into dist/, so every repo file (the nfqdelay
// binary, the compiled CLI, the logs directory) is found from the directory that holds package.json.

import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { HarnessError } from './errors.js'

let cachedRoot: string | undefined

/** The directory holding package.json, found by walking up from this module (bounded: 30 levels). */
export function repoRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 30; i++) {
    if (existsSync(path.join(dir, 'package.json'))) {
      cachedRoot = dir
      return dir
    }
    const parent = path.dirname(dir)
    if (parent === dir) break
    dir = parent
  }
  throw new HarnessError('DEPS_MISSING', `no package.json above ${fileURLToPath(import.meta.url)}`)
}

export const repoPaths = {
  /** Per-run logs, gitignored; removed after a passing test, kept (and tailed) after a failing one. */
  logsRoot: () => path.join(repoRoot(), 'netns-tests', 'logs'),
  /** Built by scripts/ensure-deps.sh from netns-tests/tools/nfqdelay.c. */
  nfqdelay: () =>
    process.env.BRT_NFQDELAY ?? path.join(repoRoot(), 'netns-tests', 'tools', 'bin', 'nfqdelay'),
  /**
   * The `blackroad` command as installed: the bundle npm run build writes (env BRT_CLI overrides, e.g. with
   * a tsc-only build's dist/src/cli/main.js); netns tests run the real daemon from it.
   */
  cliMain: () => process.env.BRT_CLI ?? path.join(repoRoot(), 'dist', 'bin', 'blackroad-cli.cjs'),
}

/** A script's `#!/usr/bin/env -S [VAR=value ...] node <flags>` line: the environment and node flags it asks for. */
function shebangOf(script: string): { env: Record<string, string>; flags: string[] } {
  const head = readFileSync(script, 'utf8').slice(0, 300).split('\n', 1)[0] ?? ''
  const m = /^#!\S*env -S ((?:[A-Z_][A-Z0-9_]*=\S* )*)node((?: --?[\w-]+(?:=\S+)?)*)\s*$/.exec(head)
  if (m === null) return { env: {}, flags: [] }
  const env: Record<string, string> = {}
  for (const a of m[1]!.trim().split(/\s+/).filter(Boolean)) {
    const eq = a.indexOf('=')
    env[a.slice(0, eq)] = a.slice(eq + 1)
  }
  return { env, flags: m[2] ? m[2].trim().split(/\s+/) : [] }
}

/**
 * The node flags a script's shebang line asks for, so a daemon spawned as `node <flags> <cli>` runs exactly
 * as the installed command does (with serviceEnv). None for a script without such a line.
 */
export function shebangFlags(script: string): string[] {
  return shebangOf(script).flags
}

/** The environment variables a script's shebang line sets before node starts (e.g. MALLOC_ARENA_MAX). */
export function shebangEnv(script: string): Record<string, string> {
  return shebangOf(script).env
}

/** What serviceEnv keeps of the test process's environment. */
const SERVICE_ENV_KEPT = ['PATH', 'LANG', 'LC_ALL', 'TZ']

/**
 * The environment the `blackroad` command gets as the installed service runs it (use with envOnly): systemd
 * gives a unit its own few variables, not the environment of whoever started it. So the netns tests, the demo
 * and the benches run the daemon and the CLI with PATH, LANG, LC_ALL and TZ from the test's environment, its
 * BLACKROAD_* switches (e.g. BLACKROAD_NATIVE=off), the script's shebang variables and `extra`, and nothing
 * else. What this leaves out changes what is measured: NODE_EXTRA_CA_CERTS, set on this machine for the npm
 * proxy, makes every Node process parse the whole CA bundle before any JavaScript runs, ~90 ms of CPU per start
 * here (`node -e 0`: 0.12 s of CPU with it, 0.03 s without), which an installed daemon never pays.
 */
export function serviceEnv(script: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && (SERVICE_ENV_KEPT.includes(k) || k.startsWith('BLACKROAD_'))) env[k] = v
  }
  return { ...env, ...shebangEnv(script), ...extra }
}
