// WireGuard key derivation against RFC 7748's X25519 test vector (section 6.1), clamping, and fresh keys.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { clampPrivateKey, generatePrivateKey, publicKeyOf } from '../../src/wireguard/keys.js'

const hex = (h: string) => Buffer.from(h, 'hex')

test("publicKeyOf gives RFC 7748's X25519 public keys, clamped or not", () => {
  const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')
  const alicePub = hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a').toString('base64')
  const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb')
  const bobPub = hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f').toString('base64')
  assert.equal(publicKeyOf(alice), alicePub)
  assert.equal(publicKeyOf(bob.toString('base64')), bobPub)
  // The remembered last key does not answer for another one.
  assert.equal(publicKeyOf(alice), alicePub)
  // WireGuard stores the clamped form; both name the same public key.
  assert.equal(publicKeyOf(clampPrivateKey(alice)), alicePub)
})

test('fresh private keys are clamped and distinct', () => {
  const keys = Array.from({ length: 16 }, () => generatePrivateKey())
  for (const k of keys) {
    assert.equal(k.length, 32)
    assert.equal(k[0]! & 7, 0)
    assert.equal(k[31]! & 0xc0, 0x40)
    assert.equal(clampPrivateKey(k), k.toString('base64'))
  }
  assert.equal(new Set(keys.map((k) => k.toString('hex'))).size, keys.length)
})
