// Turns YAML syntax errors and zod issues into ConfigProblems that point at file:line:column. zod paths are
// walked through the parsed YAML document (which keeps source ranges) to the node the issue is about; a missing
// key points at the mapping that should hold it.

import {
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  visit,
  type YAMLError,
} from 'yaml'
import type { ConfigProblem } from './errors.js'
import { describeValue } from './fields.js'
import { knownKeys, schemaAt, typeName } from './introspect.js'
import type { z } from './zod.js'

type Issue = z.core.$ZodIssue
type Path = readonly PropertyKey[]

/** Mapping keys that are lists, mappings or aliases (`? [a]`): legal YAML, meaningless here, lossy in toJS. */
export function complexKeyProblems(doc: Document, lineCounter: LineCounter, file: string): ConfigProblem[] {
  const out: ConfigProblem[] = []
  visit(doc, {
    Pair(_, pair) {
      const key = pair.key
      // A !!binary key is a scalar whose value is a Uint8Array; it would be stringified just the same.
      if (key === null || (isScalar(key) && (key.value === null || typeof key.value !== 'object'))) return
      const pos = lineCounter.linePos(rangeStart(pair.key) ?? 0)
      out.push({
        file,
        line: pos.line,
        column: pos.col,
        path: '',
        message: 'keys must be plain names, not lists, mappings, aliases or binary values',
      })
    },
  })
  return out
}

export function yamlProblems(errors: readonly YAMLError[], file: string): ConfigProblem[] {
  return errors.map((e) => {
    const pos = e.linePos?.[0]
    // prettyErrors appends " at line L, column C:" and a source excerpt; the position is reported separately.
    const message = (e.message.split(/ at line \d+, column \d+/)[0] ?? e.message).trim()
    return {
      file,
      line: pos?.line ?? 1,
      column: pos?.col ?? 1,
      path: '',
      message: `invalid YAML: ${message}`,
    }
  })
}

interface Located {
  offset: number
  /** True when the walk reached the node at the full path (false: stopped at the nearest existing parent). */
  exact: boolean
}

/** Offset of the node at `path`, or of its nearest existing ancestor. Keys point at the key, values at the value. */
function locate(doc: Document, path: Path, atKey = false): Located {
  let node: unknown = doc.contents
  let offset = rangeStart(node) ?? 0
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]
    const last = i === path.length - 1
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(seg))
      if (pair === undefined) return { offset, exact: false }
      const keyStart = rangeStart(pair.key)
      const valueStart = rangeStart(pair.value)
      offset = (last && atKey ? keyStart : (valueStart ?? keyStart)) ?? offset
      node = pair.value
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg]
      if (item === undefined) return { offset, exact: false }
      offset = rangeStart(item) ?? offset
      node = item
    } else {
      return { offset, exact: false }
    }
  }
  return { offset, exact: true }
}

function rangeStart(n: unknown): number | undefined {
  const r = (n as Node | null | undefined)?.range
  return Array.isArray(r) ? r[0] : undefined
}

function keyText(k: unknown): string {
  return isScalar(k) ? String(k.value) : String(k)
}

function valueAt(raw: unknown, path: Path): unknown {
  let v = raw
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined
    if (!Object.hasOwn(v, seg)) return undefined
    v = (v as Record<PropertyKey, unknown>)[seg]
  }
  return v
}

export function dotted(path: Path): string {
  return path.map(String).join('.')
}

export interface IssueContext {
  doc: Document
  lineCounter: LineCounter
  file: string
  raw: unknown
}

export function issueProblems(issues: readonly Issue[], ctx: IssueContext): ConfigProblem[] {
  const out: ConfigProblem[] = []
  for (const issue of expandUnions(issues, ctx.raw)) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = [...issue.path, key]
        out.push(
          at(ctx, path, locate(ctx.doc, path, true).offset, unknownKeyMessage(key, knownKeys(issue.path))),
        )
      }
      continue
    }
    const where = locate(ctx.doc, issue.path, issue.code === 'invalid_key')
    const value = valueAt(ctx.raw, issue.path)
    out.push(at(ctx, issue.path, where.offset, issueMessage(issue, value, where.exact)))
  }
  const seen = new Set<string>()
  return out
    .filter((p) => {
      const k = `${p.line}:${p.column}:${p.path}:${p.message}`
      if (seen.has(k)) return false
      seen.add(k)
      return true
    })
    .sort((a, b) => a.line - b.line || a.column - b.column)
}

