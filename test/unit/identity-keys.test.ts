// Tests for node keys: signing, derived ids and fingerprints, X25519 conversion, and the key file
// (created 0600 in a 0700 directory, insecure modes refused, malformed files refused, atomic creation).

import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import sodium from 'sodium-native'
import {
  fingerprint,
  formatKeyFile,
  generateKeyPair,
  generateX25519KeyPair,
  KeyError,
  keyPairFromSeed,
  loadOrCreateKey,
  NODE_ID_PATTERN,
  nodeIdFromPublicKey,
  parseKeyFile,
  readKeyFile,
  sha256,
  sign,
  verify,
  writeKeyFile,
  x25519FromEd25519,
} from '../../src/identity/index.js'
import { base64urlEncode } from '../../src/wire/index.js'

let tmp: string
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'br-keys-'))
})
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true })
})

function keyErr(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof KeyError, `expected KeyError, got ${String(err)}`)
    assert.equal(err.code, code)
    return true
  }
}

describe('keys', () => {
  test('sign and verify; a changed message, signature or key fails', () => {
    const kp = generateKeyPair()
    assert.equal(kp.publicKey.length, 32)
    assert.equal(kp.secretKey.length, 64)
    const msg = Buffer.from('hello mesh')
    const sig = sign(msg, kp.secretKey)
    assert.equal(sig.length, 64)
    assert.equal(verify(sig, msg, kp.publicKey), true)
    assert.equal(verify(sig, Buffer.from('hello mesH'), kp.publicKey), false)
    const bad = Buffer.from(sig)
    bad[10]! ^= 1
    assert.equal(verify(bad, msg, kp.publicKey), false)
    assert.equal(verify(sig, msg, generateKeyPair().publicKey), false)
    assert.equal(verify(sig.subarray(0, 63), msg, kp.publicKey), false)
    assert.equal(verify(sig, msg, kp.publicKey.subarray(0, 31)), false)
  })

  test('seeded keys match RFC 8032 test vector 1', () => {
    const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex')
    const kp = keyPairFromSeed(seed)
    assert.equal(
      kp.publicKey.toString('hex'),
      'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    )
    const sig = sign(new Uint8Array(0), kp.secretKey)
    assert.equal(
      sig.toString('hex'),
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    )
    assert.throws(() => keyPairFromSeed(seed.subarray(0, 31)), keyErr('KEY_INVALID'))
    assert.throws(() => sign(Buffer.from('x'), kp.publicKey), keyErr('KEY_INVALID'))
  })

  test('fingerprint and node id are stable functions of the public key', () => {
    const kp = keyPairFromSeed(Buffer.alloc(32, 7))
    const digest = sha256(kp.publicKey)
    assert.equal(fingerprint(kp.publicKey), 'SHA256:' + base64urlEncode(digest))
    assert.equal(fingerprint(kp.publicKey).length, 'SHA256:'.length + 43)
    const id = nodeIdFromPublicKey(kp.publicKey)
    assert.match(id, NODE_ID_PATTERN)
    assert.equal(id, nodeIdFromPublicKey(Buffer.from(kp.publicKey)))
    assert.notEqual(id, nodeIdFromPublicKey(generateKeyPair().publicKey))
    assert.throws(() => fingerprint(Buffer.alloc(31)), keyErr('KEY_INVALID'))
  })

  test('X25519 conversion agrees with scalar multiplication; WireGuard keys are independent', () => {
    const kp = generateKeyPair()
    const x = x25519FromEd25519(kp)
    const derived = Buffer.alloc(32)
    sodium.crypto_scalarmult_base(derived, x.secretKey)
    assert.deepEqual(derived, x.publicKey)
    const wg = generateX25519KeyPair()
    assert.equal(wg.publicKey.length, 32)
    sodium.crypto_scalarmult_base(derived, wg.secretKey)
    assert.deepEqual(derived, wg.publicKey)
    assert.notDeepEqual(wg.publicKey, generateX25519KeyPair().publicKey)
  })
})

describe('key file', () => {
  test('loadOrCreateKey creates a 0600 file in a new 0700 directory, then loads the same key', async () => {
    const dir = path.join(tmp, 'fresh', 'state')
    const file = path.join(dir, 'node.key')
    const kp = await loadOrCreateKey(file)
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600)
    assert.equal((await fs.stat(dir)).mode & 0o777, 0o700)
    assert.equal((await fs.stat(path.dirname(dir))).mode & 0o777, 0o700)
    const again = await loadOrCreateKey(file)
    assert.deepEqual(again.publicKey, kp.publicKey)
    assert.deepEqual(again.secretKey, kp.secretKey)
    // Nothing but the key file is left behind (no temporary files).
    assert.deepEqual(await fs.readdir(dir), ['node.key'])
  })

  test('the file format is a versioned base64url seed line', async () => {
    const kp = keyPairFromSeed(Buffer.alloc(32, 1))
    const text = formatKeyFile(kp)
    assert.match(text, /^blackroad-ed25519-v1 [A-Za-z0-9_-]{43}$/m)
    assert.deepEqual(parseKeyFile(text).publicKey, kp.publicKey)
    assert.deepEqual(parseKeyFile(text.replace(/\n/g, '\r\n')).publicKey, kp.publicKey)
  })

  test('an insecure key file is refused', async () => {
    const file = path.join(tmp, 'insecure.key')
    await writeKeyFile(file, generateKeyPair())
    for (const mode of [0o644, 0o640, 0o604, 0o660, 0o602]) {
      await fs.chmod(file, mode)
      await assert.rejects(readKeyFile(file), keyErr('KEY_FILE_INSECURE'), mode.toString(8))
      await assert.rejects(loadOrCreateKey(file), keyErr('KEY_FILE_INSECURE'))
    }
    await fs.chmod(file, 0o400)
    await readKeyFile(file)
  })

  test('malformed key files are refused, never replaced', async () => {
    const cases = [
      '',
      '# only a comment\n',
      'blackroad-ed25519-v2 ' + base64urlEncode(Buffer.alloc(32)) + '\n',
      'blackroad-ed25519-v1 ' + base64urlEncode(Buffer.alloc(31)) + '\n',
      'blackroad-ed25519-v1 ' + Buffer.alloc(32).toString('base64') + '\n',
      'blackroad-ed25519-v1  ' + base64urlEncode(Buffer.alloc(32)) + '\n',
      formatKeyFile(generateKeyPair()) + formatKeyFile(generateKeyPair()),
    ]
    for (const [i, text] of cases.entries()) {
      const file = path.join(tmp, `bad-${i}.key`)
      await fs.writeFile(file, text, { mode: 0o600 })
      await assert.rejects(loadOrCreateKey(file), keyErr('KEY_FILE_MALFORMED'), JSON.stringify(text))
      assert.equal(await fs.readFile(file, 'utf8'), text)
    }
  })

  test('writeKeyFile never replaces an existing key unless asked', async () => {
    const file = path.join(tmp, 'keep.key')
    const first = generateKeyPair()
    await writeKeyFile(file, first)
    await assert.rejects(writeKeyFile(file, generateKeyPair()), { code: 'EEXIST' })
    assert.deepEqual((await readKeyFile(file)).publicKey, first.publicKey)
    const second = generateKeyPair()
    const inodeBefore = (await fs.stat(file)).ino
    await writeKeyFile(file, second, { overwrite: true })
    // A new inode: the new key was moved into place, not written over the old one where a crash could tear it.
    assert.notEqual((await fs.stat(file)).ino, inodeBefore)
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600)
    assert.deepEqual((await readKeyFile(file)).publicKey, second.publicKey)
    assert.deepEqual(
      (await fs.readdir(tmp)).filter((n) => n.includes('.tmp-')),
      [],
    )
  })

  test('concurrent creators agree on one key', async () => {
    const file = path.join(tmp, 'race', 'node.key')
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateKey(file)))
    for (const k of keys) assert.deepEqual(k.publicKey, keys[0]!.publicKey)
    assert.deepEqual((await readKeyFile(file)).publicKey, keys[0]!.publicKey)
  })
})
