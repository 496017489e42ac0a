// Subjects and the subscription index: the grammar with its error messages, wildcard semantics, add and
// remove with pruning, and a property test of the trie against a naive regular-expression matcher.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import {
  BusError,
  isValidPattern,
  isValidSubject,
  patternMatches,
  SubjectIndex,
  validatePattern,
  validateSubject,
} from '../../src/bus/index.js'

/** The reference: a pattern turned into a regular expression, the obvious way. */
function naive(pattern: string, subject: string): boolean {
  const re = pattern
    .split('.')
    .map((t) =>
      t === '*' ? '[^.]+' : t === '>' ? '[^.]+(\\.[^.]+)*' : t.replace(/[\\^$+?()[\]{}|/-]/g, '\\$&'),
    )
    .join('\\.')
  return new RegExp(`^${re}$`).test(subject)
}

describe('subject grammar', () => {
  test('accepts literal subjects and patterns', () => {
    for (const s of ['a', 'orders.new', 'agent.a1.status', 'x-y_z.$sys.1:2']) assert.ok(isValidSubject(s), s)
    for (const p of ['a.*', '*', '>', 'a.>', '*.b.>', 'orders.new']) assert.ok(isValidPattern(p), p)
  })

  test('refuses with a message that says why', () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['a..b', /empty token/],
      ['.a', /empty token/],
      ['a.', /empty token/],
      ['a b', /character code 32/],
      ['a.*', /wildcard/],
      ['a.>', /wildcard/],
      ['a*', /inside a token/],
      ['é', /non-ASCII/],
      ['x'.repeat(257), /longer than 256/],
      [Array(33).fill('t').join('.'), /more than 32 tokens/],
    ]
    for (const [s, why] of cases) {
      assert.throws(
        () => validateSubject(s),
        (e: unknown) => e instanceof BusError && e.code === 'INVALID_SUBJECT' && why.test(e.message),
        s,
      )
    }
    assert.throws(() => validatePattern('a.>.b'), /before the last token/)
    assert.throws(() => validatePattern('a.b*'), /inside a token/)
  })

  test('wildcards', () => {
    assert.ok(patternMatches('a.*', 'a.b'))
    assert.ok(!patternMatches('a.*', 'a.b.c'))
    assert.ok(!patternMatches('a.*', 'a'))
    assert.ok(patternMatches('a.>', 'a.b.c'))
    assert.ok(!patternMatches('a.>', 'a'))
    assert.ok(patternMatches('>', 'x'))
    assert.ok(patternMatches('*.b', 'a.b'))
  })
})

describe('SubjectIndex', () => {
  test('matches exact, *, > and reports each value once', () => {
    const idx = new SubjectIndex<string>()
    idx.add('a.b', 'exact')
    idx.add('a.*', 'star')
    idx.add('a.>', 'rest')
    idx.add('a.*', 'multi')
    idx.add('a.>', 'multi')
    idx.add('>', 'all')
    assert.deepEqual([...idx.match('a.b')].sort(), ['all', 'exact', 'multi', 'rest', 'star'])
    assert.deepEqual([...idx.match('a.c.d')].sort(), ['all', 'multi', 'rest'])
    assert.deepEqual([...idx.match('a')].sort(), ['all'])
    assert.deepEqual([...idx.match('b.b')], ['all'])
  })

  test('add is idempotent, remove undoes it, and the cache never serves stale results', () => {
    const idx = new SubjectIndex<number>()
    assert.equal(idx.add('a.*', 1), true)
    assert.equal(idx.add('a.*', 1), false)
    assert.deepEqual(idx.match('a.x'), [1])
    assert.equal(idx.remove('a.*', 2), false)
    assert.equal(idx.remove('a.*', 1), true)
    assert.deepEqual(idx.match('a.x'), [])
    assert.equal(idx.size, 0)
    assert.equal(idx.remove('a.*', 1), false)
  })

  test('prunes empty branches so churn leaves nothing behind', () => {
    const idx = new SubjectIndex<number>()
    for (let i = 0; i < 500; i++) idx.add(`s.${i}.x.>`, i)
    for (let i = 0; i < 500; i++) assert.ok(idx.remove(`s.${i}.x.>`, i))
    assert.equal(idx.size, 0)
    assert.deepEqual([...idx.entries()], [])
    // The root has no children left: a fresh subject walks nothing.
    assert.equal((idx as unknown as { root: { children: Map<string, unknown> } }).root.children.size, 0)
  })

  test('entries lists the pairs', () => {
    const idx = new SubjectIndex<string>()
    idx.add('a.*.c', 'v')
    idx.add('b.>', 'w')
    assert.deepEqual([...idx.entries()].sort(), [
      ['a.*.c', 'v'],
      ['b.>', 'w'],
    ])
  })

  test('agrees with a naive matcher on random patterns, subjects, adds and removes', () => {
    const token = fc.constantFrom('a', 'b', 'c', 'dd')
    const patternArb = fc
      .tuple(fc.array(fc.oneof(token, fc.constant('*')), { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([t, gt]) => (gt ? [...t, '>'] : t).join('.'))
    const subjectArb = fc.array(token, { minLength: 1, maxLength: 6 }).map((t) => t.join('.'))
    const op = fc.oneof(
      fc.record({ add: fc.constant(true), pattern: patternArb, value: fc.nat(5) }),
      fc.record({ add: fc.constant(false), pattern: patternArb, value: fc.nat(5) }),
    )
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 40 }),
        fc.array(subjectArb, { minLength: 1, maxLength: 20 }),
        (ops, subjects) => {
          const idx = new SubjectIndex<number>(8)
          const model = new Set<string>()
          for (const o of ops) {
            const key = `${o.pattern}|${o.value}`
            if (o.add) assert.equal(idx.add(o.pattern, o.value), !model.has(key))
            else assert.equal(idx.remove(o.pattern, o.value), model.has(key))
            if (o.add) model.add(key)
            else model.delete(key)
            for (const s of subjects) {
              const expected = new Set<number>()
              for (const k of model) {
                const [p, v] = k.split('|') as [string, string]
                if (naive(p, s)) expected.add(Number(v))
                assert.equal(patternMatches(p, s), naive(p, s), `${p} vs ${s}`)
              }
              assert.deepEqual([...idx.match(s)].sort(), [...expected].sort(), `subject ${s}`)
            }
          }
          assert.equal(idx.size, model.size)
        },
      ),
      { numRuns: 300 },
    )
  })
})