function at(ctx: IssueContext, path: Path, offset: number, message: string): ConfigProblem {
  const pos = ctx.lineCounter.linePos(offset)
  return { file: ctx.file, line: pos.line, column: pos.col, path: dotted(path), message }
}

/**
 * A union failure says only "invalid input". When exactly one branch fits the value's shape (the others failed
 * on its type), that branch's own issues are the useful ones.
 */
function expandUnions(issues: readonly Issue[], raw: unknown): Issue[] {
  const out: Issue[] = []
  for (const issue of issues) {
    if (issue.code !== 'invalid_union' || issue.errors.length === 0) {
      out.push(issue)
      continue
    }
    const fitting = issue.errors.filter(
      (branch) => !branch.some((i) => i.code === 'invalid_type' && i.path.length === 0),
    )
    if (fitting.length === 1) {
      const nested = (fitting[0] as Issue[]).map((i) => ({ ...i, path: [...issue.path, ...i.path] }) as Issue)
      out.push(...expandUnions(nested, raw))
    } else out.push(issue)
  }
  return out
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
}

function issueMessage(issue: Issue, value: unknown, exact: boolean): string {
  const last = issue.path[issue.path.length - 1]
  if (value === undefined && !exact && last !== undefined && issue.code !== 'custom') {
    return `missing required field "${String(last)}"`
  }
  switch (issue.code) {
    case 'invalid_type': {
      return `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${describeValue(value)}`
    }
    case 'invalid_value': {
      const options = issue.values.map((v) => JSON.stringify(v)).join(', ')
      const hint = typeof value === 'string' ? closest(value, issue.values.map(String)) : undefined
      return `expected one of ${options}, got ${describeValue(value)}${hint === undefined ? '' : `; did you mean "${hint}"?`}`
    }
    case 'too_small':
    case 'too_big':
      return rangeMessage(issue, value)
    case 'invalid_key':
      return `invalid key "${String(last)}": ${issue.issues[0]?.message ?? issue.message}`
    case 'invalid_union': {
      const schema = schemaAt(issue.path)
      return schema === null ? issue.message : `expected ${typeName(schema)}, got ${describeValue(value)}`
    }
    default:
      return issue.message
  }
}

function rangeMessage(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig, value: unknown): string {
  const small = issue.code === 'too_small'
  const bound = small
    ? (issue as z.core.$ZodIssueTooSmall).minimum
    : (issue as z.core.$ZodIssueTooBig).maximum
  const inclusive = issue.inclusive !== false
  const got = describeValue(value)
  switch (issue.origin) {
    case 'array':
      return small ? `must have at least ${bound} item(s)` : `must have at most ${bound} item(s)`
    case 'string':
      return small
        ? Number(bound) <= 1
          ? 'must not be empty'
          : `must be at least ${bound} characters`
        : `must be at most ${bound} characters`
    default:
      return `must be ${small ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<'} ${bound}, got ${got}`
  }
}

function unknownKeyMessage(key: string, known: string[]): string {
  const hint = closest(key, known)
  if (hint !== undefined) return `unknown key "${key}"; did you mean "${hint}"?`
  if (known.length === 0) return `unknown key "${key}"`
  return `unknown key "${key}"; expected one of: ${known.join(', ')}`
}

/** The candidate nearest to `word` by edit distance, if near enough to be a plausible typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase()
  let best: string | undefined
  let bestD = Number.POSITIVE_INFINITY
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase())
    if (d < bestD) {
      best = c
      bestD = d
    }
  }
  if (best === undefined) return undefined
  const limit = Math.max(1, Math.min(3, Math.floor(Math.max(w.length, best.length) / 3)))
  return bestD <= limit ? best : undefined
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps cost 1. */
function editDistance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Math.abs(a.length - b.length) + 64
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  const get = (i: number, j: number) => (d[i] as number[])[j] as number
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(get(i - 1, j) + 1, get(i, j - 1) + 1, get(i - 1, j - 1) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, get(i - 2, j - 2) + 1)
      ;(d[i] as number[])[j] = v
    }
  }
  return get(a.length, b.length)
}
