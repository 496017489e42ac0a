// Reusable field types of the config schema (durations, host:port, ports, paths, names, file modes, labels).
// Each registers a human type name so describeSchema() can print "duration" rather than "unknown -> number".

import { isIP } from 'node:net'
import { parseDuration } from './duration.js'
import { DurationError } from './errors.js'
import { splitHostPort } from './hostport.js'
import { z } from './zod.js'

export { splitHostPort }

interface FieldDoc {
  type?: string
  default?: string
}
// Keyed by the zod definition object: .describe() clones a schema but keeps its definition, so the note survives
// it; .refine() makes a new definition, so apply typed() after refinements.
const docs = new WeakMap<object, FieldDoc>()
const defKey = (schema: z.ZodType): object => schema._zod.def

/** Names the type of a custom field for describeSchema(). Apply after refinements, before .prefault()/.optional(). */
export function typed<T extends z.ZodType>(schema: T, type: string): T {
  docs.set(defKey(schema), { ...docs.get(defKey(schema)), type })
  return schema
}

/** Documents a default computed at load time (the hostname, a path under state_dir). Apply last. */
export function defaultText<T extends z.ZodType>(schema: T, text: string): T {
  docs.set(defKey(schema), { ...docs.get(defKey(schema)), default: text })
  return schema
}

export function fieldDoc(schema: z.ZodType): FieldDoc | undefined {
  return docs.get(defKey(schema))
}

export interface DurationOptions {
  /** Smallest accepted value in ms. */
  min?: number
  /** Largest accepted value in ms; timers driven by setTimeout cannot exceed 2^31-1 ms. */
  max?: number
  /** For values handed to tools that count whole seconds (wg persistent-keepalive). */
  wholeSeconds?: boolean
}

export const MAX_TIMER_MS = 2_147_483_647

/** A duration written with units ("30s", "1h30m") parsed to integer milliseconds. */
export function duration(opts: DurationOptions = {}) {
  const schema = z.unknown().transform((value, ctx): number => {
    if (typeof value === 'number') {
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration with a unit, got the bare number ${value}; write "${value}s" or "${value}ms" (units: ms, s, m, h, d)`,
      })
      return z.NEVER
    }
    if (typeof value !== 'string') {
      ctx.addIssue({ code: 'custom', message: `expected a duration like "30s", got ${describeValue(value)}` })
      return z.NEVER
    }
    let ms: number
    try {
      ms = parseDuration(value)
    } catch (err) {
      if (!(err instanceof DurationError)) throw err
      ctx.addIssue({ code: 'custom', message: err.message })
      return z.NEVER
    }
    const problem = durationRangeProblem(ms, value, opts)
    if (problem !== null) {
      ctx.addIssue({ code: 'custom', message: problem })
      return z.NEVER
    }
    return ms
  })
  return typed(schema, durationTypeName(opts))
}

function durationRangeProblem(ms: number, text: string, opts: DurationOptions): string | null {
  if (opts.min !== undefined && ms < opts.min)
    return `"${text}" is too short; the minimum is ${fmtMs(opts.min)}`
  if (opts.max !== undefined && ms > opts.max)
    return `"${text}" is too long; the maximum is ${fmtMs(opts.max)}`
  if (opts.wholeSeconds === true && ms % 1000 !== 0) return `"${text}" must be a whole number of seconds`
  return null
}

function durationTypeName(opts: DurationOptions): string {
  const parts: string[] = []
  if (opts.min !== undefined) parts.push(`>= ${fmtMs(opts.min)}`)
  if (opts.max !== undefined) parts.push(`<= ${fmtMs(opts.max)}`)
  if (opts.wholeSeconds === true) parts.push('whole seconds')
  return parts.length === 0 ? 'duration' : `duration (${parts.join(', ')})`
}

function fmtMs(ms: number): string {
  if (ms === MAX_TIMER_MS) return '24d'
  if (ms % 86_400_000 === 0 && ms > 0) return `${ms / 86_400_000}d`
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`
  return `${ms}ms`
}

export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing'
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a mapping'
  if (typeof v === 'string') return `the string "${v.length > 40 ? `${v.slice(0, 40)}...` : v}"`
  return `${typeof v} ${String(v)}`
}

export const port = () => typed(z.number().int().min(1).max(65535), 'port (1-65535)')

const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/

export function isHostname(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false
  return host
    .replace(/\.$/, '')
    .split('.')
    .every((l) => LABEL.test(l))
}

export interface HostPortOptions {
  /** Listen addresses must be IP literals: binding to a name depends on resolution at boot. */
  ipOnly?: boolean
}

/** A "host:port" string; IPv6 hosts in brackets. Kept as text, validated here so users of it can trust it. */
export function hostPort(opts: HostPortOptions = {}) {
  const schema = z.string().superRefine((s, ctx) => {
    const hp = splitHostPort(s)
    const want =
      opts.ipOnly === true
        ? '"address:port" (e.g. 127.0.0.1:53 or [::1]:53)'
        : '"host:port" (e.g. 10.0.0.1:49737, pi.local:49737 or [fd00::1]:49737)'
    if (hp === null) {
      ctx.addIssue({ code: 'custom', message: `expected ${want}, got "${s}"` })
      return
    }
    if (hp.port < 1 || hp.port > 65535) {
      ctx.addIssue({ code: 'custom', message: `port ${hp.port} in "${s}" is out of range 1-65535` })
      return
    }
    const ip = isIP(hp.host) !== 0
    if (opts.ipOnly === true && !ip)
      ctx.addIssue({
        code: 'custom',
        message: `expected an IP address, not the name "${hp.host}", in "${s}"`,
      })
    else if (!ip && !isHostname(hp.host))
      ctx.addIssue({ code: 'custom', message: `"${hp.host}" is not a valid host name or IP address` })
  })
  return typed(schema, opts.ipOnly === true ? 'address:port' : 'host:port')
}

/** A control-plane endpoint: an http(s) URL as the guide writes them, or host:port. */
export function endpoint() {
  const schema = z.string().superRefine((s, ctx) => {
    if (s.includes('://')) {
      let url: URL
      try {
        url = new URL(s)
      } catch {
        ctx.addIssue({ code: 'custom', message: `"${s}" is not a valid URL` })
        return
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') {
        ctx.addIssue({
          code: 'custom',
          message: `unsupported scheme "${url.protocol}" in "${s}"; use https:// or host:port`,
        })
      }
      return
    }
    const hp = splitHostPort(s)
    if (hp === null || hp.port < 1 || hp.port > 65535 || (isIP(hp.host) === 0 && !isHostname(hp.host))) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a URL like https://control.blackroad.io or host:port, got "${s}"`,
      })
    }
  })
  return typed(schema, 'url or host:port')
}

