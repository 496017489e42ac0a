// The daemon's own V8 code cache (scripts/bin-loader.cjs): the first daemon started without one writes it into
// systemd's cache directory (CACHE_DIRECTORY) CODE_CACHE_DELAY_MS after it is up; the next start loads it and
// writes nothing; a cache V8 refuses (here: garbage under the right name), or one that others may write, is
// written over by the daemon that found it. A stop before the cache is written is a clean stop. The validated
// config is kept beside it (src/config/cached.ts): a restart takes it, a changed file is validated again.
// Every start must still come up.

import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { CODE_CACHE_DELAY_MS } from '../src/daemon/code-cache.js'
import { Lab, sleepMs } from './lib/index.js'
import { requireRoot } from './lib/mesh-inspect.js'

const SAVED = 'code cache for daemon start-up saved'
const READY = 'blackroad daemon ready'

test('the daemon writes its code cache once, uses it, and replaces one V8 refuses', async (t) => {
  if (!requireRoot(t)) return
  const lab = await Lab.create(t)
  const host = await lab.host('cache')
  const cacheDir = path.join(lab.scratchDir, 'code-cache')
  mkdirSync(cacheDir, { mode: 0o700 })
  // Up, and past the point where it saves (CODE_CACHE_DELAY_MS after "ready"): it logs SAVED when it wrote a
  // cache; an API request answered after the delay means a daemon that writes none has decided so.
  const started = async (saves: boolean) => {
    await d.proc.waitForLog(READY, 30_000)
    if (saves) await d.proc.waitForLog(SAVED, CODE_CACHE_DELAY_MS + 15_000)
    else await sleepMs(CODE_CACHE_DELAY_MS + 1_000)
    assert.equal((await d.cli(['status', '--json'])).code, 0)
  }
  const caches = () => readdirSync(cacheDir).filter((f) => f.startsWith('blackroad.cjs.daemon-cache-'))
  const d = await lab.startDaemon(
    host,
    {
      node: { name: 'cache' },
      cluster: { name: 'edge-home', region: 'local', type: 'edge' },
      metrics: { enabled: false },
    },
    { env: { CACHE_DIRECTORY: cacheDir } },
  )

  // First start: no cache yet, so the daemon writes one.
  await started(true)
  assert.ok(d.proc.logText().includes(SAVED), 'the first daemon saved its code cache')
  const [first] = caches()
  assert.equal(caches().length, 1, `one cache file: ${caches().join(', ')}`)
  const file = path.join(cacheDir, first!)
  const written = statSync(file)
  assert.ok(written.size > 100_000, `the cache holds compiled code (${written.size} bytes)`)

  // Second start: it loads that cache (had V8 refused it, the daemon would write another) and writes nothing.
  await d.restart()
  await started(false)
  assert.ok(!d.proc.logText().includes(SAVED), 'a daemon started with a cache does not write another')
  assert.deepEqual(caches(), [first])
  assert.equal(statSync(file).mtimeMs, written.mtimeMs, 'the cache file is untouched')

  // A cache V8 refuses: the daemon that found it compiles as without one and writes a good one over it.
  writeFileSync(file, Buffer.alloc(4096, 0x5a))
  await d.restart()
  await started(true)
  assert.ok(d.proc.logText().includes(SAVED), 'the refused cache was replaced')
  assert.deepEqual(caches(), [first])
  assert.ok(readFileSync(file).length > 100_000, 'the replacement holds compiled code again')
  // One that others may write is not even read: written over like a refused one.
  const good = readFileSync(file)
  chmodSync(file, 0o666)
  await d.restart()
  await started(true)
  assert.ok(d.proc.logText().includes(SAVED), 'a world-writable cache was replaced, not used')
  assert.equal(statSync(file).mode & 0o022, 0, 'the replacement is not writable by group or others')
  assert.ok(readFileSync(file).length > 100_000 && good.length > 100_000)
  assert.equal((await d.cli(['status', '--json'])).code, 0)

  // SIGTERM as soon as "ready" shows, before a daemon that found no usable cache (garbage again) writes one: a
  // clean stop (stop() throws on any exit but 0), and no cache written by a daemon that was not up long enough.
  writeFileSync(file, Buffer.alloc(4096, 0x5a))
  await d.restart()
  await d.proc.waitForLog(READY, 30_000)
  await d.stop()
  assert.ok(d.proc.logText().includes('shutting down'), 'the signal was handled')
  assert.ok(!d.proc.logText().includes(SAVED), 'stopped before the delay: no cache written')
  assert.equal(readFileSync(file).length, 4096, 'the garbage is still there')

  // The config: validated on a start after it changed, taken from the cache while it did not.
  const fromCache = () => {
    const line = d.proc
      .logText()
      .split('\n')
      .find((l) => l.includes('"blackroad daemon starting"'))
    assert.ok(line, 'a "starting" line')
    return (JSON.parse(line) as { config_from_cache?: boolean }).config_from_cache
  }
  await d.start()
  await started(true)
  assert.equal(fromCache(), true, 'unchanged config: from the cache')
  const configCaches = () => readdirSync(cacheDir).filter((f) => f.startsWith('blackroad.config-cache-'))
  assert.equal(configCaches().length, 1, `one config cache entry: ${configCaches().join(', ')}`)
  // (start() writes the config file from d.config.)
  ;(d.config.node as Record<string, unknown>).labels = { edited: 'yes' }
  await d.restart()
  await started(false)
  assert.equal(fromCache(), false, 'edited config: validated again')
  await d.restart()
  await started(false)
  assert.equal(fromCache(), true, 'and cached again')
  await d.stop()
})
