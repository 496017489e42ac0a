// `npm run bench -- <suite> [--runs N]`: runs one benchmark suite against its anchor in one invocation,
// interleaved, and prints the BENCH.md report. Suites are listed in bench/suites/index.ts.

import { formatReport } from './lib/report.js'
import { SUITES } from './suites/index.js'

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2)
  const args: Record<string, string> = {}
  let runs = 3
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!
    if (a === '--runs') runs = Number(rest[++i])
    else if (a.startsWith('--'))
      args[a.slice(2)] = rest[i + 1] !== undefined && !rest[i + 1]!.startsWith('--') ? rest[++i]! : 'true'
  }
  const load = name ? SUITES[name] : undefined
  if (!load) {
    process.stderr.write(
      `usage: npm run bench -- <suite> [--runs N]\nsuites: ${Object.keys(SUITES).sort().join(', ') || '(none yet)'}\n`,
    )
    process.exit(64)
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: run as root (suites build network namespaces and install their anchors)\n')
    process.exit(77)
  }
  const suite = await load()
  const result = await suite.run({
    runs: Math.max(3, runs || 3),
    args,
    log: (m) => process.stderr.write(`${m}\n`),
  })
  process.stdout.write(`${formatReport(name!, result.figures, result.comments)}\n`)
}

main().catch((err) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`)
  process.exit(1)
})
