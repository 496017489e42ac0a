// The fast-path query parser: fields of well-formed queries, one case per malformed reason, and the totality
// property (a ParsedQuery or a DnsDecodeError for any bytes, never a throw) over random and mutated packets.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { DnsDecodeError, type MalformedReason } from '../../src/dns/errors.js'
import { wireKey } from '../../src/dns/names.js'
import { type ParsedQuery, parseQuery, questionKey } from '../../src/dns/query.js'
import { hashWireKey } from '../../src/dns/wiremap.js'

interface QuerySpec {
  id?: number
  name: string
  type?: number
  cls?: number
  flags?: number
  edns?: { size: number; version?: number; dnssecOk?: boolean; options?: Array<[number, Uint8Array]> }
}

function labelsWire(name: string): number[] {
  const out: number[] = []
  for (const l of name === '' ? [] : name.split('.')) out.push(l.length, ...Buffer.from(l, 'latin1'))
  return [...out, 0]
}

function query(spec: QuerySpec): Buffer {
  const { id = 0x1234, type = 1, cls = 1, flags = 0x0100 } = spec
  const bytes = [id >> 8, id & 0xff, flags >> 8, flags & 0xff, 0, 1, 0, 0, 0, 0, 0, spec.edns ? 1 : 0]
  bytes.push(...labelsWire(spec.name), type >> 8, type & 0xff, cls >> 8, cls & 0xff)
  if (spec.edns) {
    const opts: number[] = []
    for (const [code, data] of spec.edns.options ?? [])
      opts.push(code >> 8, code & 0xff, data.length >> 8, data.length & 0xff, ...data)
    const e = spec.edns
    bytes.push(
      0,
      0,
      41,
      e.size >> 8,
      e.size & 0xff,
      0,
      e.version ?? 0,
      e.dnssecOk ? 0x80 : 0,
      0,
      opts.length >> 8,
      opts.length & 0xff,
      ...opts,
    )
  }
  return Buffer.from(bytes)
}

function parsed(msg: Uint8Array): ParsedQuery {
  const q = parseQuery(msg)
  if (q instanceof DnsDecodeError) throw new Error(`unexpected ${q.dnsReason}`)
  return q
}

function reason(msg: Uint8Array): MalformedReason {
  const q = parseQuery(msg)
  assert.ok(q instanceof DnsDecodeError, 'expected a decode error')
  return q.dnsReason
}

describe('parseQuery on well-formed queries', () => {
  test('reads id, flags, type, class and a lower-cased key; no EDNS', () => {
    const msg = query({ id: 0xbeef, name: 'Node-1.MESH.blackroad.local', type: 28 })
    const q = parsed(msg)
    assert.equal(q.id, 0xbeef)
    assert.equal(q.qtype, 28)
    assert.equal(q.qclass, 1)
    assert.equal(q.flags, 0x0100)
    assert.equal(questionKey(msg, q), wireKey('node-1.mesh.blackroad.local'))
    assert.equal(q.nameHash, hashWireKey(wireKey('node-1.mesh.blackroad.local')))
    assert.equal(q.nameLength, 'node-1.mesh.blackroad.local'.length + 2)
    assert.equal(q.questionEnd, 12 + q.nameLength + 4)
    assert.equal(q.question, null)
    assert.deepEqual([q.ednsSize, q.ednsVersion, q.dnssecOk], [0, 0, false])
  })

  test('EDNS: payload size (512 at least), version, DO bit and options', () => {
    const q = parsed(
      query({ name: 'a.b', edns: { size: 4096, dnssecOk: true, options: [[10, new Uint8Array(8)]] } }),
    )
    assert.deepEqual([q.ednsSize, q.ednsVersion, q.dnssecOk], [4096, 0, true])
    assert.equal(parsed(query({ name: 'a.b', edns: { size: 100 } })).ednsSize, 512)
    assert.equal(parsed(query({ name: 'a.b', edns: { size: 1232, version: 1 } })).ednsVersion, 1)
  })

  test('the root name, and a name of exactly 255 octets', () => {
    assert.equal(parsed(query({ name: '' })).nameLength, 1)
    const name = ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(61)].join('.')
    assert.equal(parsed(query({ name })).nameLength, 255)
  })

  test('a compressed question name (pointing into the header) is expanded, keeping its case', () => {
    // Bytes 4-5 of the header are QDCOUNT = 00 01: as a name that is the label "\x00"... use the ID instead:
    // ID 0x0141 followed by flags 0x0100 reads as the label "A" then the root.
    const msg = Buffer.from([0x01, 0x41, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x00, 0, 1, 0, 1])
    const q = parsed(msg)
    assert.equal(questionKey(msg, q), '\x01a\0')
    assert.equal(q.nameHash, hashWireKey('\x01a\0'))
    assert.deepEqual([...(q.question ?? [])], [1, 0x41, 0, 0, 1, 0, 1])
  })
})

