// The daemon's logger: pino JSON lines for journald and log shippers, human-readable lines when a person runs
// the daemon in a terminal (format 'auto' decides by whether stdout is a TTY).

import pino, { type Logger } from 'pino'
import pretty from 'pino-pretty'

export type LogFormat = 'json' | 'pretty' | 'auto'

export function createLogger(level: string, format: LogFormat, destination: NodeJS.WritableStream = process.stdout): Logger {
  const usePretty = format === 'pretty' || (format === 'auto' && (destination as { isTTY?: boolean }).isTTY === true)
  const base = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }
  if (usePretty) {
    return pino(base, pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', destination }))
  }
  return pino(base, pino.destination({ dest: (destination as { fd?: number }).fd ?? 1, sync: true }))
}
