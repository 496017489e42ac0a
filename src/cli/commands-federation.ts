// `blackroad federation ...` and `blackroad node ...`: creating a federation and its clusters (signed by this
// node's root key for now), and the commands that wait for the control plane.

import type { Argv } from 'yargs'
import { joinedText } from './commands-join.js'
import { type GlobalArgs, withClient } from './context.js'
import { EXIT_OK, errorExit, printResult, table } from './output.js'

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
        run(async () => {
          try {
            const info = await withClient(argv, (cl) => cl.federationInit({ name: argv.name }))
            printResult(argv, info, () =>
              table([
                ['Federation created', info.name],
                ['Federation ID', info.id],
                ['Root key', info.root_fingerprint],
              ]),
            )
            return EXIT_OK
          } catch (err) {
            return errorExit(argv, err)
          }
        }),
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
        run(async () => {
          try {
            const res = await withClient(argv, (cl) =>
              cl.createCluster({
                name: argv.name,
                region: argv.region,
                capacity: argv.capacity,
                role: argv.role,
                ...(argv.ttl !== undefined ? { ttl_seconds: argv.ttl } : {}),
              }),
            )
            printResult(argv, res, () =>
              [
                `Cluster created: ${res.cluster.name}`,
                `Cluster ID: ${res.cluster.id}`,
                `Join Token: ${res.join_token}`,
                `Control Plane: ${res.control_plane.length > 0 ? res.control_plane.join(', ') : '(none configured: set federation.control_plane)'}`,
                `Token expires: ${res.expires_at}`,
              ].join('\n'),
            )
            return EXIT_OK
          } catch (err) {
            return errorExit(argv, err)
          }
        }),
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
        run(async () => {
          try {
            const res = await withClient(argv, (cl) =>
              cl.federationJoin({
                token: argv.token,
                control_plane: argv['control-plane'],
                cluster_name: argv['cluster-name'],
                ...(argv['cluster-type'] !== undefined ? { cluster_type: argv['cluster-type'] } : {}),
              }),
            )
            printResult(argv, res, () => joinedText(res))
            return EXIT_OK
          } catch (err) {
            return errorExit(argv, err)
          }
        }),
    )
    .command(
      'status',
      'Federation membership and connectivity',
      (c) => c,
      (argv) =>
        run(async () => {
          try {
            const st = await withClient(argv, (cl) => cl.federationStatus())
            printResult(argv, st, () =>
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
            )
            return EXIT_OK
          } catch (err) {
            return errorExit(argv, err)
          }
        }),
    )
    .command(
      'control',
      'The control plane: leader, term, voters, commit index',
      (c) => c,
      (argv) =>
        run(async () => {
          try {
            const st = await withClient(argv, (cl) => cl.controlStatus())
            printResult(argv, st, () =>
              st.enabled
                ? table([
                    ['Role', st.role],
                    ['Leader', st.leader === null ? '(none)' : `${st.leader_name ?? '?'} (${st.leader})`],
                    ['Term', String(st.term)],
                    ['Commit index', String(st.commit_index)],
                    ['Applied index', String(st.applied_index)],
                    [
                      'Voters',
                      st.voters.map((v) => `${v.name ?? v.node_id}${v.leader ? '*' : ''}`).join(', '),
                    ],
                    ['Learners', String(st.learners)],
                  ])
                : 'No control plane on this node (none founded with federation init, joined, or set in federation.voters)',
            )
            return EXIT_OK
          } catch (err) {
            return errorExit(argv, err)
          }
        }),
    )
    .command(
      'list-clusters',
      "List the federation's clusters",
      (c) => c,
      (argv) =>
        run(async () => {
          try {
            const res = await withClient(argv, (cl) => cl.listClusters())
            printResult(argv, res, () => {
              const rows = [
                ['NAME', 'ID', 'REGION', 'ROLE', 'CAPACITY'],
                ...res.clusters.map((c) => [c.name, c.id, c.region, c.role, String(c.capacity)]),
              ]
              const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
              const lines = rows.map((r) =>
                r
                  .map((v, i) => v.padEnd(widths[i]!))
                  .join('  ')
                  .trimEnd(),
              )
              const note = res.stale ? "\n(control plane unreachable: this node's copy, possibly stale)" : ''
              return `${lines.join('\n')}${note}`
            })
            return EXIT_OK
          } catch (err) {
            return errorExit(argv, err)
          }
        }),
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
        run(async () => {
          try {
            const c = await withClient(argv, (cl) =>
              cl.addCluster({
                name: argv.name,
                region: argv.region,
                ...(argv.capacity !== undefined ? { capacity: argv.capacity } : {}),
                ...(argv.role !== undefined ? { role: argv.role } : {}),
              }),
            )
            printResult(argv, c, () => `Cluster added: ${c.name}\nCluster ID: ${c.id}`)
            return EXIT_OK
          } catch (err) {
            return errorExit(argv, err)
          }
        }),
    )
    .command(
      'remove-cluster <name>',
      'Remove a cluster from the federation',
      (c) => c.positional('name', { type: 'string', demandOption: true }),
      (argv) =>
        run(async () => {
          try {
            const r = await withClient(argv, (cl) => cl.removeCluster(argv.name))
            printResult(argv, r, () => `Cluster removed: ${r.removed}`)
            return EXIT_OK
          } catch (err) {
            return errorExit(argv, err)
          }
        }),
    )
    .command(
      'remove-voter <node>',
      "Remove a node from the control plane's voters (run on the leader; e.g. a voter that is gone for good)",
      (c) => c.positional('node', { type: 'string', demandOption: true, describe: 'Node id (node_...)' }),
      (argv) =>
        run(async () => {
          try {
            const r = await withClient(argv, (cl) => cl.removeVoter(argv.node))
            printResult(argv, r, () => `${r.done}; voters now ${r.voters.join(', ')}`)
            return EXIT_OK
          } catch (err) {
            return errorExit(argv, err)
          }
        }),
    )
    .command(
      'transfer-leader <node>',
      'Hand control-plane leadership to another voter (run on the leader)',
      (c) => c.positional('node', { type: 'string', demandOption: true, describe: 'Node id (node_...)' }),
      (argv) =>
        run(async () => {
          try {
            const r = await withClient(argv, (cl) => cl.transferLeader(argv.node))
            printResult(argv, r, () => r.done)
            return EXIT_OK
          } catch (err) {
            return errorExit(argv, err)
          }
        }),
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
        run(async () => {
          try {
            const res = await withClient(argv, (cl) =>
              cl.revokeNode({
                node: argv.node,
                ...(argv.reason !== undefined ? { reason: argv.reason } : {}),
              }),
            )
            printResult(argv, res, () =>
              table([
                ['Revoked', res.node_id],
                ['At', res.revoked_at],
                ['Was registered', res.was_registered ? 'yes' : 'no'],
              ]),
            )
            return EXIT_OK
          } catch (err) {
            return errorExit(argv, err)
          }
        }),
    )
    .demandCommand(1, 'name a node command')
}
