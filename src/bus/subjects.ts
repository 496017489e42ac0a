// Subjects and subscription patterns, NATS style: tokens separated by '.', where in a pattern `*` stands
// for exactly one token and `>` (last token only) for one or more trailing tokens. Publishing always uses
// a literal subject; wildcards exist only in subscriptions. SubjectIndex is the trie both the local
// subscription table and the mesh-wide interest table are built on; its match results are cached because
// the hot path asks the same few subjects over and over, and the cache is dropped on any change.
//
// Grammar (bytes): 1..MAX_SUBJECT_BYTES, 1..MAX_SUBJECT_TOKENS tokens, each token one or more printable
// ASCII characters (0x21-0x7e) other than '.', '*' and '>'; a pattern token may also be exactly '*' or
// (last) '>'. ASCII only, so the envelope decoder can check a subject in place without decoding UTF-8.

import { BusError } from './errors.js'

export const MAX_SUBJECT_BYTES = 256
export const MAX_SUBJECT_TOKENS = 32
const DOT = 0x2e
const STAR = 0x2a
const GT = 0x3e

/**
 * Checks a subject or pattern held as bytes (the decoder's view). Returns null when valid, else a message
 * saying what is wrong. Never throws and never allocates on success.
 */
export function subjectBytesProblem(
  buf: Uint8Array,
  start: number,
  end: number,
  allowWildcards: boolean,
): string | null {
  const n = end - start
  if (n === 0) return 'is empty'
  if (n > MAX_SUBJECT_BYTES) return `is ${n} bytes, more than ${MAX_SUBJECT_BYTES}`
  let tokens = 1
  let tokenStart = start
  for (let i = start; i <= end; i++) {
    const c = i === end ? DOT : buf[i]!
    if (c === DOT) {
      const len = i - tokenStart
      if (len === 0) return `has an empty token at byte ${tokenStart - start}`
      if (len === 1 && (buf[tokenStart] === STAR || buf[tokenStart] === GT)) {
        if (!allowWildcards)
          return `has a wildcard '${String.fromCharCode(buf[tokenStart]!)}'; publish to a literal subject`
        if (buf[tokenStart] === GT && i !== end) return "has '>' before the last token"
      }
      if (i !== end && ++tokens > MAX_SUBJECT_TOKENS) return `has more than ${MAX_SUBJECT_TOKENS} tokens`
      tokenStart = i + 1
      continue
    }
    if (c < 0x21 || c > 0x7e) return `has character code ${c} at byte ${i - start} (printable ASCII only)`
    if ((c === STAR || c === GT) && !(i === tokenStart && (i + 1 === end || buf[i + 1] === DOT))) {
      return `has '${String.fromCharCode(c)}' inside a token at byte ${i - start} (wildcards are whole tokens)`
    }
  }
  return null
}

function stringProblem(s: string, allowWildcards: boolean): string | null {
  if (typeof s !== 'string') return 'is not a string'
  if (s.length > MAX_SUBJECT_BYTES) return `is longer than ${MAX_SUBJECT_BYTES} bytes`
  const bytes = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c > 0x7e) return `has a non-ASCII character at position ${i}`
    bytes[i] = c
  }
  return subjectBytesProblem(bytes, 0, bytes.length, allowWildcards)
}

// Publishers repeat a few subjects at a high rate; remember the ones already found valid (bounded).
const validSubjects = new Set<string>()

/** Throws BusError INVALID_SUBJECT unless `s` is a literal subject one can publish to. */
export function validateSubject(s: string): void {
  if (validSubjects.has(s)) return
  const p = stringProblem(s, false)
  if (p !== null) throw new BusError('INVALID_SUBJECT', `subject ${JSON.stringify(s)} ${p}`)
  if (validSubjects.size >= 4096) validSubjects.clear()
  validSubjects.add(s)
}

/** Throws BusError INVALID_SUBJECT unless `p` is a valid subscription pattern. */
export function validatePattern(p: string): void {
  const problem = stringProblem(p, true)
  if (problem !== null) throw new BusError('INVALID_SUBJECT', `pattern ${JSON.stringify(p)} ${problem}`)
}

export function isValidSubject(s: string): boolean {
  return stringProblem(s, false) === null
}

export function isValidPattern(p: string): boolean {
  return stringProblem(p, true) === null
}

/** Does `pattern` match the literal `subject`? Both are assumed valid. For policies and one-off checks. */
export function patternMatches(pattern: string, subject: string): boolean {
  const pt = pattern.split('.')
  const st = subject.split('.')
  for (let i = 0; i < pt.length; i++) {
    const p = pt[i]!
    if (p === '>') return st.length > i
    if (i >= st.length) return false
    if (p !== '*' && p !== st[i]) return false
  }
  return pt.length === st.length
}

