// `npm run demo`: a local mesh on this machine — three hosts in three network namespaces on one bridge, a
// real `blackroad daemon` in each. It prints what each daemon reports and how to talk to them, then runs
// until Ctrl-C, when every daemon is stopped and every namespace removed.

import { Lab } from './lib/index.js'
import { repoPaths } from './lib/repo.js'

const NODES = [
  { name: 'lucidia', cluster: 'edge-home', region: 'local', type: 'edge' },
  { name: 'blackroad-pi', cluster: 'edge-home', region: 'local', type: 'edge' },
  { name: 'us-west-1', cluster: 'us-west', region: 'us-west-2', type: 'primary' },
] as const

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('demo: run as root (it creates network namespaces)\n')
    process.exit(77)
  }
  const lab = await Lab.create(undefined, { name: 'demo' })
  const lan = await lab.bridge('lan')
  const daemons = []
  for (const n of NODES) {
    const host = await lab.host(n.name)
    await lab.attach(host, lan)
    process.stdout.write(`starting ${n.name} (${host.addr(lan)}) ...\n`)
    daemons.push(
      await lab.startDaemon(host, {
        node: { name: n.name },
        cluster: { name: n.cluster, region: n.region, type: n.type },
        metrics: { enabled: false },
      }),
    )
  }
  process.stdout.write('\n')
  for (const d of daemons) {
    const r = await d.cli(['status'])
    process.stdout.write(`${r.stdout.trim()}\n\n`)
  }
  const cli = repoPaths.cliMain()
  process.stdout.write('The mesh is up. Talk to a node with, for example:\n')
  process.stdout.write(`  node ${cli} status --socket ${daemons[0]!.socketPath}\n`)
  process.stdout.write(`Logs: ${lab.log.dir}\nPress Ctrl-C to stop the daemons and remove the namespaces.\n`)
  // Keep running; on Ctrl-C the daemons (same process group) get SIGINT and stop cleanly, and the harness's
  // signal hook stops anything left of the lab and deletes its namespaces.
  setInterval(() => {}, 1 << 30)
}

main().catch((err) => {
  process.stderr.write(`demo: ${(err as Error).message}\n`)
  process.exit(1)
})
