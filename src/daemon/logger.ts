// The daemon's logger: pino JSON lines for journald and log shippers, human-readable lines when a person runs
// the daemon in a terminal (format 'auto' decides by whether stdout is a TTY). pino-pretty (a dozen modules) is
// loaded only for the terminal: under systemd it would only add to the daemon's start-up.

import { createRequire } from 'node:module'
import pino, { type Logger } from 'pino'
import type PinoPretty from 'pino-pretty'

export type LogFormat = 'json' | 'pretty' | 'auto'

export function createLogger(
  level: string,
  format: LogFormat,
  destination: NodeJS.WritableStream = process.stdout,
): Logger {
  const usePretty =
    format === 'pretty' || (format === 'auto' && (destination as { isTTY?: boolean }).isTTY === true)
  const base = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }
  if (usePretty) {
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty
    return pino(
      base,
      pretty({
        colorize: true,
        sync: true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname',
        destination,
      }),
    )
  }
  return pino(base, pino.destination({ dest: (destination as { fd?: number }).fd ?? 1, sync: true }))
}
