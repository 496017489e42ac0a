// WireGuard key handling: the base64 text form `wg` speaks, validation with typed errors, and X25519 public-key
// derivation (node:crypto; equals `wg pubkey`) so the diff can spot a peer that is really ourselves.

import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto'
import { configInvalid } from './errors.js'

export const KEY_BYTES = 32
const BASE64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/

// DER prefix of a PKCS#8 X25519 private key (RFC 8410); the 32 raw key bytes follow it.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')

/** True when text is the canonical 44-character base64 of 32 bytes, as `wg` prints keys. */
export function isBase64Key(text: string): boolean {
  return BASE64_KEY.test(text)
}

/** A key given as Buffer or base64 text -> canonical base64; WG_CONFIG_INVALID with `what` in the message. */
export function keyToBase64(key: string | Buffer | Uint8Array, what: string): string {
  if (typeof key === 'string') {
    if (!isBase64Key(key))
      throw configInvalid(`${what}: not a base64 WireGuard key (44 characters, 32 bytes)`)
    return key
  }
  if (key.length !== KEY_BYTES) throw configInvalid(`${what}: a WireGuard key is 32 bytes, got ${key.length}`)
  return Buffer.from(key).toString('base64')
}

/** The last key publicKeyOf derived: every reconfigure and every UAPI read asks again for the same key. */
let lastDerived: { privateKey: string; publicKey: string } | null = null

/**
 * The X25519 public key of a private key (clamping as X25519 does), base64. Remembers the last one: the
 * derivation costs ~0.6 ms here, and the key only changes on rotation.
 */
export function publicKeyOf(privateKey: string | Buffer | Uint8Array): string {
  const b64 = keyToBase64(privateKey, 'private key')
  if (lastDerived?.privateKey === b64) return lastDerived.publicKey
  const priv = createPrivateKey({
    key: Buffer.concat([PKCS8_X25519_PREFIX, Buffer.from(b64, 'base64')]),
    format: 'der',
    type: 'pkcs8',
  })
  const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' })
  const publicKey = spki.subarray(spki.length - KEY_BYTES).toString('base64')
  lastDerived = { privateKey: b64, publicKey }
  return publicKey
}

/** A fresh private key (32 bytes, clamped), as `wg genkey` would make. */
export function generatePrivateKey(): Buffer {
  const { privateKey } = generateKeyPairSync('x25519')
  const der = privateKey.export({ format: 'der', type: 'pkcs8' })
  const raw = Buffer.from(der.subarray(der.length - KEY_BYTES))
  raw[0] = (raw[0] ?? 0) & 248
  raw[31] = ((raw[31] ?? 0) & 127) | 64
  return raw
}

/**
 * A private key as WireGuard stores it: clamped (RFC 7748). `wg show` prints the clamped form, so desired
 * keys are compared in that form too; otherwise an unclamped key (libsodium's crypto_box_keypair) looks changed
 * on every reconfigure, and setting it again would needlessly reset sessions.
 */
export function clampPrivateKey(privateKey: string | Buffer | Uint8Array): string {
  const raw = Buffer.from(keyToBase64(privateKey, 'private key'), 'base64')
  raw[0]! &= 248
  raw[31]! &= 127
  raw[31]! |= 64
  return raw.toString('base64')
}
