// WireGuard key handling: the base64 text form `wg` speaks, validation with typed errors, and X25519 public-key
// derivation (libsodium's X25519, which clamps as WireGuard does; equals `wg pubkey`) so the diff can spot a
// peer that is really ourselves. libsodium, not node:crypto: the daemon has it loaded already, and node:crypto's
// key objects cost ~3.5 ms on their first use here, in every daemon's start-up.

import sodium from 'sodium-native'
import { randomBytes } from '../identity/index.js'
import { configInvalid } from './errors.js'

export const KEY_BYTES = 32
const BASE64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/

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
 * The X25519 public key of a private key (clamping as X25519 does), base64. Remembers the last one: the key
 * only changes on rotation.
 */
export function publicKeyOf(privateKey: string | Buffer | Uint8Array): string {
  const b64 = keyToBase64(privateKey, 'private key')
  if (lastDerived?.privateKey === b64) return lastDerived.publicKey
  const pub = Buffer.alloc(KEY_BYTES)
  sodium.crypto_scalarmult_base(pub, Buffer.from(b64, 'base64'))
  const publicKey = pub.toString('base64')
  lastDerived = { privateKey: b64, publicKey }
  return publicKey
}

/** A fresh private key (32 bytes, clamped), as `wg genkey` would make. */
export function generatePrivateKey(): Buffer {
  return clampInPlace(randomBytes(KEY_BYTES))
}

/**
 * A private key as WireGuard stores it: clamped (RFC 7748). `wg show` prints the clamped form, so desired
 * keys are compared in that form too; otherwise an unclamped key (libsodium's crypto_box_keypair) looks changed
 * on every reconfigure, and setting it again would needlessly reset sessions.
 */
export function clampPrivateKey(privateKey: string | Buffer | Uint8Array): string {
  return clampInPlace(Buffer.from(keyToBase64(privateKey, 'private key'), 'base64')).toString('base64')
}

/** RFC 7748's clamping of an X25519 scalar, on the bytes given. */
function clampInPlace(raw: Buffer): Buffer {
  raw[0]! &= 248
  raw[31]! &= 127
  raw[31]! |= 64
  return raw
}
