// The operations commands of the guide (cluster, agent, replication, failover) and the network and bus
// commands. Their layers arrive in later issues; until then each says which capability it waits for.

import type { Argv } from 'yargs'
import { agentLiveCommands } from './commands-agents.js'
import type { GlobalArgs } from './context.js'
import { notAvailable, type PendingCapability } from './pending.js'

type Run = (fn: () => Promise<number>) => Promise<void>

interface Sub {
  cmd: string
  describe: string
  capability: PendingCapability
  build?: (y: Argv<GlobalArgs>) => Argv<GlobalArgs>
}

function group(y: Argv<GlobalArgs>, run: Run, name: string, subs: Sub[]): Argv<GlobalArgs> {
  for (const s of subs) {
    const word = s.cmd.split(' ')[0]!
    y.command(
      s.cmd,
      s.describe,
      (c) => (s.build ? s.build(c) : c),
      (argv) => run(async () => notAvailable(`${name} ${word}`, s.capability, argv.json)),
    )
  }
  return y.demandCommand(1, `name a ${name} command`)
}

const named = (y: Argv<GlobalArgs>) => y.positional('name', { type: 'string', demandOption: true })

export function clusterCommands(y: Argv<GlobalArgs>, run: Run): Argv<GlobalArgs> {
  return group(y, run, 'cluster', [
    {
      cmd: 'drain <name>',
      describe: 'Stop scheduling and migrate agents away',
      capability: 'scheduler',
      build: named,
    },
    { cmd: 'cordon <name>', describe: 'Stop scheduling on a cluster', capability: 'scheduler', build: named },
    {
      cmd: 'uncordon <name>',
      describe: 'Resume scheduling on a cluster',
      capability: 'scheduler',
      build: named,
    },
    { cmd: 'health <name>', describe: 'Health of a cluster', capability: 'failover', build: named },
  ])
}

export function agentCommands(y: Argv<GlobalArgs>, run: Run): Argv<GlobalArgs> {
  return group(agentLiveCommands(y, run), run, 'agent', [
    {
      cmd: 'migrate [id]',
      describe: 'Migrate an agent (or --from CLUSTER --all)',
      capability: 'migration',
      build: (c) =>
        c
          .positional('id', { type: 'string' })
          .option('to', { type: 'string' })
          .option('from', { type: 'string' })
          .option('all', { type: 'boolean' }),
    },
  ])
}

export function replicationCommands(y: Argv<GlobalArgs>, run: Run): Argv<GlobalArgs> {
  return group(y, run, 'replication', [
    { cmd: 'status', describe: 'Replication lag and health', capability: 'replication' },
    {
      cmd: 'force-sync',
      describe: 'Force anti-entropy with a cluster',
      capability: 'replication',
      build: (c) => c.option('cluster', { type: 'string', demandOption: true }),
    },
  ])
}

export function failoverCommands(y: Argv<GlobalArgs>, run: Run): Argv<GlobalArgs> {
  return group(y, run, 'failover', [
    {
      cmd: 'simulate',
      describe: 'Simulate the failure of a cluster',
      capability: 'failover',
      build: (c) => c.option('cluster', { type: 'string', demandOption: true }),
    },
    { cmd: 'status', describe: 'Failovers in progress', capability: 'failover' },
  ])
}

export function keysCommands(
  y: Argv<GlobalArgs>,
  run: Run,
  show: (argv: GlobalArgs) => Promise<number>,
  rotate: (argv: GlobalArgs) => Promise<number>,
): Argv<GlobalArgs> {
  return y
    .command(
      'show',
      "Show this node's identity key",
      (c) => c,
      (argv) => run(() => show(argv)),
    )
    .command(
      'rotate',
      'Rotate the WireGuard key now',
      (c) => c,
      (argv) => run(() => rotate(argv)),
    )
    .demandCommand(1, 'name a keys command')
}
