// Typed errors of the configuration layer. A ConfigError carries every problem found in a file, each pointing at
// file:line:column and a field path, so an operator fixes the whole file in one pass instead of one error per start.

/** Stable codes; the CLI and the daemon's exit path switch on these, never on message text. */
export type ConfigErrorCode = 'CONFIG_INVALID' | 'CONFIG_YAML' | 'CONFIG_NOT_FOUND' | 'CONFIG_UNREADABLE'

/** One thing wrong with a config file. line and column are 1-based; path is dotted ("wireguard.listen_port"). */
export interface ConfigProblem {
  file: string
  line: number
  column: number
  /** Dotted field path, array indexes as numbers ("mesh.policies.0.name"); "" for the document itself. */
  path: string
  message: string
}

/** "file:line:column: path: message"; line 0 means the file as a whole, printed without a position. */
export function formatProblem(p: ConfigProblem): string {
  const where = p.line === 0 ? p.file : `${p.file}:${p.line}:${p.column}`
  return p.path === '' ? `${where}: ${p.message}` : `${where}: ${p.path}: ${p.message}`
}

export class ConfigError extends Error {
  readonly code: ConfigErrorCode
  readonly problems: ConfigProblem[]

  constructor(code: ConfigErrorCode, problems: ConfigProblem[], options?: { cause?: unknown }) {
    super(ConfigError.summarise(problems), options)
    this.name = 'ConfigError'
    this.code = code
    this.problems = problems
  }

  private static summarise(problems: ConfigProblem[]): string {
    if (problems.length === 1) return formatProblem(problems[0] as ConfigProblem)
    const lines = problems.map((p) => `  ${formatProblem(p)}`)
    return `${problems.length} problems in ${problems[0]?.file ?? 'config'}:\n${lines.join('\n')}`
  }
}

/** Thrown by parseDuration; the schema turns it into a ConfigProblem at the field that held the text. */
export class DurationError extends Error {
  readonly code = 'DURATION_INVALID'
  constructor(message: string) {
    super(message)
    this.name = 'DurationError'
  }
}
