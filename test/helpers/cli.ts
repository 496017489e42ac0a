// Runs the real `blackroad` command as a child process, compiled (dist/, as CI runs it) or from the
// TypeScript sources through tsx (during development), whichever this test file itself was loaded from.

import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const compiled = path.resolve(here, '../../src/cli/main.js')
const source = path.resolve(here, '../../src/cli/main.ts')

export function cliArgv(args: string[]): string[] {
  if (existsSync(compiled)) return [compiled, ...args]
  return ['--import', 'tsx', source, ...args]
}

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export function runCli(
  args: string[],
  opts: { timeoutMs?: number; prefix?: string[] } = {},
): Promise<CliResult> {
  const [cmd, ...pre] = opts.prefix ?? [process.execPath]
  const child = spawn(cmd!, [...pre, ...cliArgv(args)], { stdio: ['ignore', 'pipe', 'pipe'] })
  return collect(child, opts.timeoutMs ?? 20_000)
}

export function spawnCli(args: string[]): ChildProcess {
  return spawn(process.execPath, cliArgv(args), { stdio: ['ignore', 'pipe', 'pipe'] })
}

export function collect(child: ChildProcess, timeoutMs: number): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (d) => (stdout += d.toString()))
    child.stderr?.on('data', (d) => (stderr += d.toString()))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`command did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, timeoutMs)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      // 'exit' can come before the pipes are drained; 'close' follows once they are.
      child.once('close', () => resolve({ code, signal, stdout, stderr }))
      if (child.stdout?.readableEnded !== false && child.stderr?.readableEnded !== false) {
        resolve({ code, signal, stdout, stderr })
      }
    })
  })
}
