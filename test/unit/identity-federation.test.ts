// Tests for federation state on disk: init creates root.key (0600) and federation.json, refuses a second
// init, load reports a missing or corrupted federation with typed codes, and cluster ids have their form.

import assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  CLUSTER_ID_PATTERN,
  FEDERATION_ID_PATTERN,
  FederationError,
  federationIdFromRootKey,
  generateKeyPair,
  initFederation,
  KeyError,
  loadFederation,
  loadRootKey,
  newClusterId,
  sign,
  verify,
  writeFederationFile,
  writeKeyFile,
} from '../../src/identity/index.js'

let tmp: string
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'br-fed-'))
})
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true })
})

function fedErr(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof FederationError, `expected FederationError, got ${String(err)}`)
    assert.equal(err.code, code)
    return true
  }
}

const NOW = Date.UTC(2025, 2, 3, 4, 5, 6, 789)

describe('federation', () => {
  test('init writes root.key 0600 and federation.json; load returns the same federation', async () => {
    const dir = path.join(tmp, 'a', 'state')
    const fed = await initFederation(dir, 'blackroad-global', NOW)
    assert.match(fed.id, FEDERATION_ID_PATTERN)
    assert.equal(fed.id, federationIdFromRootKey(fed.rootPublicKey))
    assert.equal(fed.name, 'blackroad-global')
    assert.equal(fed.createdAt, NOW)
    assert.equal((await fs.stat(path.join(dir, 'root.key'))).mode & 0o777, 0o600)
    assert.equal((await fs.stat(dir)).mode & 0o777, 0o700)
    assert.deepStrictEqual(await loadFederation(dir), fed)
    const doc = JSON.parse(await fs.readFile(path.join(dir, 'federation.json'), 'utf8')) as Record<
      string,
      unknown
    >
    assert.equal(doc.created_at, new Date(NOW).toISOString())
    const root = await loadRootKey(dir)
    assert.deepEqual(root.publicKey, fed.rootPublicKey)
    assert.ok(verify(sign(Buffer.from('m'), root.secretKey), Buffer.from('m'), fed.rootPublicKey))
  })

  test('a second init is refused and leaves the first intact', async () => {
    const dir = path.join(tmp, 'twice')
    const fed = await initFederation(dir, 'one', NOW)
    await assert.rejects(initFederation(dir, 'two', NOW), fedErr('FEDERATION_EXISTS'))
    assert.deepStrictEqual(await loadFederation(dir), fed)
    assert.deepEqual((await loadRootKey(dir)).publicKey, fed.rootPublicKey)
  })

  test('a stray root.key without federation.json also blocks init', async () => {
    const dir = path.join(tmp, 'stray')
    await writeKeyFile(path.join(dir, 'root.key'), generateKeyPair())
    await assert.rejects(initFederation(dir, 'fed', NOW), fedErr('FEDERATION_EXISTS'))
  })

  test('invalid names are refused', async () => {
    for (const name of ['', 'Upper', 'has space', '-dash', 'x'.repeat(64)]) {
      await assert.rejects(
        initFederation(path.join(tmp, 'names'), name, NOW),
        fedErr('FEDERATION_INVALID_NAME'),
        name,
      )
    }
  })

  test('load: FEDERATION_NOT_FOUND when absent, FEDERATION_MALFORMED when corrupted', async () => {
    await assert.rejects(loadFederation(path.join(tmp, 'nothing-here')), fedErr('FEDERATION_NOT_FOUND'))
    const dir = path.join(tmp, 'corrupt')
    const fed = await initFederation(dir, 'c', NOW)
    const file = path.join(dir, 'federation.json')
    const good = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>
    const other = generateKeyPair().publicKey
    const variants: unknown[] = [
      'not json',
      '[]',
      { ...good, version: 2 },
      { ...good, id: 42 },
      { ...good, root_public_key: 'not base64!' },
      { ...good, root_public_key: Buffer.from(other).toString('base64url') },
      { ...good, created_at: 'yesterday' },
    ]
    for (const v of variants) {
      await fs.writeFile(file, typeof v === 'string' ? v : JSON.stringify(v))
      await assert.rejects(loadFederation(dir), fedErr('FEDERATION_MALFORMED'), JSON.stringify(v))
    }
    await writeFederationFile(dir, fed, { overwrite: true })
    assert.deepStrictEqual(await loadFederation(dir), fed)
  })

  test('loadRootKey refuses a root.key that is not the federation root, or is insecure', async () => {
    const dir = path.join(tmp, 'wrongkey')
    const fed = await initFederation(dir, 'w', NOW)
    const keyFile = path.join(dir, 'root.key')
    await writeKeyFile(keyFile, generateKeyPair(), { overwrite: true })
    await assert.rejects(loadRootKey(dir, fed), fedErr('FEDERATION_MALFORMED'))
    await fs.chmod(keyFile, 0o644)
    await assert.rejects(
      loadRootKey(dir, fed),
      (e) => e instanceof KeyError && e.code === 'KEY_FILE_INSECURE',
    )
  })

  test('cluster ids: cluster_ + 10 base32 characters, random', () => {
    const ids = new Set(Array.from({ length: 200 }, () => newClusterId()))
    assert.equal(ids.size, 200)
    for (const id of ids) {
      assert.match(id, /^cluster_[a-z2-7]{10}$/)
      assert.match(id, CLUSTER_ID_PATTERN)
    }
    assert.match('cluster_abc123', CLUSTER_ID_PATTERN)
  })
})
