// TLS identities from node keys. The join channel is TLS 1.3 in which each side presents a self-signed X.509
// certificate whose key IS its Ed25519 node key; nobody trusts these certificates as such. TLS 1.3's
// CertificateVerify proves that the peer holds that key for this very handshake, and the application then decides
// what the key is worth: the joining node checks the control plane's node certificate (signed by the root whose
// fingerprint the join token pins) names that key; the control plane checks a renewing node's key is registered.
// Node has no X.509 builder, so the certificate is encoded here: a minimal v3 certificate in DER.

import { createPrivateKey, createPublicKey, type KeyObject, sign, type X509Certificate } from 'node:crypto'
import type { KeyPair } from '../identity/index.js'
import { randomBytes } from '../identity/index.js'
import { base64urlDecode, base64urlEncode } from '../wire/index.js'

export interface TlsIdentity {
  /** PEM, for tls.createServer / tls.connect. */
  readonly key: string
  readonly cert: string
}

const ED25519_ALG = Buffer.from([0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70])
const OID_COMMON_NAME = Buffer.from([0x06, 0x03, 0x55, 0x04, 0x03])

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content)
  return Buffer.concat([Buffer.from([tag]), len(body.length), body])
}

const seq = (...c: Buffer[]) => tlv(0x30, ...c)

function name(cn: string): Buffer {
  return seq(tlv(0x31, seq(OID_COMMON_NAME, tlv(0x0c, Buffer.from(cn, 'utf8')))))
}

function time(ms: number): Buffer {
  const iso = new Date(ms).toISOString() // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`
  const year = new Date(ms).getUTCFullYear()
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return year < 2050
    ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii'))
    : tlv(0x18, Buffer.from(digits, 'ascii'))
}

/** The node key as a Node KeyObject (sodium's secret key is seed || public key). */
export function privateKeyObject(kp: KeyPair): KeyObject {
  return createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'Ed25519',
      d: base64urlEncode(kp.secretKey.subarray(0, 32)),
      x: base64urlEncode(kp.publicKey),
    },
    format: 'jwk',
  })
}

/** A self-signed X.509 v3 certificate for the node key, valid from an hour ago for `validMs`. */
export function tlsIdentity(
  kp: KeyPair,
  commonName: string,
  now = Date.now(),
  validMs = 24 * 3600_000,
): TlsIdentity {
  const priv = privateKeyObject(kp)
  const spki = Buffer.from(createPublicKey(priv).export({ type: 'spki', format: 'der' }))
  const serial = randomBytes(8)
  serial[0] = (serial[0]! & 0x7f) | 0x01
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, serial),
    ED25519_ALG,
    name(commonName),
    seq(time(now - 3600_000), time(now + validMs)),
    name(commonName),
    spki,
  )
  const signature = sign(null, tbs, priv)
  const der = seq(tbs, ED25519_ALG, tlv(0x03, Buffer.from([0]), signature))
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n')
  return {
    key: priv.export({ type: 'pkcs8', format: 'pem' }).toString(),
    cert: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`,
  }
}

/** The raw Ed25519 key of a peer's TLS certificate, or null if it is not an Ed25519 certificate. */
export function ed25519KeyOf(cert: X509Certificate | undefined): Buffer | null {
  if (!cert) return null
  const key = cert.publicKey
  if (key.asymmetricKeyType !== 'ed25519') return null
  const jwk = key.export({ format: 'jwk' })
  if (typeof jwk.x !== 'string') return null
  const raw = Buffer.from(base64urlDecode(jwk.x))
  return raw.length === 32 ? raw : null
}
