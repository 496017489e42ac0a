// The daemon's validated-config cache (src/config/cached.ts): an entry is taken only for the exact text under
// the same build key, and what it gives back is what validating the file gives; anything doubtful is parsed.

import assert from 'node:assert/strict'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { deserialize, serialize } from 'node:v8'
import { type ConfigParser, entryPath, loadConfigCached } from '../../src/config/cached.js'
import { ConfigError, parseConfig } from '../../src/config/index.js'

const EXAMPLES = path.join(import.meta.dirname, '..', '..', '..', 'config')

describe('loadConfigCached', () => {
  let dir: string
  let cacheDir: string
  let file: string
  let parses: number
  const parser = async (): Promise<ConfigParser> => (text, f) => {
    parses++
    return parseConfig(text, f)
  }
  const cache = () => ({ dir: cacheDir, key: 'build-1 v20' })

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'brt-cfgcache-'))
    cacheDir = path.join(dir, 'cache')
    await mkdir(cacheDir, { mode: 0o700 })
    file = path.join(dir, 'config.yaml')
    await writeFile(file, 'node:\n  name: pi-1\nlogging:\n  level: debug\n')
    parses = 0
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('validates once, then gives the same config back without parsing', async () => {
    const first = await loadConfigCached(file, cache(), parser)
    const second = await loadConfigCached(file, cache(), parser)
    assert.equal(parses, 1)
    assert.deepEqual([first.fromCache, second.fromCache], [false, true])
    assert.deepEqual(second.config, first.config)
    assert.equal(second.config.node.name, 'pi-1')
    assert.equal(second.config.logging.level, 'debug')
    const st = await stat(entryPath(cacheDir, file))
    assert.equal(st.mode & 0o777, 0o600)
  })

  it('parses again when the text, the build key or the entry itself differs', async () => {
    await loadConfigCached(file, cache(), parser)
    await writeFile(file, 'node:\n  name: pi-2\n')
    assert.equal((await loadConfigCached(file, cache(), parser)).config.node.name, 'pi-2')
    assert.equal(parses, 2)
    // A one-byte change (a trailing space) is another text.
    await writeFile(file, 'node:\n  name: pi-2 \n')
    await loadConfigCached(file, cache(), parser)
    assert.equal(parses, 3)
    await loadConfigCached(file, { dir: cacheDir, key: 'build-2 v20' }, parser)
    assert.equal(parses, 4)
    // Garbage in the entry: parsed, and the entry is good again afterwards.
    await writeFile(entryPath(cacheDir, file), Buffer.from('not a serialized entry'), { mode: 0o600 })
    await loadConfigCached(file, { dir: cacheDir, key: 'build-2 v20' }, parser)
    assert.equal(parses, 5)
    await loadConfigCached(file, { dir: cacheDir, key: 'build-2 v20' }, parser)
    assert.equal(parses, 5)
  })

  it('does not take an entry others may write, nor one made for another file', async () => {
    await loadConfigCached(file, cache(), parser)
    const at = entryPath(cacheDir, file)
    // A forged entry others could have written: ignored.
    const entry = deserialize(await readFile(at)) as { config: { node: { name: string } } }
    entry.config.node.name = 'forged'
    await writeFile(at, serialize(entry))
    await chmod(at, 0o666)
    assert.equal((await loadConfigCached(file, cache(), parser)).config.node.name, 'pi-1')
    assert.equal(parses, 2)
    // The same text at another path has its own entry.
    const other = path.join(dir, 'other.yaml')
    await writeFile(other, await readFile(file))
    assert.notEqual(entryPath(cacheDir, other), at)
    await loadConfigCached(other, cache(), parser)
    assert.equal(parses, 3)
  })

  it('never caches an invalid config: its errors come on every load', async () => {
    await writeFile(file, 'wireguard:\n  listen_port: 99999\n')
    for (let i = 0; i < 2; i++) {
      await assert.rejects(loadConfigCached(file, cache(), parser), (err: unknown) => {
        assert.ok(err instanceof ConfigError)
        assert.match(err.message, /listen_port/)
        return true
      })
    }
    assert.equal(parses, 2)
    assert.deepEqual(await readdir(cacheDir), [])
  })

  it('works without a usable cache directory, and without a cache', async () => {
    const missing = { dir: path.join(dir, 'no-such-dir'), key: 'k' }
    assert.equal((await loadConfigCached(file, missing, parser)).config.node.name, 'pi-1')
    assert.equal((await loadConfigCached(file, missing, parser)).config.node.name, 'pi-1')
    assert.equal((await loadConfigCached(file, undefined, parser)).config.node.name, 'pi-1')
    assert.equal(parses, 3)
    await assert.rejects(loadConfigCached(path.join(dir, 'absent.yaml'), cache(), parser), ConfigError)
  })

  it('removes entries of other files untouched for a week when it writes one', async () => {
    const old = path.join(cacheDir, 'blackroad.config-cache-0badc0de')
    const recent = path.join(cacheDir, 'blackroad.config-cache-0000beef')
    const unrelated = path.join(cacheDir, 'something-else')
    for (const f of [old, recent, unrelated]) await writeFile(f, 'x')
    const eightDaysAgo = new Date(Date.now() - 8 * 24 * 3_600_000)
    await utimes(old, eightDaysAgo, eightDaysAgo)
    await utimes(unrelated, eightDaysAgo, eightDaysAgo)
    await loadConfigCached(file, cache(), parser)
    const left = await readdir(cacheDir)
    assert.ok(!left.includes(path.basename(old)))
    assert.ok(left.includes(path.basename(recent)))
    assert.ok(left.includes(path.basename(unrelated)))
    assert.ok(left.includes(path.basename(entryPath(cacheDir, file))))
  })

  it('gives back exactly what validation gives for the example configs', async () => {
    for (const name of ['control-plane.yaml', 'edge-pi.yaml', 'primary-node.yaml']) {
      const f = path.join(dir, name)
      await writeFile(f, await readFile(path.join(EXAMPLES, name)))
      const parsed = parseConfig(await readFile(f, 'utf8'), f)
      await loadConfigCached(f, cache(), parser)
      const before = parses
      const cached = await loadConfigCached(f, cache(), parser)
      assert.equal(parses, before, `${name} came from the cache`)
      assert.ok(cached.fromCache)
      assert.deepEqual(cached.config, parsed, name)
    }
  })
})