class TrieNode<T> {
  readonly children = new Map<string, TrieNode<T>>()
  star: TrieNode<T> | null = null
  /** Values whose pattern ends here with '>' (one or more further tokens). */
  rest: Set<T> | null = null
  /** Values whose pattern ends exactly here. */
  exact: Set<T> | null = null

  isEmpty(): boolean {
    return this.children.size === 0 && this.star === null && !this.rest?.size && !this.exact?.size
  }
}

const EMPTY: readonly never[] = Object.freeze([])

/**
 * A subscription index: (pattern, value) pairs in a token trie. add/remove are O(tokens); match walks at
 * most the branches a subject can take and is memoised per subject (bounded; cleared on every change).
 */
export class SubjectIndex<T> {
  private readonly root = new TrieNode<T>()
  private readonly cache = new Map<string, readonly T[]>()
  private pairs = 0

  constructor(private readonly cacheLimit = 4096) {}

  /** Number of (pattern, value) pairs. */
  get size(): number {
    return this.pairs
  }

  /** Adds the pair; returns false if it was already there. The pattern must be valid (validatePattern). */
  add(pattern: string, value: T): boolean {
    let node = this.root
    const tokens = pattern.split('.')
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!
      if (t === '>') {
        node.rest ??= new Set()
        return this.insert(node.rest, value)
      }
      if (t === '*') {
        node.star ??= new TrieNode()
        node = node.star
      } else {
        let next = node.children.get(t)
        if (next === undefined) {
          next = new TrieNode()
          node.children.set(t, next)
        }
        node = next
      }
    }
    node.exact ??= new Set()
    return this.insert(node.exact, value)
  }

  private insert(set: Set<T>, value: T): boolean {
    if (set.has(value)) return false
    set.add(value)
    this.pairs++
    this.cache.clear()
    return true
  }

  /** Removes the pair; returns false if it was not there. Prunes branches left empty. */
  remove(pattern: string, value: T): boolean {
    const tokens = pattern.split('.')
    const path: { node: TrieNode<T>; token: string }[] = []
    let node: TrieNode<T> | null = this.root
    let set: Set<T> | null = null
    for (let i = 0; i < tokens.length && node !== null; i++) {
      const t = tokens[i]!
      if (t === '>') {
        set = node.rest
        break
      }
      path.push({ node, token: t })
      node = t === '*' ? node.star : (node.children.get(t) ?? null)
    }
    if (node === null) return false
    if (tokens[tokens.length - 1] !== '>') set = node.exact
    if (set === null || !set.delete(value)) return false
    this.pairs--
    this.cache.clear()
    // Prune from the leaf up so a churn of distinct subjects does not leave a trail of empty nodes.
    for (let i = path.length - 1; i >= 0; i--) {
      const { node: parent, token } = path[i]!
      const child = token === '*' ? parent.star : parent.children.get(token)
      if (!child?.isEmpty()) break
      if (token === '*') parent.star = null
      else parent.children.delete(token)
    }
    return true
  }

  /** Values whose pattern matches the literal `subject`, each once. The array must not be modified. */
  match(subject: string): readonly T[] {
    const hit = this.cache.get(subject)
    if (hit !== undefined) return hit
    const found = new Set<T>()
    this.walk(this.root, subject.split('.'), 0, found)
    const result = found.size === 0 ? EMPTY : [...found]
    if (this.cache.size >= this.cacheLimit) this.cache.clear()
    this.cache.set(subject, result)
    return result
  }

  private walk(node: TrieNode<T>, tokens: string[], i: number, out: Set<T>): void {
    if (i === tokens.length) {
      if (node.exact) for (const v of node.exact) out.add(v)
      return
    }
    if (node.rest) for (const v of node.rest) out.add(v)
    const child = node.children.get(tokens[i]!)
    if (child) this.walk(child, tokens, i + 1, out)
    if (node.star) this.walk(node.star, tokens, i + 1, out)
  }

  /** Every (pattern, value) pair, for snapshots and debugging. */
  *entries(): IterableIterator<[string, T]> {
    yield* this.collect(this.root, [])
  }

  private *collect(node: TrieNode<T>, prefix: string[]): IterableIterator<[string, T]> {
    if (node.exact) for (const v of node.exact) yield [prefix.join('.'), v]
    if (node.rest) for (const v of node.rest) yield [[...prefix, '>'].join('.'), v]
    for (const [t, child] of node.children) yield* this.collect(child, [...prefix, t])
    if (node.star) yield* this.collect(node.star, [...prefix, '*'])
  }
}
