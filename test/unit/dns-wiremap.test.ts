// The byte-keyed answer index: lookups straight from packet bytes in any case, type separation, misses on
// near names, growth, and agreement between the builder's and the parser's hashes.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { wireKey } from '../../src/dns/names.js'
import { hashWireKey, WireMap, withType } from '../../src/dns/wiremap.js'

const bytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0))

function get<V>(m: WireMap<V>, name: string, type: number): V | undefined {
  const key = wireKey(name)
  const lower = wireKey(name.toLowerCase())
  return m.get(withType(hashWireKey(lower), type), type, bytes(key), 0, key.length)
}

describe('WireMap', () => {
  test('finds by name and type from bytes in any case; types and near names miss', () => {
    const m = new WireMap<string>(2)
    for (let i = 0; i < 5000; i++) {
      m.set(wireKey(`node-${i}.mesh.test`), 1, `A${i}`)
      m.set(wireKey(`node-${i}.mesh.test`), -1, `N${i}`)
    }
    assert.equal(m.size, 10_000)
    for (let i = 0; i < 5000; i += 7) {
      assert.equal(get(m, `NODE-${i}.Mesh.TEST`, 1), `A${i}`)
      assert.equal(get(m, `node-${i}.mesh.test`, -1), `N${i}`)
      assert.equal(get(m, `node-${i}.mesh.test`, 28), undefined)
      assert.equal(get(m, `node-${i}x.mesh.test`, 1), undefined)
      assert.equal(get(m, `node-${i}.mesh.tes`, 1), undefined)
    }
  })

  test('a second set replaces; lookups at an offset inside a packet', () => {
    const m = new WireMap<number>()
    m.set(wireKey('a.b'), 1, 1)
    m.set(wireKey('a.b'), 1, 2)
    assert.equal(m.size, 1)
    const packet = new Uint8Array([9, 9, 9, ...bytes(wireKey('A.B')), 0, 1])
    assert.equal(m.get(withType(hashWireKey(wireKey('a.b')), 1), 1, packet, 3, 5), 2)
  })

  test('entries with equal hashes are told apart by their bytes', () => {
    // Same hash, different names: only the bytes decide.
    const m = new WireMap<string>()
    m.set(wireKey('x.y'), 1, 'xy')
    const h = withType(hashWireKey(wireKey('x.y')), 1)
    const other = bytes(wireKey('x.z'))
    assert.equal(m.get(h, 1, other, 0, other.length), undefined)
  })
})
