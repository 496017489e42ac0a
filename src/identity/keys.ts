// Ed25519 node and root keys, the X25519 keys WireGuard uses, the ids and fingerprints derived from public
// keys, and the key file format. A node's Ed25519 key is its identity (and its hyperswarm Noise key); its
// WireGuard key is a separate X25519 key so it can rotate without changing who the node is.
//
// Derived names (all from SHA-256 of the 32-byte Ed25519 public key, so anyone can recompute them):
//   fingerprint  'SHA256:' + base64url(sha256(pk))                   e.g. SHA256:q1M6...  (43 chars after ':')
//   node id      'node_' + first 16 chars of base32(sha256(pk))      80 bits, lowercase a-z2-7
//
// Key file (text, mode 0600): '#' comment lines, then exactly one line
//   blackroad-ed25519-v1 <base64url of the 32-byte seed>
// The seed alone determines the key pair; the version tag lets a future format be told apart.

import { promises as fs } from 'node:fs'
import path from 'node:path'
import sodium from 'sodium-native'
import { base32Encode, base64urlDecode, base64urlEncode, DecodeError } from '../wire/index.js'
import { KeyError } from './errors.js'
import { ensurePrivateDir, writeFileAtomic } from './files.js'

export interface KeyPair {
  /** Ed25519 public key, 32 bytes. */
  publicKey: Buffer
  /** libsodium's 64-byte Ed25519 secret key: seed (32) followed by the public key (32). */
  secretKey: Buffer
}

/** Curve25519 keys in the form WireGuard takes them (32 bytes each). */
export interface X25519KeyPair {
  publicKey: Buffer
  secretKey: Buffer
}

export const PUBLIC_KEY_BYTES = 32
export const SECRET_KEY_BYTES = 64
export const SEED_BYTES = 32
export const SIGNATURE_BYTES = 64

const KEY_FILE_TAG = 'blackroad-ed25519-v1'
const KEY_FILE_HEADER =
  '# BlackRoad Ed25519 key seed. Secret: keep this file mode 0600 and never copy it off the node.\n'
const MAX_KEY_FILE_BYTES = 4096

function requireLength(buf: Uint8Array, n: number, what: string): void {
  if (!(buf instanceof Uint8Array) || buf.length !== n) {
    throw new KeyError(
      'KEY_INVALID',
      `${what} must be ${n} bytes, got ${buf instanceof Uint8Array ? buf.length : typeof buf}`,
    )
  }
}

export function sha256(data: Uint8Array): Buffer {
  const out = Buffer.alloc(sodium.crypto_hash_sha256_BYTES)
  sodium.crypto_hash_sha256(out, data)
  return out
}

export function randomBytes(n: number): Buffer {
  const out = Buffer.alloc(n)
  sodium.randombytes_buf(out)
  return out
}

export function generateKeyPair(): KeyPair {
  const publicKey = Buffer.alloc(PUBLIC_KEY_BYTES)
  const secretKey = Buffer.alloc(SECRET_KEY_BYTES)
  sodium.crypto_sign_keypair(publicKey, secretKey)
  return { publicKey, secretKey }
}

export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  requireLength(seed, SEED_BYTES, 'seed')
  const publicKey = Buffer.alloc(PUBLIC_KEY_BYTES)
  const secretKey = Buffer.alloc(SECRET_KEY_BYTES)
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed)
  return { publicKey, secretKey }
}

/** Detached Ed25519 signature (64 bytes). */
export function sign(message: Uint8Array, secretKey: Uint8Array): Buffer {
  requireLength(secretKey, SECRET_KEY_BYTES, 'secret key')
  const signature = Buffer.alloc(SIGNATURE_BYTES)
  sodium.crypto_sign_detached(signature, message, secretKey)
  return signature
}

/** False for a bad signature and for wrongly sized inputs; never throws on untrusted data. */
export function verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_BYTES) return false
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_BYTES) return false
  if (!(message instanceof Uint8Array)) return false
  return sodium.crypto_sign_verify_detached(signature, message, publicKey)
}

/** 'SHA256:' + base64url(sha256(publicKey)), the form shown to people and used as a JWT kid. */
export function fingerprint(publicKey: Uint8Array): string {
  requireLength(publicKey, PUBLIC_KEY_BYTES, 'public key')
  return 'SHA256:' + base64urlEncode(sha256(publicKey))
}

/** 'node_' + 16 lowercase base32 characters (80 bits) of sha256(publicKey). */
export function nodeIdFromPublicKey(publicKey: Uint8Array): string {
  requireLength(publicKey, PUBLIC_KEY_BYTES, 'public key')
  return 'node_' + base32Encode(sha256(publicKey).subarray(0, 10))
}

