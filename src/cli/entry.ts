// What the `blackroad` command runs, without running it: main.ts calls runMain(), and so does the installed
// bundle's loader (scripts/bin-loader.cjs), which also calls warm() once at build time to make its code cache.
// A plain `blackroad daemon` (daemon-args.ts) starts the daemon without loading the command-line parser;
// everything else goes to the full command line in commands.ts. Both load only when needed.

import type { ConfigCache } from '../config/cached.js'
import { DEFAULT_CONFIG_PATH } from '../config/paths.js'
import { plainDaemonArgs } from './daemon-args.js'

/** What the bundle's loader (scripts/bin-loader.cjs) hands the command. */
export interface LoaderHooks {
  /**
   * Writes the V8 code cache of everything compiled so far, for later `blackroad daemon` starts (present only
   * for a daemon that started without one). Throws when it cannot write.
   */
  saveCodeCache?: () => void
  /** Where `blackroad daemon` keeps its validated config between starts (config/cached.ts). */
  configCache?: ConfigCache
}

async function main(hooks: LoaderHooks): Promise<void> {
  const daemon = plainDaemonArgs(process.argv.slice(2))
  if (daemon === null) {
    const cli = await import('./commands.js')
    await cli.main()
    return
  }
  const { runDaemon } = await import('../daemon/main.js')
  process.exitCode = await runDaemon({
    configPath: daemon.config ?? DEFAULT_CONFIG_PATH,
    skipPrivilegeCheck: daemon.skipPrivilegeCheck,
    saveCodeCache: hooks.saveCodeCache,
    configCache: hooks.configCache,
  })
}

/** Runs the command line of this process; a failure that escapes the command is reported and exits 1. */
export function runMain(hooks: LoaderHooks = {}): void {
  main(hooks).catch((err: Error) => {
    process.stderr.write(`blackroad: ${err.message}\n`)
    process.exit(1)
  })
}

/** Loads (and initialises) every module the command line and the daemon use, running neither. */
export async function warm(): Promise<void> {
  await Promise.all([import('./commands.js'), import('../daemon/main.js')])
}
