// `blackroad policy apply | list | remove`: the federation's network policies (the guide's NetworkPolicy),
// kept in the control-plane registry and enforced by every router. Config policies (mesh.policies) are
// listed too, first: they are tried before the registry's.

import type { Argv } from 'yargs'
import type { ApplyPolicyRequest, PolicyListResponse, PolicyView } from '../client/control-types.js'
import { type GlobalArgs, show, withClient } from './context.js'
import { EXIT_OK, errorExit, printResult } from './output.js'

type Run = (fn: () => Promise<number>) => Promise<void>

const list = (v: unknown) =>
  String(v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)

function describe(p: PolicyView): string {
  const side = (c: string[], a: string[]) => `${c.join(',')}${a.length ? ` agents ${a.join(',')}` : ''}`
  const extra = [
    p.rate_limit_rps !== undefined ? `${p.rate_limit_rps} rps` : '',
    p.max_latency_ms !== undefined ? `max ${p.max_latency_ms} ms` : '',
    p.encrypt ? 'encrypt' : '',
  ].filter(Boolean)
  return `${p.name}: ${p.policy} ${side(p.source_clusters, p.source_agents)} -> ${side(p.destination_clusters, p.destination_agents)}${extra.length ? ` (${extra.join(', ')})` : ''}`
}

function table(r: PolicyListResponse): string {
  const lines = ['In force on this router (tried in this order):']
  if (r.in_force.length === 0) lines.push('  (none: the default applies)')
  for (const p of r.in_force) lines.push(`  ${p.name}  [${p.from}]`)
  lines.push(r.registry === null ? 'Registry: this node has no control plane' : 'Registry (federation-wide):')
  for (const p of r.registry ?? []) lines.push(`  ${describe(p)}`)
  return lines.join('\n')
}

export function policyCommands(y: Argv<GlobalArgs>, run: Run): Argv<GlobalArgs> {
  return y
    .command(
      'apply <name>',
      'Create or replace a federation-wide network policy (every router enforces it)',
      (c) =>
        c
          .positional('name', { type: 'string', demandOption: true })
          .option('source-clusters', { type: 'string', default: '*', describe: 'comma-separated patterns' })
          .option('destination-clusters', {
            type: 'string',
            default: '*',
            describe: 'comma-separated patterns',
          })
          .option('source-agents', { type: 'string', describe: 'comma-separated patterns (default: any)' })
          .option('destination-agents', {
            type: 'string',
            describe: 'comma-separated patterns (default: any)',
          })
          .option('policy', { choices: ['allow', 'deny', 'rate_limit'] as const, default: 'allow' as const })
          .option('rate-limit-rps', { type: 'number', describe: 'with --policy rate_limit' })
          .option('max-latency-ms', { type: 'number' })
          .option('encrypt', { type: 'boolean', default: true }),
      (argv) =>
        run(async () => {
          try {
            const req: ApplyPolicyRequest = {
              name: argv.name,
              source_clusters: list(argv['source-clusters']),
              destination_clusters: list(argv['destination-clusters']),
              source_agents: list(argv['source-agents']),
              destination_agents: list(argv['destination-agents']),
              policy: argv.policy,
              encrypt: argv.encrypt,
              ...(argv['rate-limit-rps'] !== undefined ? { rate_limit_rps: argv['rate-limit-rps'] } : {}),
              ...(argv['max-latency-ms'] !== undefined ? { max_latency_ms: argv['max-latency-ms'] } : {}),
            }
            const p = await withClient(argv, (c) => c.applyPolicy(req))
            printResult(argv, p, () => `applied ${describe(p)}`)
            return EXIT_OK
          } catch (err) {
            return errorExit(argv, err)
          }
        }),
    )
    .command(
      'list',
      "The policies this router enforces, and the registry's definitions",
      (c) => c,
      (argv) => run(() => show(argv, (c) => c.policies(), table)),
    )
    .command(
      'remove <name>',
      'Remove a federation-wide policy from the registry',
      (c) => c.positional('name', { type: 'string', demandOption: true }),
      (argv) =>
        run(() =>
          show(
            argv,
            (c) => c.removePolicy(argv.name),
            (r) => `removed ${r.removed}`,
          ),
        ),
    )
    .demandCommand(1, 'name a policy command: apply, list or remove')
}
