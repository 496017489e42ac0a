// The federation: its identity (an id derived from the root public key, so it cannot be claimed by
// anyone without that key), its human name, and the on-disk state of the node that holds the root key.
//
//   id             'fed_' + first 16 chars of base32(sha256(root public key))
//   cluster ids    'cluster_' + 10 random lowercase base32 chars (50 bits; the guide's 'cluster_abc123')
//
// Files in the state directory (made 0700 if missing):
//   root.key         the root Ed25519 key, key file format of keys.ts, mode 0600 (only on the root node)
//   federation.json  {"version":1,"id","name","root_public_key" (base64url),"created_at" (ISO 8601)}, 0600

import { promises as fs } from 'node:fs'
import path from 'node:path'
import { base32Encode, base64urlDecode, base64urlEncode } from '../wire/index.js'
import { FederationError } from './errors.js'
import { ensurePrivateDir, writeFileAtomic } from './files.js'
import {
  generateKeyPair,
  type KeyPair,
  PUBLIC_KEY_BYTES,
  randomBytes,
  readKeyFile,
  sha256,
  writeKeyFile,
} from './keys.js'

export interface Federation {
  id: string
  name: string
  rootPublicKey: Buffer
  /** Unix milliseconds. */
  createdAt: number
}

export const FEDERATION_ID_PATTERN = /^fed_[a-z2-7]{16}$/
/** Accepts the guide's 'cluster_abc123' style as well as ours (base32 is a subset of [a-z0-9]). */
export const CLUSTER_ID_PATTERN = /^cluster_[a-z0-9]{6,10}$/
/** A DNS label: names appear in mesh DNS. */
export const FEDERATION_NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

export const ROOT_KEY_FILE = 'root.key'
export const FEDERATION_FILE = 'federation.json'

export function federationIdFromRootKey(rootPublicKey: Uint8Array): string {
  if (rootPublicKey.length !== PUBLIC_KEY_BYTES) throw new TypeError('root public key must be 32 bytes')
  return 'fed_' + base32Encode(sha256(rootPublicKey).subarray(0, 10))
}

export function newClusterId(): string {
  return 'cluster_' + base32Encode(randomBytes(7)).slice(0, 10)
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file)
    return true
  } catch (err) {
    if (errno(err) === 'ENOENT') return false
    throw err
  }
}

/**
 * Creates a federation whose root key lives in this state directory. Refuses (FEDERATION_EXISTS) if the
 * directory already has a federation or a root key: replacing a root key would orphan every certificate.
 */
export async function initFederation(stateDir: string, name: string, now: number): Promise<Federation> {
  if (!FEDERATION_NAME_PATTERN.test(name)) {
    throw new FederationError(
      'FEDERATION_INVALID_NAME',
      `federation name ${JSON.stringify(name)} must be lowercase letters, digits and dashes (1..63)`,
    )
  }
  await ensurePrivateDir(stateDir)
  const fedFile = path.join(stateDir, FEDERATION_FILE)
  const keyFile = path.join(stateDir, ROOT_KEY_FILE)
  if (await exists(fedFile)) {
    throw new FederationError(
      'FEDERATION_EXISTS',
      `${fedFile} already exists: this node already has a federation`,
    )
  }
  if (await exists(keyFile)) {
    throw new FederationError(
      'FEDERATION_EXISTS',
      `${keyFile} already exists without ${FEDERATION_FILE}; restore that file or move the key away before init`,
    )
  }
  const root = generateKeyPair()
  try {
    await writeKeyFile(keyFile, root)
  } catch (err) {
    if (errno(err) === 'EEXIST')
      throw new FederationError('FEDERATION_EXISTS', `${keyFile} was created concurrently`)
    throw err
  }
  const fed: Federation = {
    id: federationIdFromRootKey(root.publicKey),
    name,
    rootPublicKey: root.publicKey,
    createdAt: now,
  }
  try {
    await writeFederationFile(stateDir, fed, { overwrite: false })
  } catch (err) {
    // Without federation.json the new key is useless and would block the next init: take it back.
    await fs.rm(keyFile, { force: true })
    if (errno(err) === 'EEXIST')
      throw new FederationError('FEDERATION_EXISTS', `${fedFile} was created concurrently`)
    throw err
  }
  return fed
}

/** Writes federation.json atomically (also used by a node that joins and learns its federation). */
export async function writeFederationFile(
  stateDir: string,
  fed: Federation,
  opts: { overwrite?: boolean } = {},
): Promise<void> {
  await ensurePrivateDir(stateDir)
  const doc = {
    version: 1,
    id: fed.id,
    name: fed.name,
    root_public_key: base64urlEncode(fed.rootPublicKey),
    created_at: new Date(fed.createdAt).toISOString(),
  }
  await writeFileAtomic(path.join(stateDir, FEDERATION_FILE), `${JSON.stringify(doc, null, 2)}\n`, {
    mode: 0o600,
    exclusive: !opts.overwrite,
  })
}

/** Reads federation.json; FEDERATION_NOT_FOUND if absent, FEDERATION_MALFORMED if it cannot be trusted. */
export async function loadFederation(stateDir: string): Promise<Federation> {
  const file = path.join(stateDir, FEDERATION_FILE)
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (err) {
    if (errno(err) === 'ENOENT') {
      throw new FederationError(
        'FEDERATION_NOT_FOUND',
        `no federation in ${stateDir}: run \`blackroad federation init\` or join one`,
      )
    }
    throw err
  }
  return parseFederationFile(text, file)
}

export function parseFederationFile(text: string, where = FEDERATION_FILE): Federation {
  const bad = (why: string, cause?: unknown): FederationError =>
    new FederationError(
      'FEDERATION_MALFORMED',
      `${where}: ${why}`,
      cause === undefined ? undefined : { cause },
    )
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw bad('not valid JSON', err)
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('not a JSON object')
  const d = doc as Record<string, unknown>
  if (d.version !== 1) throw bad(`unsupported version ${JSON.stringify(d.version)}`)
  const { id, name, root_public_key: rootKey, created_at: createdAt } = d
  if (
    typeof id !== 'string' ||
    typeof name !== 'string' ||
    typeof rootKey !== 'string' ||
    typeof createdAt !== 'string'
  ) {
    throw bad('id, name, root_public_key and created_at must be strings')
  }
  let rootPublicKey: Buffer
  try {
    rootPublicKey = Buffer.from(base64urlDecode(rootKey))
  } catch (err) {
    throw bad('root_public_key is not base64url', err)
  }
  if (rootPublicKey.length !== PUBLIC_KEY_BYTES) throw bad('root_public_key must be 32 bytes')
  if (id !== federationIdFromRootKey(rootPublicKey)) throw bad(`id ${id} does not match the root public key`)
  const ms = Date.parse(createdAt)
  if (Number.isNaN(ms)) throw bad('created_at is not a date')
  return { id, name, rootPublicKey, createdAt: ms }
}

/** The root key pair, checked against federation.json so a stray key file is never used to sign. */
export async function loadRootKey(stateDir: string, fed?: Federation): Promise<KeyPair> {
  const federation = fed ?? (await loadFederation(stateDir))
  const kp = await readKeyFile(path.join(stateDir, ROOT_KEY_FILE))
  if (!kp.publicKey.equals(federation.rootPublicKey)) {
    throw new FederationError(
      'FEDERATION_MALFORMED',
      `${ROOT_KEY_FILE} is not the root key of federation ${federation.id}`,
    )
  }
  return kp
}