export const NODE_ID_PATTERN = /^node_[a-z2-7]{16}$/

/** The X25519 keys birationally equivalent to an Ed25519 pair (one key, two uses). */
export function x25519FromEd25519(kp: KeyPair): X25519KeyPair {
  requireLength(kp.publicKey, PUBLIC_KEY_BYTES, 'public key')
  requireLength(kp.secretKey, SECRET_KEY_BYTES, 'secret key')
  const publicKey = Buffer.alloc(32)
  const secretKey = Buffer.alloc(32)
  sodium.crypto_sign_ed25519_pk_to_curve25519(publicKey, kp.publicKey)
  sodium.crypto_sign_ed25519_sk_to_curve25519(secretKey, kp.secretKey)
  return { publicKey, secretKey }
}

/** A fresh X25519 pair, independent of any identity key: the node's rotating WireGuard key. */
export function generateX25519KeyPair(): X25519KeyPair {
  const publicKey = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES)
  const secretKey = Buffer.alloc(sodium.crypto_box_SECRETKEYBYTES)
  sodium.crypto_box_keypair(publicKey, secretKey)
  return { publicKey, secretKey }
}

/** Serialises a key pair in the key file format described at the top of this file. */
export function formatKeyFile(kp: KeyPair): string {
  requireLength(kp.secretKey, SECRET_KEY_BYTES, 'secret key')
  return `${KEY_FILE_HEADER}${KEY_FILE_TAG} ${base64urlEncode(kp.secretKey.subarray(0, SEED_BYTES))}\n`
}

/** Parses a key file's text; `where` names the file in errors. */
export function parseKeyFile(text: string, where = 'key file'): KeyPair {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''))
  const content = lines.filter((l) => l !== '' && !l.startsWith('#'))
  if (content.length !== 1) {
    throw new KeyError(
      'KEY_FILE_MALFORMED',
      `${where}: expected one "${KEY_FILE_TAG} <seed>" line, found ${content.length}`,
    )
  }
  const parts = content[0]!.split(' ')
  if (parts.length !== 2 || parts[0] !== KEY_FILE_TAG) {
    throw new KeyError(
      'KEY_FILE_MALFORMED',
      `${where}: the key line must be "${KEY_FILE_TAG} <base64url seed>"`,
    )
  }
  let seed: Uint8Array
  try {
    seed = base64urlDecode(parts[1]!)
  } catch (err) {
    if (err instanceof DecodeError) {
      throw new KeyError('KEY_FILE_MALFORMED', `${where}: the seed is not valid base64url`, { cause: err })
    }
    throw err
  }
  if (seed.length !== SEED_BYTES) {
    throw new KeyError(
      'KEY_FILE_MALFORMED',
      `${where}: the seed is ${seed.length} bytes, expected ${SEED_BYTES}`,
    )
  }
  return keyPairFromSeed(seed)
}

/**
 * Reads a key file, refusing one that group or others may read or write (KEY_FILE_INSECURE): a node key
 * that others could read is no longer this node's identity. The mode is checked on the opened file, so a
 * swap between check and read is not possible.
 */
export async function readKeyFile(file: string): Promise<KeyPair> {
  const fh = await fs.open(file, 'r')
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new KeyError('KEY_FILE_MALFORMED', `${file}: not a regular file`)
    if ((st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0')
      throw new KeyError(
        'KEY_FILE_INSECURE',
        `${file} has mode ${mode}; a key file must not be accessible to group or others (run: chmod 600 ${file})`,
      )
    }
    if (st.size > MAX_KEY_FILE_BYTES)
      throw new KeyError('KEY_FILE_MALFORMED', `${file}: too large for a key file`)
    return parseKeyFile(await fh.readFile('utf8'), file)
  } finally {
    await fh.close()
  }
}

/**
 * Writes a key file atomically with mode 0600, creating its directory (0700) if missing. With
 * `overwrite: false` (the default) an existing file is never replaced: the call fails with EEXIST.
 */
export async function writeKeyFile(
  file: string,
  kp: KeyPair,
  opts: { overwrite?: boolean } = {},
): Promise<void> {
  await ensurePrivateDir(path.dirname(file))
  await writeFileAtomic(file, formatKeyFile(kp), { mode: 0o600, exclusive: !opts.overwrite })
}

/** The key in `file`, or a new one written there if the file does not exist. */
export async function loadOrCreateKey(file: string): Promise<KeyPair> {
  try {
    return await readKeyFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const kp = generateKeyPair()
  try {
    await writeKeyFile(file, kp)
    return kp
  } catch (err) {
    // Another process created it between our read and write: theirs is the key.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readKeyFile(file)
    throw err
  }
}
