// Public surface of the configuration layer: load and validate /etc/blackroad/config.yaml into a typed,
// fully defaulted Config; errors name file, line, column and field. Other modules import only from here.

export { formatDuration, parseDuration } from './duration.js'
export {
  ConfigError,
  type ConfigErrorCode,
  type ConfigProblem,
  DurationError,
  formatProblem,
} from './errors.js'
export { splitHostPort } from './fields.js'
export { describeSchema, type FieldDescription } from './introspect.js'
export { defaultConfig, loadConfig, parseConfig } from './load.js'
export { type Config, configSchema, DEFAULT_CONFIG_PATH } from './schema.js'
