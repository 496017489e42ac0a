// Reading a config file: bytes -> UTF-8 text -> YAML document (with source positions) -> schema -> Config.
// Every failure becomes a ConfigError with a stable code; nothing else escapes, whatever the file holds.

import { isScalar, LineCounter, parseDocument, Scalar } from 'yaml'
import { ConfigError, type ConfigProblem } from './errors.js'
import { complexKeyProblems, issueProblems, yamlProblems } from './problems.js'
import { readConfigText } from './read.js'
import { type Config, configSchema, DEFAULT_CONFIG_PATH } from './schema.js'

/** Aliases can expand exponentially ("billion laughs"); a config has no need for many. */
const MAX_ALIAS_COUNT = 100

/** Reads and validates the config at `file` (default /etc/blackroad/config.yaml). */
export async function loadConfig(file: string = DEFAULT_CONFIG_PATH): Promise<Config> {
  return parseConfig(await readConfigText(file), file)
}

/** Validates config text; `file` only labels the problems. An empty or comment-only text gives all defaults. */
export function parseConfig(text: string, file: string): Config {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true, version: '1.2' })
  if (doc.errors.length > 0) throw new ConfigError('CONFIG_YAML', yamlProblems(doc.errors, file))
  const complex = complexKeyProblems(doc, lineCounter, file)
  if (complex.length > 0) throw new ConfigError('CONFIG_INVALID', complex)
  readModeAsOctal(doc, text)

  let raw: unknown
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT })
  } catch (err) {
    const pos = lineCounter.linePos(doc.contents?.range?.[0] ?? 0)
    const message = `invalid YAML: ${(err as Error).message ?? String(err)}`
    throw new ConfigError('CONFIG_YAML', [{ file, line: pos.line, column: pos.col, path: '', message }], {
      cause: err,
    })
  }
  if (raw === null || raw === undefined) raw = {}
  if (typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Map || raw instanceof Set) {
    const pos = lineCounter.linePos(doc.contents?.range?.[0] ?? 0)
    const problem: ConfigProblem = {
      file,
      line: pos.line,
      column: pos.col,
      path: '',
      message: 'expected a mapping of sections (node:, cluster:, network:, ...) at the top of the file',
    }
    throw new ConfigError('CONFIG_INVALID', [problem])
  }

  const result = configSchema.safeParse(raw)
  if (!result.success) {
    throw new ConfigError(
      'CONFIG_INVALID',
      issueProblems(result.error.issues, { doc, lineCounter, file, raw }),
    )
  }
  return result.data
}

/**
 * YAML 1.2 reads `mode: 0660` as the decimal 660. A file mode written in digits is meant as octal (as chmod reads
 * it), so the plain scalar's source text is handed to the schema instead of YAML's number.
 */
function readModeAsOctal(doc: ReturnType<typeof parseDocument>, text: string): void {
  if (!doc.hasIn(['api', 'mode'])) return
  const node = doc.getIn(['api', 'mode'], true)
  if (!isScalar(node) || typeof node.value !== 'number' || node.type !== Scalar.PLAIN || !node.range) return
  node.value = text.slice(node.range[0], node.range[1]).trim()
}

/** The configuration an empty file gives. */
export function defaultConfig(): Config {
  return configSchema.parse({})
}
