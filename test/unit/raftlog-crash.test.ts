// kill -9 against the Raft store: a child process saves a growing log in a loop and reports each save
// after it resolves (after fsync); the parent kills it with SIGKILL at a random moment, reopens the store
// and checks that every acknowledged entry is there, intact, under a term at least as high as acknowledged.
// Several rounds on one directory, each writer continuing from what the last one left, so recovery from a
// torn tail is itself exercised under the next kill. Runs the fixture with tsx from source, or compiled
// from dist, whichever this test file is.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { RaftLogStore } from '../../src/raftlog/index.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const fromSource = import.meta.url.endsWith('.ts')
const fixture = path.join(here, 'fixtures', fromSource ? 'raftlog-writer.ts' : 'raftlog-writer.js')
const ROUNDS = 5

interface Ack {
  readonly last: number
  readonly term: number
}

/** Runs the writer until it has acknowledged `killAfter` saves (or finished), then SIGKILLs it. */
function runWriter(dir: string, killAfter: number): Promise<Ack | undefined> {
  return new Promise((resolve, reject) => {
    const args = fromSource ? ['--import', 'tsx', fixture, dir, '5000'] : [fixture, dir, '5000']
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let acks = 0
    let latest: Ack | undefined
    let buffered = ''
    let stderr = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      let nl = buffered.indexOf('\n')
      while (nl >= 0) {
        const [word, last, term] = buffered.slice(0, nl).split(' ')
        buffered = buffered.slice(nl + 1)
        if (word === 'ack') {
          latest = { last: Number(last), term: Number(term) }
          if (++acks === killAfter) child.kill('SIGKILL')
        }
        nl = buffered.indexOf('\n')
      }
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (signal !== 'SIGKILL' && code !== 0) reject(new Error(`writer exited ${code}: ${stderr}`))
      else resolve(latest)
    })
  })
}

test('kill -9 while saving in a loop: every acknowledged entry survives, intact', {
  timeout: 120_000,
}, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'raftlog-kill-'))
  try {
    let acked: Ack | undefined
    for (let round = 0; round < ROUNDS; round++) {
      const killAfter = 20 + Math.floor(Math.random() * 150)
      const ack = await runWriter(dir, killAfter)
      if (ack !== undefined) acked = ack
      const store = await RaftLogStore.open(dir)
      const d = store.initial
      await store.close()
      if (acked === undefined) continue
      assert.ok(d !== undefined, 'state survives')
      const last = d.snapshot.index + d.entries.length
      assert.ok(
        last >= acked.last,
        `round ${round}: acknowledged ${acked.last}, recovered only up to ${last}`,
      )
      assert.ok(d.term >= acked.term, `round ${round}: acknowledged term ${acked.term}, recovered ${d.term}`)
      for (const e of d.entries) {
        assert.equal(e.kind, 'command')
        if (e.kind === 'command') assert.equal(new TextDecoder().decode(e.data), `entry-${e.index}`)
      }
      if (d.snapshot.index > 0)
        assert.equal(new TextDecoder().decode(d.snapshot.data), `snap-${d.snapshot.index}`)
      t.diagnostic(
        `round ${round}: killed after ${killAfter} acks; acked ${acked.last}@${acked.term}, recovered ${last}@${d.term} (snapshot ${d.snapshot.index})`,
      )
    }
    assert.ok(acked !== undefined && acked.last > 0, 'the writer acknowledged something')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
