// The helper-process supervisor against fake processes: restart with growing backoff, the restart hook, a failed
// first start, TERM-then-KILL on stop, and no restart after stop.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Exec, ExitInfo, SpawnedProcess, SpawnOptions } from '../../src/os/exec.js'
import { Supervisor } from '../../src/wireguard/supervisor.js'

class FakeProc implements SpawnedProcess {
  readonly pid: number
  readonly commandLine = 'fake'
  readonly exited: Promise<ExitInfo>
  readonly signals: string[] = []
  ignoreTerm = false
  private resolveExit!: (info: ExitInfo) => void
  private alive = true

  constructor(
    pid: number,
    readonly options: SpawnOptions,
  ) {
    this.pid = pid
    this.exited = new Promise((r) => {
      this.resolveExit = r
    })
  }

  die(info: ExitInfo = { code: null, signal: 'SIGKILL' }): void {
    if (!this.alive) return
    this.alive = false
    this.resolveExit(info)
  }

  kill(signal: NodeJS.Signals): boolean {
    if (!this.alive) return false
    this.signals.push(signal)
    if (signal === 'SIGKILL' || !this.ignoreTerm) setImmediate(() => this.die({ code: null, signal }))
    return true
  }
}

function fakeExec(): { exec: Exec; procs: FakeProc[]; spawnTimes: number[] } {
  const procs: FakeProc[] = []
  const spawnTimes: number[] = []
  const exec: Exec = {
    run: () => Promise.reject(new Error('not used')),
    spawn: (_cmd, _args, options = {}) => {
      const p = new FakeProc(1000 + procs.length, options)
      procs.push(p)
      spawnTimes.push(Date.now())
      return p
    },
  }
  return { exec, procs, spawnTimes }
}

async function until(check: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}

test('a dead process is restarted with growing backoff and the owner re-applies state', async () => {
  const { exec, procs, spawnTimes } = fakeExec()
  const restarted: (number | undefined)[] = []
  let prepared = 0
  const sup = new Supervisor({
    exec,
    cmd: 'wireguard-go',
    args: ['-f', 'x'],
    label: 'test',
    backoff: { initialMs: 30, maxMs: 1_000, resetAfterMs: 60_000 },
    prepare: async () => {
      prepared++
    },
    onRestart: async (pid) => {
      restarted.push(pid)
    },
  })
  await sup.start()
  assert.equal(sup.pid, 1000)
  procs[0]?.die()
  await until(() => restarted.length === 1)
  assert.equal(sup.pid, 1001)
  procs[1]?.die()
  await until(() => restarted.length === 2)
  assert.deepEqual(restarted, [1001, 1002])
  assert.equal(sup.restarts, 2)
  assert.equal(prepared, 3, 'prepare runs before every start')
  const gap1 = (spawnTimes[1] as number) - (spawnTimes[0] as number)
  const gap2 = (spawnTimes[2] as number) - (spawnTimes[1] as number)
  assert.ok(gap1 >= 25, `first restart after ${gap1} ms`)
  assert.ok(gap2 >= 55, `second restart after ${gap2} ms (backoff should double)`)
  await sup.stop()
})

test('a restart that fails to become ready is retried', async () => {
  const { exec, procs } = fakeExec()
  let readyCalls = 0
  const sup = new Supervisor({
    exec,
    cmd: 'x',
    args: [],
    label: 'test',
    backoff: { initialMs: 10, maxMs: 20 },
    ready: async () => {
      readyCalls++
      if (readyCalls === 2) throw new Error('no socket')
    },
  })
  await sup.start()
  procs[0]?.die()
  await until(() => sup.restarts === 1)
  assert.equal(readyCalls, 3)
  assert.deepEqual(procs[1]?.signals, ['SIGTERM'], 'the process that never became ready was stopped')
  await sup.stop()
})

test('a first start that fails throws and does not supervise', async () => {
  const { exec, procs } = fakeExec()
  // ready never resolves on its own: the process must be seen dying during start.
  const ready = () => new Promise<void>(() => {})
  const sup = new Supervisor({ exec, cmd: 'x', args: [], label: 'test', backoff: { initialMs: 5 }, ready })
  const started = sup.start()
  await until(() => procs.length === 1)
  procs[0]?.die({ code: 1, signal: null })
  await assert.rejects(started, /exited during start \(exit status 1\)/)
  await new Promise((r) => setTimeout(r, 50))
  assert.equal(procs.length, 1, 'no restart after a failed first start')
})

test('stop sends TERM, then KILL when TERM is ignored; no restart afterwards', async () => {
  const { exec, procs } = fakeExec()
  const sup = new Supervisor({
    exec,
    cmd: 'x',
    args: [],
    label: 'test',
    stopTimeoutMs: 50,
    backoff: { initialMs: 5 },
  })
  await sup.start()
  const p = procs[0] as FakeProc
  p.ignoreTerm = true
  const t0 = Date.now()
  await sup.stop()
  assert.deepEqual(p.signals, ['SIGTERM', 'SIGKILL'])
  assert.ok(Date.now() - t0 >= 45)
  await new Promise((r) => setTimeout(r, 50))
  assert.equal(procs.length, 1)
  assert.equal(sup.pid, undefined)
})

test('stop during the backoff wait cancels the restart', async () => {
  const { exec, procs } = fakeExec()
  const sup = new Supervisor({ exec, cmd: 'x', args: [], label: 'test', backoff: { initialMs: 100 } })
  await sup.start()
  procs[0]?.die()
  await sup.stop()
  await new Promise((r) => setTimeout(r, 150))
  assert.equal(procs.length, 1)
})

test('output lines are logged and kept for error messages', async () => {
  const { exec, procs } = fakeExec()
  const warned: string[] = []
  const log = { debug() {}, info() {}, error() {}, warn: (_o: object, msg: string) => warned.push(msg) }
  const sup = new Supervisor({ exec, cmd: 'x', args: [], label: 'wg0', log })
  await sup.start()
  procs[0]?.options.onLine?.('stderr', 'something odd')
  procs[0]?.options.onLine?.('stdout', 'DEBUG: fine')
  assert.deepEqual(warned, ['wg0: something odd'])
  assert.deepEqual(sup.recentOutput, ['something odd', 'DEBUG: fine'])
  await sup.stop()
})
