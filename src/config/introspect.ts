// Reads the zod schema back as documentation: describeSchema() lists every field with its type, default and
// description, and schemaAt() finds the schema behind a path so error messages can name the keys that exist.
// zod keeps its definition on `_zod.def`; only the wrapper kinds this schema uses are unwrapped here.

import { fieldDoc } from './fields.js'
import { configSchema } from './schema.js'
import type { z } from './zod.js'

// biome-ignore lint/suspicious/noExplicitAny: zod's internal definition objects are untyped at this level
type Def = any
const defOf = (s: unknown): Def => (s as { _zod: { def: Def } })._zod.def

interface Unwrapped {
  core: z.ZodType
  /** Every schema passed on the way in, outermost first; descriptions and docs may sit on any of them. */
  layers: z.ZodType[]
  hasDefault: boolean
  defaultValue: unknown
  optional: boolean
}

/** Strips default/prefault/optional wrappers and transform pipes down to the schema that checks the value. */
function unwrap(schema: z.ZodType): Unwrapped {
  const layers: z.ZodType[] = []
  let s = schema
  let hasDefault = false
  let defaultValue: unknown
  let optional = false
  for (;;) {
    layers.push(s)
    if (fieldDoc(s)?.type !== undefined) break
    const def = defOf(s)
    if (def.type === 'default' || def.type === 'prefault') {
      if (!hasDefault) {
        hasDefault = true
        defaultValue = def.defaultValue
      }
      s = def.innerType
    } else if (def.type === 'optional') {
      optional = true
      s = def.innerType
    } else if (def.type === 'pipe') {
      s = def.in
    } else break
  }
  return { core: s, layers, hasDefault, defaultValue, optional }
}

/** The object schemas a union may take (the guide's region items are "name" or {same_region: 1}). */
function objectOptions(core: z.ZodType): z.ZodType[] {
  const def = defOf(core)
  if (def.type === 'object') return [core]
  if (def.type === 'union') return (def.options as z.ZodType[]).flatMap((o) => objectOptions(unwrap(o).core))
  return []
}

/** The schema at a path of the parsed document (array indexes step into elements), or null past a leaf. */
export function schemaAt(path: readonly PropertyKey[], root: z.ZodType = configSchema): z.ZodType | null {
  let s: z.ZodType = root
  for (const seg of path) {
    const core = unwrap(s).core
    const def = defOf(core)
    if (def.type === 'array' && typeof seg === 'number') s = def.element
    else if (def.type === 'record') s = def.valueType
    else {
      const next = objectOptions(core)
        .map((o) => defOf(o).shape[seg as string] as z.ZodType | undefined)
        .find((x) => x !== undefined)
      if (next === undefined) return null
      s = next
    }
  }
  return s
}

/** Keys a mapping at this path accepts (empty when it is not a fixed-shape mapping). */
export function knownKeys(path: readonly PropertyKey[]): string[] {
  const s = schemaAt(path)
  if (s === null) return []
  return objectOptions(unwrap(s).core).flatMap((o) => Object.keys(defOf(o).shape))
}

export function typeName(schema: z.ZodType): string {
  const u = unwrap(schema)
  for (const l of u.layers) {
    const t = fieldDoc(l)?.type
    if (t !== undefined) return t
  }
  const def = defOf(u.core)
  switch (def.type) {
    case 'string':
      return 'string'
    case 'boolean':
      return 'boolean'
    case 'number':
      return numberName(def)
    case 'enum':
      return Object.values(def.entries as Record<string, string>).join(' | ')
    case 'array':
      return `list of ${typeName(def.element)}`
    case 'union':
      return (def.options as z.ZodType[]).map(typeName).join(' or ')
    case 'record':
      return `map of ${typeName(def.valueType)}`
    case 'object':
      return 'mapping'
    default:
      return String(def.type)
  }
}

function numberName(def: Def): string {
  let int = false
  let lo: string | undefined
  let hi: string | undefined
  for (const c of (def.checks ?? []) as Array<{ _zod: { def: Def } }>) {
    const cd = c._zod.def
    if (cd.check === 'number_format' && String(cd.format).includes('int')) int = true
    if (cd.check === 'greater_than') lo = `${cd.inclusive ? '>=' : '>'} ${cd.value}`
    if (cd.check === 'less_than') hi = `${cd.inclusive ? '<=' : '<'} ${cd.value}`
  }
  const range = [lo, hi].filter((x) => x !== undefined).join(', ')
  return `${int ? 'integer' : 'number'}${range === '' ? '' : ` (${range})`}`
}

export interface FieldDescription {
  /** Dotted path; "[]" stands for every item of a list ("mesh.policies[].name"). */
  path: string
  type: string
  /** The default as it would be written in YAML, or undefined when the field has none. */
  default: string | undefined
  /** Must be present whenever its parent is. */
  required: boolean
  description: string
  /** false for mappings, whose fields are listed separately. */
  leaf: boolean
}

/** Every field of the config schema, parents before children, in schema order. */
export function describeSchema(): FieldDescription[] {
  const out: FieldDescription[] = []
  walk(configSchema, '', out)
  return out
}

function walk(schema: z.ZodType, prefix: string, out: FieldDescription[]): void {
  for (const obj of objectOptions(unwrap(schema).core)) {
    for (const [key, field] of Object.entries(defOf(obj).shape as Record<string, z.ZodType>)) {
      const p = prefix === '' ? key : `${prefix}.${key}`
      const u = unwrap(field)
      const coreDef = defOf(u.core)
      const children = objectOptions(u.core)
      out.push({
        path: p,
        type: typeName(field),
        default: defaultOf(u),
        required: !u.hasDefault && !u.optional,
        description: u.layers.map((l) => l.description).find((d) => d !== undefined) ?? '',
        leaf: children.length === 0,
      })
      if (children.length > 0) walk(u.core, p, out)
      else if (coreDef.type === 'array') walk(coreDef.element, `${p}[]`, out)
    }
  }
}

function defaultOf(u: Unwrapped): string | undefined {
  for (const l of u.layers) {
    const text = fieldDoc(l)?.default
    if (text !== undefined) return text
  }
  if (!u.hasDefault) return undefined
  const v = typeof u.defaultValue === 'function' ? undefined : u.defaultValue
  if (v === undefined) return undefined
  if (typeof v === 'string') return v
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0)
    return undefined
  return JSON.stringify(v)
}
