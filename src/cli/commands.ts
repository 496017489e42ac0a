// The `blackroad` command line (yargs): the daemon itself (`blackroad daemon`) and every operator command of the
// guide. Commands other than `daemon` talk to the running daemon only through the typed client in src/client.
// main.ts loads this for everything but a plain `blackroad daemon` (see daemon-args.ts).

import yargs, { type Argv } from 'yargs'
import { hideBin } from 'yargs/helpers'
import { DEFAULT_CONFIG_PATH } from '../config/index.js'
import { VERSION } from '../version.js'
import { busCommands } from './commands-bus.js'
import { configCommands } from './commands-config.js'
import { eventsCommands } from './commands-events.js'
import { federationCommands, nodeCommands } from './commands-federation.js'
import { networkCommands, rotateKeys } from './commands-network.js'
import {
  agentCommands,
  clusterCommands,
  failoverCommands,
  keysCommands,
  replicationCommands,
} from './commands-ops.js'
import { policyCommands } from './commands-policy.js'
import { type GlobalArgs, show } from './context.js'
import { EXIT_OK, formatDurationShort, table } from './output.js'

const EXIT_USAGE = 64

let exitCode = EXIT_OK
async function run(fn: () => Promise<number>): Promise<void> {
  exitCode = await fn()
}

async function status(argv: GlobalArgs): Promise<number> {
  return show(
    argv,
    (c) => c.status(),
    (s) => {
      const cluster = s.cluster.name
        ? `${s.cluster.name}${s.cluster.id ? ` (${s.cluster.id})` : ''}`
        : '(none)'
      return table([
        ['Node', `${s.name} (${s.node_id})`],
        ['Cluster', cluster],
        ['Region', s.cluster.region ?? '(none)'],
        ['Role', s.cluster.role],
        ['Federation', s.federation ? `${s.federation.name} (${s.federation.id})` : '(not joined)'],
        [
          'Mesh',
          s.mesh.state === 'running'
            ? [s.mesh.ipv4, s.mesh.ipv6].filter(Boolean).join(', ') + ` on ${s.mesh.interface}`
            : 'standalone (not joined)',
        ],
        ['Peers', `${s.peers.up} reachable of ${s.peers.total}`],
        ['Version', s.version],
        ['Uptime', formatDurationShort(s.uptime_seconds)],
      ])
    },
  )
}

async function keysShow(argv: GlobalArgs): Promise<number> {
  return show(
    argv,
    (c) => c.keys(),
    (k) =>
      table([
        ['Node ID', k.node_id],
        ['Public key', k.public_key],
        ['Fingerprint', k.fingerprint],
      ]),
  )
}

export function buildCli(args: string[]): Argv<GlobalArgs> {
  const y = yargs(args) as unknown as Argv<GlobalArgs>
  y.scriptName('blackroad')
    .version(VERSION)
    .option('config', {
      type: 'string',
      describe: `Config file (default ${DEFAULT_CONFIG_PATH})`,
      global: true,
    })
    .option('socket', {
      type: 'string',
      describe: 'Daemon API socket (default: api.socket from the config)',
      global: true,
    })
    .option('json', { type: 'boolean', describe: 'Print JSON instead of text', global: true })
    .command(
      'daemon',
      'Run the router daemon (normally started by systemd)',
      (c) => c.option('skip-privilege-check', { type: 'boolean', hidden: true }),
      (argv) =>
        run(async () => {
          // Loaded only here: the operator commands never read the daemon's code (a separate bundle chunk).
          const { runDaemon } = await import('../daemon/main.js')
          return runDaemon({
            configPath: argv.config ?? DEFAULT_CONFIG_PATH,
            skipPrivilegeCheck: (argv as { skipPrivilegeCheck?: boolean }).skipPrivilegeCheck === true,
          })
        }),
    )
    .command(
      'status',
      "Show this node's status",
      (c) => c,
      (argv) => run(() => status(argv)),
    )
    .command('keys', 'Node keys', (c) => keysCommands(c, run, keysShow, rotateKeys))
    .command('config', 'Check or describe the config file', (c) => configCommands(c, run))
    .command('federation', 'Federation management', (c) => federationCommands(c, run))
    .command('node', 'Node management', (c) => nodeCommands(c, run))
    .command('cluster', 'Cluster operations', (c) => clusterCommands(c, run))
    .command('agent', 'Agent operations', (c) => agentCommands(c, run))
    .command('replication', 'Replication', (c) => replicationCommands(c, run))
    .command('failover', 'Failover', (c) => failoverCommands(c, run))
    .command('events', 'Federated events (publish, subscribe)', (c) => eventsCommands(c, run))
    .command('policy', 'Federation-wide network policies (apply, list, remove)', (c) =>
      policyCommands(c, run),
    )
  networkCommands(y, run)
  return busCommands(y, run)
    .demandCommand(1, 'name a command; see blackroad --help')
    .strict()
    .recommendCommands()
    .help()
    .fail((msg, err) => {
      if (err) throw err
      process.stderr.write(`blackroad: ${msg}\nRun \`blackroad --help\` for usage.\n`)
      process.exit(EXIT_USAGE)
    })
}

export async function main(): Promise<void> {
  await buildCli(hideBin(process.argv)).parseAsync()
  process.exitCode = exitCode
}