export const absPath = () =>
  typed(
    z
      .string()
      .refine((s) => s.startsWith('/'), { message: 'expected an absolute path (starting with /)' })
      .refine((s) => !s.includes('\0'), { message: 'path contains a NUL byte' }),
    'absolute path',
  )

/** Node and cluster names become DNS labels (<node>.<cluster>.mesh.blackroad.local), so they follow RFC 1123. */
export const dnsLabel = () =>
  typed(
    z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
      message: 'expected a DNS label: 1-63 of a-z, 0-9 and "-", not starting or ending with "-"',
    }),
    'name (DNS label)',
  )

export const domainName = () =>
  typed(
    z.string().refine((s) => s.length > 0 && isHostname(s) && !/^\d+(\.\d+)*$/.test(s), {
      message: 'expected a domain name like mesh.blackroad.local',
    }),
    'domain name',
  )

/** Label values: YAML turns `gpu: true` into a boolean; labels are strings, so scalars are accepted as text. */
export const labels = () =>
  typed(
    z.record(
      z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?$/, { message: 'invalid label key' }),
      z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v)),
    ),
    'map of name: value',
  )

/**
 * A Unix file mode. YAML 1.2 reads `0660` as decimal 660, so the loader hands the scalar's source text here and
 * digits are always read as octal, as chmod does. Numbers (already converted, e.g. from `0o660`) pass as is.
 */
export const fileMode = () =>
  typed(
    z.union([z.string(), z.number()]).transform((v, ctx): number => {
      let n: number
      if (typeof v === 'number') n = v
      else {
        const m = /^(?:0o?)?([0-7]{1,4})$/.exec(v.trim())
        if (m === null) {
          ctx.addIssue({ code: 'custom', message: `expected an octal file mode like "0660", got "${v}"` })
          return z.NEVER
        }
        n = Number.parseInt(m[1] as string, 8)
      }
      if (!Number.isInteger(n) || n < 0 || n > 0o777) {
        ctx.addIssue({
          code: 'custom',
          message: `file mode must be between 0000 and 0777, got ${typeof v === 'number' ? `0o${n.toString(8)}` : v}`,
        })
        return z.NEVER
      }
      return n
    }),
    'file mode (octal)',
  )

const PEER_KEY = /^(?:[0-9a-fA-F]{64}|[A-Za-z0-9_-]{43})$/

/**
 * A static peer: "<node key>@host:port" is dialled directly at that address (works with no DHT at all); a bare
 * "host:port" is an extra DHT contact. The key is the peer's node key, 64 hex or 43 base64url characters.
 */
export function staticPeer() {
  const schema = z.string().superRefine((s, ctx) => {
    const at = s.lastIndexOf('@')
    const key = at >= 0 ? s.slice(0, at) : null
    const addr = at >= 0 ? s.slice(at + 1) : s
    if (key !== null && !PEER_KEY.test(key)) {
      ctx.addIssue({
        code: 'custom',
        message: `the key before "@" in "${s}" must be a node key (64 hex or 43 base64url characters)`,
      })
      return
    }
    const hp = splitHostPort(addr)
    if (hp === null) {
      ctx.addIssue({ code: 'custom', message: `expected "host:port" or "<node key>@host:port", got "${s}"` })
      return
    }
    if (hp.port < 1 || hp.port > 65535) {
      ctx.addIssue({ code: 'custom', message: `port ${hp.port} in "${s}" is out of range 1-65535` })
      return
    }
    if (isIP(hp.host) === 0 && !isHostname(hp.host)) {
      ctx.addIssue({ code: 'custom', message: `"${hp.host}" is not a valid host name or IP address` })
    }
  })
  return typed(schema, '[node key@]host:port')
}
