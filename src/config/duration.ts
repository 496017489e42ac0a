// Durations as operators write them ("200ms", "30s", "1h30m", "7d") and as the code uses them (integer
// milliseconds). Units must be given: a bare 30 could be seconds or milliseconds, and guessing wrong turns a
// 30-second heartbeat into a 30-millisecond storm.

import { DurationError } from './errors.js'

const UNIT_MS = { d: 86_400_000n, h: 3_600_000n, m: 60_000n, s: 1_000n, ms: 1n } as const
type Unit = keyof typeof UNIT_MS
/** Largest to smallest; a duration lists each unit at most once, in this order, as Go and systemd print them. */
const ORDER: readonly Unit[] = ['d', 'h', 'm', 's', 'ms']
const PART = /^(\d+)(?:\.(\d+))?(ms|d|h|m|s)/
const MAX_TEXT = 64

/** Parses "200ms", "30s", "5m", "24h", "7d", "1h30m", "1.5h" to integer milliseconds; throws DurationError. */
export function parseDuration(s: string): number {
  if (typeof s !== 'string') throw new DurationError(`expected a duration string like "30s", got ${typeof s}`)
  const text = s.trim()
  if (text === '') throw new DurationError('expected a duration like "30s", got an empty string')
  if (text.length > MAX_TEXT) throw new DurationError(`duration text is longer than ${MAX_TEXT} characters`)
  if (/^\d+(\.\d+)?$/.test(text)) {
    throw new DurationError(`"${text}" has no unit; write "${text}s" or "${text}ms" (units: ms, s, m, h, d)`)
  }
  if (text.startsWith('-')) throw new DurationError(`"${text}" is negative; durations are 0 or more`)
  let rest = text
  let total = 0n
  let lastUnit = -1
  while (rest !== '') {
    const m = PART.exec(rest)
    if (m === null) {
      throw new DurationError(
        `"${text}" is not a duration; expected forms like 200ms, 30s, 5m, 24h, 7d or 1h30m`,
      )
    }
    const unit = m[3] as Unit
    const rank = ORDER.indexOf(unit)
    if (rank <= lastUnit) {
      throw new DurationError(
        `"${text}" repeats or misorders units; write them largest first, each once (e.g. 1h30m)`,
      )
    }
    lastUnit = rank
    const whole = BigInt(m[1] as string)
    const frac = m[2] ?? ''
    let part = whole * UNIT_MS[unit]
    if (frac !== '') {
      const scale = 10n ** BigInt(frac.length)
      const scaled = BigInt(frac) * UNIT_MS[unit]
      if (scaled % scale !== 0n) throw new DurationError(`"${text}" is finer than one millisecond`)
      part += scaled / scale
    }
    total += part
    rest = rest.slice(m[0].length)
  }
  if (total > BigInt(Number.MAX_SAFE_INTEGER)) throw new DurationError(`"${text}" is too long a duration`)
  return Number(total)
}

/** The shortest text parseDuration reads back to the same value: 5_400_000 -> "1h30m", 0 -> "0s". */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new DurationError(
      `cannot format ${ms} as a duration: expected a non-negative integer of milliseconds`,
    )
  }
  if (ms === 0) return '0s'
  let rest = BigInt(ms)
  let out = ''
  for (const unit of ORDER) {
    const size = UNIT_MS[unit]
    const n = rest / size
    if (n > 0n) {
      out += `${n}${unit}`
      rest -= n * size
    }
  }
  return out
}
