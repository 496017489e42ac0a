// A lab's log directory and command log. Every lab writes to netns-tests/logs/<pid>-<seq>-<test>/:
//   lab.log         every command the harness ran ("[+] a: ping -c1 ..."), failures with their output
//   <host>.<name>.log  the output of each long-lived process
// After a passing test the directory is removed; after a failing one it is kept and the tail of every file is
// printed with its path, so the CI log alone usually explains the failure (netns.sh's pretty_ns lines).

import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import path from 'node:path'
import { type CommandLog, describeResult, type ExecResult, formatArgv } from './exec.js'

const VERBOSE = process.env.BRT_VERBOSE === '1'

export class LabLog implements CommandLog {
  readonly dir: string
  readonly file: string
  private readonly started = performance.now()

  constructor(root: string, runText: string, testName: string) {
    const slug = testName
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 48)
    this.dir = path.join(root, slug ? `${runText}-${slug}` : runText)
    mkdirSync(this.dir, { recursive: true })
    this.file = path.join(this.dir, 'lab.log')
    this.note(`lab ${runText} for "${testName}" (pid ${process.pid})`)
  }

  /** A path for a process log inside this lab's directory; the name is made file-system safe. */
  pathFor(base: string): string {
    return path.join(this.dir, `${base.replace(/[^A-Za-z0-9._-]+/g, '_')}.log`)
  }

  note(message: string): void {
    this.write(`# ${this.stamp()} ${message}`)
  }

  command(where: string, argv: readonly string[]): void {
    this.write(`[+] ${this.stamp()} ${where}: ${formatArgv(argv)}`)
  }

  outcome(r: ExecResult): void {
    if (!r.ok) this.write(`    -> ${describeResult(r)}`)
  }

  /** The last `lines` lines of every log file of this lab, each under a header with its path. */
  tails(lines = 40): string {
    let files: string[]
    try {
      files = readdirSync(this.dir)
        .filter((f) => f.endsWith('.log'))
        .sort((x, y) => (x === 'lab.log' ? 1 : y === 'lab.log' ? -1 : x.localeCompare(y)))
    } catch {
      return `(log directory ${this.dir} is gone)`
    }
    const parts: string[] = []
    for (const f of files) {
      const p = path.join(this.dir, f)
      let text = ''
      try {
        if (!statSync(p).isFile()) continue
        text = readFileSync(p, 'utf8')
      } catch {
        continue
      }
      const all = text.trimEnd().split('\n')
      const tail = all.slice(-lines)
      const skipped = all.length - tail.length
      parts.push(
        `----- ${p}${skipped > 0 ? ` (last ${tail.length} of ${all.length} lines)` : ''}\n${tail.join('\n')}`,
      )
    }
    return parts.join('\n')
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }

  private stamp(): string {
    return `+${((performance.now() - this.started) / 1000).toFixed(3)}s`
  }

  private write(line: string): void {
    try {
      appendFileSync(this.file, `${line}\n`)
    } catch {
      // the directory was removed under us (cleanup already ran): nothing useful to do with the line
    }
    if (VERBOSE) process.stderr.write(`${line}\n`)
  }
}