describe('parseQuery on malformed packets', () => {
  const ok = query({ name: 'x.mesh', edns: { size: 1232 } })
  const cases: Array<[string, Uint8Array, MalformedReason, boolean]> = [
    ['11 bytes', ok.subarray(0, 11), 'short-header', false],
    ['QR set', Buffer.from([...ok.subarray(0, 2), 0x81, 0x00, ...ok.subarray(4)]), 'qr-set', true],
    ['opcode NOTIFY', Buffer.from([...ok.subarray(0, 2), 0x20, 0x00, ...ok.subarray(4)]), 'opcode', true],
    ['qdcount 0', Buffer.from([...ok.subarray(0, 4), 0, 0, ...ok.subarray(6)]), 'qdcount', true],
    ['qdcount 2', Buffer.from([...ok.subarray(0, 4), 0, 2, ...ok.subarray(6)]), 'qdcount', true],
    ['question cut', ok.subarray(0, 20), 'truncated', true],
    ['label of 64', query({ name: 'a'.repeat(64) }), 'label-too-long', true],
    [
      'name of 256',
      query({ name: ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(62)].join('.') }),
      'name-too-long',
      true,
    ],
    [
      'pointer to itself',
      Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]),
      'compression-loop',
      true,
    ],
    [
      'forward pointer',
      Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 16, 0, 1, 0, 1, 0]),
      'compression-loop',
      true,
    ],
    [
      'pointer past the end',
      Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 99, 0, 1, 0, 1]),
      'bad-pointer',
      true,
    ],
    [
      'two OPT records',
      Buffer.from([...ok.subarray(0, 10), 0, 2, ...ok.subarray(12), ...ok.subarray(ok.length - 11)]),
      'bad-edns',
      true,
    ],
    [
      'OPT not at the root',
      Buffer.from([...ok.subarray(0, ok.length - 11), 1, 0x61, 0, ...ok.subarray(ok.length - 10)]),
      'bad-edns',
      true,
    ],
    [
      'OPT option overruns',
      query({ name: 'x', edns: { size: 1232, options: [[10, new Uint8Array(2)]] } }).map((b, i, a) =>
        i === a.length - 3 ? 9 : b,
      ),
      'bad-edns',
      true,
    ],
    ['QTYPE OPT', query({ name: 'x', type: 41 }), 'bad-qtype', true],
    ['trailing byte', Buffer.from([...ok, 0]), 'trailing-bytes', true],
    ['record cut', ok.subarray(0, ok.length - 3), 'truncated', true],
  ]
  for (const [what, msg, expected, hasHeader] of cases) {
    test(`${what} -> ${expected}`, () => {
      assert.equal(reason(msg), expected)
      const err = parseQuery(msg) as DnsDecodeError
      assert.equal(err.code, 'DECODE_ERROR')
      assert.equal(err.header !== null, hasHeader)
      if (hasHeader) assert.equal(err.header?.id, (msg[0]! << 8) | msg[1]!)
    })
  }
})

