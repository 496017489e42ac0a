// Signed records: the one envelope for everything a key vouches for (node certificates, revocations,
// WireGuard key announcements, link-state records). The signature covers a domain-separated message
//
//   utf8('blackroad/v1/') || varint(len(kind)) || utf8(kind) || varint(len(body)) || body
//
// so a signature made for one kind can never verify as another, and no (kind, body) split of the same
// bytes is ambiguous. Wire form (signedRecordCodec):
//
//   u8 version=1 | string kind | bytes body | 32 bytes signer Ed25519 key | 64 bytes signature

import {
  type Codec,
  DecodeError,
  decodeWith,
  EncodeError,
  encodeWith,
  type Reader,
  utf8Encode,
  Writer,
} from '../wire/index.js'
import { TrustError } from './errors.js'
import { type KeyPair, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, sign, verify } from './keys.js'

export const RECORD_DOMAIN = 'blackroad/v1/'
export const RECORD_VERSION = 1
/** Record kinds are short lowercase names: 'node-cert', 'revocation', 'wg-key', 'link-state'. */
export const RECORD_KIND_PATTERN = /^[a-z][a-z0-9-]{0,63}$/
export const MAX_RECORD_BODY = 256 * 1024

export interface SignedRecord {
  kind: string
  body: Uint8Array
  /** The signer's Ed25519 public key. */
  signer: Buffer
  signature: Buffer
}

const DOMAIN_BYTES = utf8Encode(RECORD_DOMAIN)

function checkKind(kind: string): void {
  if (!RECORD_KIND_PATTERN.test(kind)) throw new TypeError(`invalid record kind ${JSON.stringify(kind)}`)
}

/** The exact bytes a record's signature covers (see the top of this file). */
export function recordSigningMessage(kind: string, body: Uint8Array): Uint8Array {
  const w = new Writer(DOMAIN_BYTES.length + kind.length * 3 + body.length + 16)
  w.fixed(DOMAIN_BYTES).string(kind).bytes(body)
  return w.finish()
}

export function signRecord(kind: string, body: Uint8Array, keyPair: KeyPair): SignedRecord {
  checkKind(kind)
  if (body.length > MAX_RECORD_BODY)
    throw new TypeError(`record body of ${body.length} bytes exceeds ${MAX_RECORD_BODY}`)
  return {
    kind,
    body,
    signer: Buffer.from(keyPair.publicKey),
    signature: sign(recordSigningMessage(kind, body), keyPair.secretKey),
  }
}

/**
 * Checks a record is of `expectedKind`, signed by `trustedKey` (when given) and that the signature is
 * valid; returns its body. Throws TrustError: WRONG_KIND, UNTRUSTED_SIGNER, BAD_SIGNATURE.
 */
export function verifyRecord(rec: SignedRecord, expectedKind: string, trustedKey?: Uint8Array): Uint8Array {
  if (rec.kind !== expectedKind) {
    throw new TrustError('WRONG_KIND', `expected a "${expectedKind}" record, got "${rec.kind}"`)
  }
  if (trustedKey !== undefined && !Buffer.from(trustedKey).equals(rec.signer)) {
    throw new TrustError(
      'UNTRUSTED_SIGNER',
      `"${rec.kind}" record is signed by a key that is not trusted for it`,
    )
  }
  if (
    rec.body.length > MAX_RECORD_BODY ||
    !verify(rec.signature, recordSigningMessage(rec.kind, rec.body), rec.signer)
  ) {
    throw new TrustError('BAD_SIGNATURE', `"${rec.kind}" record signature does not verify`)
  }
  return rec.body
}

export const signedRecordCodec: Codec<SignedRecord> = {
  encode(w, rec) {
    if (rec.signer.length !== PUBLIC_KEY_BYTES || rec.signature.length !== SIGNATURE_BYTES) {
      throw new EncodeError('signed record needs a 32-byte signer key and a 64-byte signature')
    }
    w.u8(RECORD_VERSION).string(rec.kind).bytes(rec.body).fixed(rec.signer).fixed(rec.signature)
  },
  decode(r: Reader) {
    const at = r.offset
    const version = r.u8()
    if (version !== RECORD_VERSION) {
      throw new DecodeError('unsupported-version', `signed record version ${version} is not supported`, at)
    }
    const kindAt = r.offset
    const kind = r.string(64)
    if (!RECORD_KIND_PATTERN.test(kind)) throw new DecodeError('invalid-value', 'invalid record kind', kindAt)
    // Copies: a record outlives the frame it arrived in.
    const body = r.bytes(MAX_RECORD_BODY).slice()
    const signer = Buffer.from(r.fixed(PUBLIC_KEY_BYTES))
    const signature = Buffer.from(r.fixed(SIGNATURE_BYTES))
    return { kind, body, signer, signature }
  },
}

export function encodeSignedRecord(rec: SignedRecord): Uint8Array {
  checkKind(rec.kind)
  return encodeWith(signedRecordCodec, rec, rec.body.length + rec.kind.length + 112)
}

/** Decodes one record occupying all of `bytes`; DecodeError on anything malformed. */
export function decodeSignedRecord(bytes: Uint8Array): SignedRecord {
  return decodeWith(signedRecordCodec, bytes)
}
