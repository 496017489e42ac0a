// The real Exec adapter against small POSIX programs: results, typed errors, timeouts, stdin, env, spawn lifecycle.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ExecError, formatCommand, run, spawn } from '../../src/os/exec.js'

describe('run', () => {
  test('returns stdout, stderr and code 0', async () => {
    const r = await run('sh', ['-c', 'echo out; echo err >&2'])
    assert.deepEqual(r, { stdout: 'out\n', stderr: 'err\n', code: 0 })
  })

  test('non-zero exit throws EXEC_FAILED with command line, stderr and status', async () => {
    await assert.rejects(run('sh', ['-c', 'echo boom >&2; exit 3']), (err: unknown) => {
      assert.ok(err instanceof ExecError)
      assert.equal(err.code, 'EXEC_FAILED')
      assert.equal(err.exitCode, 3)
      assert.equal(err.stderr, 'boom\n')
      assert.equal(err.command, `sh -c 'echo boom >&2; exit 3'`)
      assert.match(err.message, /exit status 3: boom/)
      return true
    })
  })

  test('reject: false returns the status instead of throwing', async () => {
    const r = await run('sh', ['-c', 'exit 7'], { reject: false })
    assert.equal(r.code, 7)
  })

  test('a missing program is EXEC_NOT_FOUND, also with reject: false', async () => {
    for (const reject of [true, false]) {
      await assert.rejects(run('blackroad-no-such-program', ['x'], { reject }), (err: unknown) => {
        assert.ok(err instanceof ExecError)
        assert.equal(err.code, 'EXEC_NOT_FOUND')
        assert.match(err.command, /^blackroad-no-such-program x$/)
        return true
      })
    }
  })

  test('a program running past the timeout is killed: EXEC_TIMEOUT, promptly', async () => {
    const started = Date.now()
    await assert.rejects(run('sleep', ['10'], { timeoutMs: 100 }), (err: unknown) => {
      assert.ok(err instanceof ExecError)
      assert.equal(err.code, 'EXEC_TIMEOUT')
      assert.match(err.message, /timed out after 100 ms/)
      return true
    })
    assert.ok(Date.now() - started < 3_000, 'timeout took too long')
  })

  test('a program that ignores TERM is KILLed after the timeout', async () => {
    const started = Date.now()
    await assert.rejects(run('sh', ['-c', `trap '' TERM; sleep 10`], { timeoutMs: 100 }), {
      code: 'EXEC_TIMEOUT',
    })
    assert.ok(Date.now() - started < 4_000, 'force kill took too long')
  })

  test('a program killed by a signal is EXEC_FAILED naming the signal', async () => {
    await assert.rejects(run('sh', ['-c', 'kill -9 $$']), (err: unknown) => {
      assert.ok(err instanceof ExecError)
      assert.equal(err.code, 'EXEC_FAILED')
      assert.equal(err.signal, 'SIGKILL')
      return true
    })
  })

  test('input goes to stdin and never into the error message', async () => {
    assert.equal((await run('cat', [], { input: 'secret-key\n' })).stdout, 'secret-key\n')
    await assert.rejects(
      run('sh', ['-c', 'cat >/dev/null; exit 1'], { input: 'secret-key' }),
      (err: unknown) => {
        assert.ok(err instanceof Error)
        assert.doesNotMatch(err.message, /secret-key/)
        return true
      },
    )
  })

  test('without input, stdin is closed (a reader sees EOF instead of hanging)', async () => {
    const r = await run('cat', [], { timeoutMs: 2_000 })
    assert.equal(r.stdout, '')
  })

  test('env adds variables to the inherited environment', async () => {
    const r = await run('sh', ['-c', 'echo "$BR_TEST_VAR"; test -n "$PATH" && echo path'], {
      env: { BR_TEST_VAR: 'v1' },
    })
    assert.equal(r.stdout, 'v1\npath\n')
  })

  test('netns prefixes ip netns exec (a missing namespace fails with ip’s message)', async () => {
    await assert.rejects(run('true', [], { netns: 'blackroad-no-such-ns' }), (err: unknown) => {
      assert.ok(err instanceof ExecError)
      assert.match(err.command, /^ip netns exec blackroad-no-such-ns true$/)
      assert.ok(err.code === 'EXEC_FAILED' || err.code === 'EXEC_NOT_FOUND')
      return true
    })
  })
})

describe('spawn', () => {
  test('delivers output lines and the exit status', async () => {
    const lines: string[] = []
    const p = spawn('sh', ['-c', 'echo one; echo two >&2; printf three; exit 4'], {
      onLine: (stream, line) => lines.push(`${stream}:${line}`),
    })
    assert.ok(typeof p.pid === 'number')
    const info = await p.exited
    assert.deepEqual({ code: info.code, signal: info.signal }, { code: 4, signal: null })
    assert.deepEqual([...lines].sort(), ['stderr:two', 'stdout:one', 'stdout:three'])
  })

  test('kill ends the process and reports the signal', async () => {
    const p = spawn('sleep', ['30'])
    assert.equal(p.kill('SIGTERM'), true)
    const info = await p.exited
    assert.equal(info.signal, 'SIGTERM')
  })

  test('a missing program resolves exited with EXEC_NOT_FOUND, never rejects', async () => {
    const p = spawn('blackroad-no-such-program', [])
    const info = await p.exited
    assert.equal(info.error?.code, 'EXEC_NOT_FOUND')
  })
})

test('formatCommand quotes only what a shell would need quoted', () => {
  assert.equal(
    formatCommand('wg', ['set', 'brw0', 'allowed-ips', '10.0.0.0/24,fd00::/64']),
    'wg set brw0 allowed-ips 10.0.0.0/24,fd00::/64',
  )
  assert.equal(formatCommand('wg', ['set', 'x', 'allowed-ips', '']), `wg set x allowed-ips ''`)
  assert.equal(formatCommand('sh', ['-c', "it's"]), `sh -c 'it'\\''s'`)
})
