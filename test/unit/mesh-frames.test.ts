// Routing-channel frames between neighbours: the codec is total (arbitrary bytes give a frame or a
// DecodeError), and a link-state frame is accepted only with a valid certificate of its own origin (in the
// frame, or held from an earlier one) and only addresses that certificate holds; forged, foreign, expired or
// over-claiming frames get a counted reason. A link carries each certificate once.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { FloodCertificates } from '../../src/daemon/flood-certs.js'
import {
  decodeRoutingFrame,
  encodeLinkStateFrame,
  encodeWgKeyFrame,
  judgeLinkStateFrame,
} from '../../src/daemon/mesh-frames.js'
import {
  CertBook,
  encodeCertificate,
  federationIdFromRootKey,
  generateKeyPair,
  issueCertificate,
  type KeyPair,
  nodeIdFromPublicKey,
  signRecord,
} from '../../src/identity/index.js'
import { sealLinkState } from '../../src/routing/index.js'
import { DecodeError } from '../../src/wire/index.js'

const root = generateKeyPair()
const fedId = federationIdFromRootKey(root.publicKey)

function certFor(key: KeyPair, ipv4: string, opts: { root?: KeyPair; notAfter?: number } = {}) {
  const r = opts.root ?? root
  return encodeCertificate(
    issueCertificate(
      {
        federationId: federationIdFromRootKey(r.publicKey),
        publicKey: key.publicKey,
        name: 'n',
        cluster: 'c',
        region: 'r',
        role: 'primary',
        addresses: { ipv4 },
        labels: {},
        notBefore: Date.now() - 7_200_000,
        notAfter: opts.notAfter ?? Date.now() + 3_600_000,
        serial: 1,
      },
      r,
    ),
  )
}

function record(key: KeyPair, addresses: string[]) {
  return sealLinkState(
    { origin: nodeIdFromPublicKey(key.publicKey), seq: 1, issuedAt: Date.now(), links: [], addresses },
    key,
  ).bytes
}

const book = () => new CertBook({ rootPublicKey: root.publicKey, federationId: fedId })
const v4 = (a: string) => [`${a}/32`]

test('a valid frame is accepted; each bad one gets its own reason', () => {
  const k = generateKeyPair()
  const other = generateKeyPair()
  const good = { certificate: certFor(k, '100.64.0.1'), record: record(k, ['100.64.0.1/32']) }
  assert.equal(
    judgeLinkStateFrame(book(), good, () => v4('100.64.0.1')),
    'ok',
  )
  const overclaim = {
    certificate: certFor(k, '100.64.0.1'),
    record: record(k, ['100.64.0.1/32', '100.64.0.9/32']),
  }
  assert.equal(
    judgeLinkStateFrame(book(), overclaim, () => v4('100.64.0.1')),
    'address-not-certified',
  )
  const wrongOrigin = { certificate: certFor(k, '100.64.0.1'), record: record(other, []) }
  assert.equal(
    judgeLinkStateFrame(book(), wrongOrigin, () => v4('100.64.0.1')),
    'cert-not-origin',
  )
  const foreign = {
    certificate: certFor(k, '100.64.0.1', { root: generateKeyPair() }),
    record: record(k, []),
  }
  assert.equal(
    judgeLinkStateFrame(book(), foreign, () => []),
    'cert-other_federation',
  )
  const expired = {
    certificate: certFor(k, '100.64.0.1', { notAfter: Date.now() - 3_600_000 }),
    record: record(k, []),
  }
  assert.equal(
    judgeLinkStateFrame(book(), expired, () => []),
    'cert-expired',
  )
  const garbage = { certificate: certFor(k, '100.64.0.1'), record: new Uint8Array([1, 2, 3]) }
  assert.equal(
    judgeLinkStateFrame(book(), garbage, () => []),
    'malformed',
  )
})

test('a frame without a certificate is judged against the one held for its origin', () => {
  const k = generateKeyPair()
  const cert = certFor(k, '100.64.0.1')
  const bare = { certificate: null, record: record(k, ['100.64.0.1/32']) }
  assert.equal(
    judgeLinkStateFrame(book(), bare, () => v4('100.64.0.1')),
    'cert-unknown',
  )
  const b = book()
  assert.equal(
    judgeLinkStateFrame(b, { certificate: cert, record: record(k, []) }, () => v4('100.64.0.1')),
    'ok',
  )
  assert.equal(
    judgeLinkStateFrame(b, bare, () => v4('100.64.0.1')),
    'ok',
  )
  const overclaim = { certificate: null, record: record(k, ['100.64.0.1/32', '100.64.0.9/32']) }
  assert.equal(
    judgeLinkStateFrame(b, overclaim, () => v4('100.64.0.1')),
    'address-not-certified',
  )
  assert.equal(
    judgeLinkStateFrame(b, { certificate: null, record: new Uint8Array([9]) }, () => []),
    'malformed',
  )
  const decoded = decodeRoutingFrame(encodeLinkStateFrame(null, bare.record))
  assert.deepEqual(decoded, { type: 'link-state', certificate: null, record: bare.record })
})

test('a link carries each origin certificate once, again after a renewal or resendMs', () => {
  let now = 1_000_000
  const fc2 = new FloodCertificates(60_000, () => now)
  const link1 = {}
  const link2 = {}
  const cert = new Uint8Array([1, 2, 3])
  assert.equal(fc2.toSend(link1, 'node_a', cert), cert)
  assert.equal(fc2.toSend(link1, 'node_a', Uint8Array.from(cert)), null)
  assert.equal(fc2.toSend(link1, 'node_b', cert), cert, 'per origin')
  assert.equal(fc2.toSend(link2, 'node_a', cert), cert, 'per link: a new connection starts empty')
  const renewed = new Uint8Array([1, 2, 4])
  assert.equal(fc2.toSend(link1, 'node_a', renewed), renewed)
  assert.equal(fc2.toSend(link1, 'node_a', renewed), null)
  now += 60_000
  assert.equal(fc2.toSend(link1, 'node_a', renewed), renewed)
})

test('frames round-trip, and arbitrary or mutated bytes give a frame or a DecodeError', () => {
  const k = generateKeyPair()
  const ls = encodeLinkStateFrame(certFor(k, '100.64.0.1'), record(k, []))
  const d = decodeRoutingFrame(ls)
  assert.equal(d.type, 'link-state')
  const bare = encodeLinkStateFrame(null, record(k, []))
  const wg = encodeWgKeyFrame(signRecord('wg-key', new Uint8Array([1, 2, 3]), k))
  const w = decodeRoutingFrame(wg)
  assert.equal(w.type, 'wg-key')
  const check = (bytes: Uint8Array) => {
    try {
      decodeRoutingFrame(bytes)
    } catch (err) {
      assert.ok(err instanceof DecodeError, String(err))
    }
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => check(b)),
    { numRuns: 10_000 },
  )
  fc.assert(
    fc.property(fc.constantFrom(ls, bare, wg), fc.nat(), fc.nat(255), (base, i, v) => {
      const m = Uint8Array.from(base)
      m[i % m.length] = v
      check(m)
      check(m.subarray(0, i % m.length))
    }),
    { numRuns: 10_000 },
  )
})
