// How the CLI prints: human-readable text by default, one JSON document with --json, errors on stderr with
// their stable code, and the exit statuses scripts can rely on (0 ok, 1 error, 2 capability not built yet).

import { ClientError } from '../client/index.js'

export const EXIT_OK = 0
export const EXIT_ERROR = 1
export const EXIT_NOT_AVAILABLE = 2

export interface OutputOptions {
  json?: boolean
}

export function printResult(opts: OutputOptions, data: unknown, human: () => string): void {
  if (opts.json) process.stdout.write(`${JSON.stringify(data, null, 2)}\n`)
  else process.stdout.write(`${human()}\n`)
}

export function printError(opts: OutputOptions, code: string, message: string): void {
  if (opts.json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`)
  process.stderr.write(`blackroad: ${code}: ${message}\n`)
}

export function errorExit(opts: OutputOptions, err: unknown): number {
  if (err instanceof ClientError) {
    printError(opts, err.code, err.message)
    return EXIT_ERROR
  }
  const e = err as { code?: unknown; message?: string }
  printError(opts, typeof e.code === 'string' ? e.code : 'ERROR', e.message ?? String(err))
  return EXIT_ERROR
}

/** Aligned "Key: value" lines, as the guide prints status. */
export function table(rows: Array<[string, string]>): string {
  const width = Math.max(...rows.map(([k]) => k.length)) + 1
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width + 1)}${v}`).join('\n')
}

export function formatDurationShort(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`
  const m = Math.floor(seconds / 60)
  if (m < 60) return `${m}m${Math.floor(seconds % 60)}s`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h}h${m % 60}m`
  return `${Math.floor(h / 24)}d${h % 24}h`
}

/** Fixed-width columns; the last column is not padded. */
export function columns(header: string[], rows: string[][]): string {
  const all = [header, ...rows]
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)))
  return all
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '))
    .join('\n')
}
