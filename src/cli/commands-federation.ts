// `blackroad federation ...` and `blackroad node ...`: creating a federation and its clusters (signed by this
// node's root key for now), and the commands that wait for the control plane.

import type { Argv } from 'yargs'
import { joinedText } from './commands-join.js'
import { type GlobalArgs, show } from './context.js'
import { columns, table } from './output.js'

type Run = (fn: () => Promise<number>) => Promise<void>

export function federationCommands(y: Argv<GlobalArgs>, run: Run): Argv<GlobalArgs> {
  return y
    .command(
      'init',
      'Create a new federation with this node as its root',
      (c) =>
        c.option('name', {
          type: 'string',
          demandOption: true,
          describe: 'Federation name, e.g. blackroad-global',
        }),
      (argv) =>
        run(() =>
          show(
            argv,
            (cl) => cl.federationInit({ name: argv.name }),
            (info) =>
              table([
                ['Federation created', info.name],
                ['Federation ID', info.id],
                ['Root key', info.root_fingerprint],
              ]),
          ),
        ),
    )
    .command(
      'create-cluster',
      'Create a cluster and print its join token',
      (c) =>
        c
          .option('name', { type: 'string', demandOption: true })
          .option('region', { type: 'string', demandOption: true })
          .option('capacity', { type: 'number', demandOption: true, describe: 'Maximum agents' })
          .option('role', { choices: ['primary', 'secondary', 'edge'] as const, default: 'primary' as const })
          .option('ttl', {
            type: 'number',
            describe: 'Token lifetime in seconds (default: federation.join_token_ttl)',
          }),
      (argv) =>
        run(() =>
          show(
            argv,
            (cl) =>
              cl.createCluster({
                name: argv.name,
                region: argv.region,
                capacity: argv.capacity,
                role: argv.role,
                ...(argv.ttl !== undefined ? { ttl_seconds: argv.ttl } : {}),
              }),
            (res) =>
              [
                `Cluster created: ${res.cluster.name}`,
                `Cluster ID: ${res.cluster.id}`,
                `Join Token: ${res.join_token}`,
                `Control Plane: ${res.control_plane.length > 0 ? res.control_plane.join(', ') : '(none configured: set federation.control_plane)'}`,
                `Token expires: ${res.expires_at}`,
              ].join('\n'),
          ),
        ),
    )
    .command(
      'join',
      'Join a federation with a token',
      (c) =>
        c
          .option('token', { type: 'string', demandOption: true })
          .option('control-plane', { type: 'string', demandOption: true })
          .option('cluster-name', { type: 'string', demandOption: true })
          .option('cluster-type', { choices: ['primary', 'secondary', 'edge'] as const }),
      (argv) =>
        run(() =>
          show(
            argv,
            (cl) =>
              cl.federationJoin({
                token: argv.token,
                control_plane: argv['control-plane'],
                cluster_name: argv['cluster-name'],
                ...(argv['cluster-type'] !== undefined ? { cluster_type: argv['cluster-type'] } : {}),
              }),
            joinedText,
          ),
        ),
    )
    .command(
      'status',
      'Federation membership and connectivity',
      (c) => c,
      (argv) =>
        run(() =>
          show(
            argv,
            (cl) => cl.federationStatus(),
            (st) =>
              [
                `Federation: ${st.federation ?? '(none)'}`,
                `Cluster: ${st.cluster ?? '(none)'}`,
                `Status: ${st.status}`,
                `Agents: ${st.agents}/${st.capacity}`,
                `Latency to control plane: ${st.latency_ms === null ? 'unknown' : `${Math.round(st.latency_ms)}ms`}`,
                ...(st.voters.length > 0
                  ? [
                      `Control plane voters: ${st.voters.map((v) => `${v.name ?? v.node_id}${v.leader ? '*' : ''}`).join(', ')}`,
                    ]
                  : []),
              ].join('\n'),
          ),
        ),
    )
    .command(
      'control',
      'The control plane: leader, term, voters, commit index',
      (c) => c,
      (argv) =>
        run(() =>
          show(
            argv,
            (cl) => cl.controlStatus(),
            (st) =>
              st.enabled
                ? table([
                    ['Role', st.role],
                    ['Leader', st.leader === null ? '(none)' : `${st.leader_name ?? '?'} (${st.leader})`],
                    ['Term', String(st.term)],
                    ['Commit index', String(st.commit_index)],
                    ['Applied index', String(st.applied_index)],
                    ['Log', `${st.last_index} entries, ${st.durable_index} written`],
                    [
                      'Voters',
                      st.voters.map((v) => `${v.name ?? v.node_id}${v.leader ? '*' : ''}`).join(', '),
                    ],
                    ['Learners', String(st.learners)],
                  ])
                : 'No control plane on this node (none founded with federation init, joined, or set in federation.voters)',
          ),
        ),
    )
    .command(
      'list-clusters',
      "List the federation's clusters",
      (c) => c,
      (argv) =>
        run(() =>
          show(
            argv,
            (cl) => cl.listClusters(),
            (res) => {
              const list = columns(
                ['NAME', 'ID', 'REGION', 'ROLE', 'CAPACITY'],
                res.clusters.map((c) => [c.name, c.id, c.region, c.role, String(c.capacity)]),
              )
              const note = res.stale ? "\n(control plane unreachable: this node's copy, possibly stale)" : ''
              return `${list}${note}`
            },
          ),
        ),
    )
    .command(
      'add-cluster <name>',
      'Register an existing cluster',
      (c) =>
        c
          .positional('name', { type: 'string', demandOption: true })
          .option('region', { type: 'string', demandOption: true })
          .option('capacity', { type: 'number', describe: 'Maximum agents (default 5000)' })
          .option('role', { choices: ['primary', 'secondary', 'edge'] as const }),
      (argv) =>
        run(() =>
          show(
            argv,
            (cl) =>
              cl.addCluster({
                name: argv.name,
                region: argv.region,
                ...(argv.capacity !== undefined ? { capacity: argv.capacity } : {}),
                ...(argv.role !== undefined ? { role: argv.role } : {}),
              }),
            (c) => `Cluster added: ${c.name}\nCluster ID: ${c.id}`,
          ),
        ),
    )
    .command(
      'remove-cluster <name>',
      'Remove a cluster from the federation',
      (c) => c.positional('name', { type: 'string', demandOption: true }),
      (argv) =>
        run(() =>
          show(
            argv,
            (cl) => cl.removeCluster(argv.name),
            (r) => `Cluster removed: ${r.removed}`,
          ),
        ),
    )
    .command(
      'remove-voter <node>',
      "Remove a node from the control plane's voters (run on the leader; e.g. a voter that is gone for good)",
      (c) => c.positional('node', { type: 'string', demandOption: true, describe: 'Node id (node_...)' }),
      (argv) =>
        run(() =>
          show(
            argv,
            (cl) => cl.removeVoter(argv.node),
            (r) => `${r.done}; voters now ${r.voters.join(', ')}`,
          ),
        ),
    )
    .command(
      'transfer-leader <node>',
      'Hand control-plane leadership to another voter (run on the leader)',
      (c) => c.positional('node', { type: 'string', demandOption: true, describe: 'Node id (node_...)' }),
      (argv) =>
        run(() =>
          show(
            argv,
            (cl) => cl.transferLeader(argv.node),
            (r) => r.done,
          ),
        ),
    )
    .demandCommand(1, 'name a federation command')
}

export function nodeCommands(y: Argv<GlobalArgs>, run: Run): Argv<GlobalArgs> {
  return y
    .command(
      'revoke <node>',
      "Revoke a node's certificate everywhere",
      (c) =>
        c
          .positional('node', { type: 'string', demandOption: true, describe: 'Node id (node_...)' })
          .option('reason', { type: 'string', describe: 'Why, kept with the revocation' }),
      (argv) =>
        run(() =>
          show(
            argv,
            (cl) =>
              cl.revokeNode({
                node: argv.node,
                ...(argv.reason !== undefined ? { reason: argv.reason } : {}),
              }),
            (res) =>
              table([
                ['Revoked', res.node_id],
                ['At', res.revoked_at],
                ['Was registered', res.was_registered ? 'yes' : 'no'],
              ]),
          ),
        ),
    )
    .demandCommand(1, 'name a node command')
}
