#!/usr/bin/env node
// The `blackroad` command's entry. A plain `blackroad daemon` (daemon-args.ts) starts the daemon without loading
// the command-line parser; everything else goes to the full command line in commands.ts. Both are chunks of the
// bundle that load only when needed.

import { DEFAULT_CONFIG_PATH } from '../config/index.js'
import { plainDaemonArgs } from './daemon-args.js'

async function main(): Promise<void> {
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
  })
}

main().catch((err: Error) => {
  process.stderr.write(`blackroad: ${err.message}\n`)
  process.exit(1)
})
