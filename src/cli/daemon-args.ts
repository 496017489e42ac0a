// The one command line main.ts answers without the full parser: `blackroad daemon` with only the options the
// daemon itself takes, as systemd/blackroad.service runs it. The daemon's start-up delays a node joining the
// mesh, and loading yargs with every operator command's definitions costs it CPU for nothing. Anything else
// (--help, --version, other options, a malformed line) returns null and goes to the full parser in commands.ts,
// which also documents and checks these options.

export interface DaemonArgs {
  /** --config, when given. */
  config?: string
  skipPrivilegeCheck: boolean
}

/** `daemon [--config FILE | --config=FILE] [--skip-privilege-check]` (argv without node and script), else null. */
export function plainDaemonArgs(argv: readonly string[]): DaemonArgs | null {
  if (argv[0] !== 'daemon') return null
  const out: DaemonArgs = { skipPrivilegeCheck: false }
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i] as string
    if (a === '--skip-privilege-check' && !out.skipPrivilegeCheck) out.skipPrivilegeCheck = true
    else if (a.startsWith('--config=') && out.config === undefined && a.length > '--config='.length)
      out.config = a.slice('--config='.length)
    else if (
      a === '--config' &&
      out.config === undefined &&
      i + 1 < argv.length &&
      !argv[i + 1]!.startsWith('-')
    )
      out.config = argv[++i] as string
    else return null
  }
  return out
}