/** The property: total, and consistent when it succeeds. */
function checkTotal(bytes: Uint8Array): void {
  let r: ParsedQuery | DnsDecodeError
  try {
    r = parseQuery(bytes)
  } catch (err) {
    assert.fail(`parseQuery threw ${String(err)} on ${Buffer.from(bytes).toString('hex')}`)
  }
  if (r instanceof DnsDecodeError) {
    assert.equal(r.header === null, bytes.length < 12)
    return
  }
  assert.ok(r.nameLength >= 1 && r.nameLength <= 255, 'r.nameLength >= 1 && r.nameLength <= 255')
  assert.ok(r.questionEnd <= bytes.length, 'r.questionEnd <= bytes.length')
  const key = questionKey(bytes, r)
  assert.equal(key.length, r.nameLength)
  assert.equal(r.nameHash, hashWireKey(key), 'the hash is of the lower-cased name')
  // Length bytes are at most 63, so any A-Z in the name part would be an un-lowered letter.
  assert.doesNotMatch(key, /[A-Z]/)
}

describe('parseQuery is total', () => {
  test('10,000 random byte strings', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), (b) => checkTotal(b)),
      { numRuns: 10_000, seed: 0x5eed },
    )
  })

  const label = fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/)
  const validQuery = fc
    .record({
      id: fc.integer({ min: 0, max: 0xffff }),
      labels: fc.array(label, { minLength: 0, maxLength: 6 }),
      type: fc.integer({ min: 0, max: 0xffff }).filter((t) => t !== 41),
      edns: fc.option(fc.record({ size: fc.integer({ min: 0, max: 0xffff }), dnssecOk: fc.boolean() }), {
        nil: undefined,
      }),
    })
    .map((r) => ({
      spec: r,
      bytes: query({ id: r.id, name: r.labels.join('.'), type: r.type, edns: r.edns }),
    }))

  test('valid queries parse to what was encoded', () => {
    fc.assert(
      fc.property(validQuery, ({ spec, bytes }) => {
        const q = parsed(bytes)
        assert.equal(q.id, spec.id)
        assert.equal(q.qtype, spec.type)
        assert.equal(questionKey(bytes, q), wireKey(spec.labels.join('.').toLowerCase()))
        assert.equal(q.ednsSize, spec.edns ? Math.max(512, spec.edns.size) : 0)
      }),
      { numRuns: 1000, seed: 7 },
    )
  })

  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      value: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({
      kind: fc.constant('pointer' as const),
      at: fc.nat(),
      value: fc.integer({ min: 0, max: 0x3fff }),
    }),
    fc.record({
      kind: fc.constant('count' as const),
      at: fc.integer({ min: 0, max: 3 }),
      value: fc.integer({ min: 0, max: 0xffff }),
    }),
  )

  test('10,000 mutated valid queries', () => {
    fc.assert(
      fc.property(validQuery, fc.array(mutation, { minLength: 1, maxLength: 4 }), ({ bytes }, muts) => {
        let b = Buffer.from(bytes)
        for (const m of muts) {
          const at = m.at % Math.max(1, b.length)
          if (m.kind === 'set') b[at] = m.value
          else if (m.kind === 'cut') b = b.subarray(0, at)
          else if (m.kind === 'insert')
            b = Buffer.concat([b.subarray(0, at), Buffer.from([m.value]), b.subarray(at)])
          else if (m.kind === 'pointer' && at + 1 < b.length) {
            b[at] = 0xc0 | (m.value >> 8)
            b[at + 1] = m.value & 0xff
          } else if (m.kind === 'count' && b.length >= 12) b.writeUInt16BE(m.value, 4 + 2 * m.at)
        }
        checkTotal(b)
      }),
      { numRuns: 10_000, seed: 0xd15 },
    )
  })
})
