// `blackroad agent list`, `blackroad agent register` and `blackroad agent send`: agents on the bus from a shell.
// `register` holds a bus stream open, prints what the agent receives (answering requests with --reply), and
// unregisters when it exits; `send` reaches an agent by name (resolved across the mesh) or node/agent.

import type { Argv } from 'yargs'
import { BlackroadClient } from '../client/index.js'
import { type GlobalArgs, resolveSocket, show } from './context.js'
import { EXIT_OK, errorExit, printResult } from './output.js'
import { notAvailable } from './pending.js'

type Run = (fn: () => Promise<number>) => Promise<void>

export function agentLiveCommands(y: Argv<GlobalArgs>, run: Run): Argv<GlobalArgs> {
  return y
    .command(
      'list',
      "List agents: this node's, and those other nodes announce",
      (c) =>
        c
          .option('type', { type: 'string', describe: 'Only agents of this type' })
          .option('cluster', {
            type: 'string',
            describe: 'Only agents on nodes of this cluster (by name, as their certificates say)',
          })
          .option('status', {
            type: 'string',
            describe: 'Only agents in this state: running (registered on the bus)',
          }),
      (argv) =>
        run(async () => {
          // Every agent the bus knows is running; pending or migrating ones come with the scheduler.
          if (argv.status !== undefined && argv.status !== 'running')
            return notAvailable(`agent list --status ${argv.status}`, 'scheduler', argv.json)
          return show(
            argv,
            (c) => c.agents(argv.type, argv.cluster),
            (list) =>
              list.length === 0
                ? 'no agents'
                : list
                    .map(
                      (a) =>
                        `${a.name.padEnd(24)} ${a.type.padEnd(12)} ${a.address}${a.local ? ' (local)' : ''}`,
                    )
                    .join('\n'),
          )
        }),
    )
    .command(
      'register <name>',
      'Register an agent on this node and print what it receives until interrupted',
      (c) =>
        c
          .positional('name', { type: 'string', demandOption: true })
          .option('type', { type: 'string', demandOption: true })
          .option('label', { type: 'string', array: true, describe: 'key=value (repeatable)' })
          .option('capability', { type: 'string', array: true })
          .option('reply', { type: 'string', describe: 'Answer every request with this text' })
          .option('count', { type: 'number', describe: 'Exit after this many messages' }),
      (argv) =>
        run(async () => {
          const client = new BlackroadClient({ socketPath: await resolveSocket(argv) })
          let session: Awaited<ReturnType<BlackroadClient['connect']>> | null = null
          try {
            session = await client.connect()
            const labels: Record<string, string> = {}
            for (const l of argv.label ?? []) {
              const eq = l.indexOf('=')
              if (eq > 0) labels[l.slice(0, eq)] = l.slice(eq + 1)
            }
            const me = await session.register({
              name: argv.name,
              type: argv.type,
              labels,
              capabilities: argv.capability ?? [],
            })
            printResult(
              argv,
              { address: me.address, dns: me.dns },
              () => `registered ${me.address} (${me.dns})`,
            )
            let seen = 0
            for await (const m of me) {
              if (m.isRequest && argv.reply !== undefined) m.respond(argv.reply)
              const line = {
                subject: m.subject,
                from: `${m.fromNode}/${m.fromAgent}`,
                data: m.text(),
                request: m.isRequest,
              }
              process.stdout.write(
                argv.json
                  ? `${JSON.stringify(line)}\n`
                  : `[${line.from}] ${line.subject ? `${line.subject} ` : ''}${line.data}\n`,
              )
              if (argv.count !== undefined && ++seen >= argv.count) break
            }
            return EXIT_OK
          } catch (err) {
            return errorExit(argv, err)
          } finally {
            session?.close()
            client.close()
          }
        }),
    )
    .command(
      'send <to> [data]',
      'Send a message to an agent (name or node/agent)',
      (c) =>
        c
          .positional('to', { type: 'string', demandOption: true })
          .positional('data', { type: 'string', default: '' })
          .option('subject', { type: 'string' }),
      (argv) =>
        run(() =>
          show(
            argv,
            (c) => c.sendToAgent({ to: argv.to, data: argv.data, subject: argv.subject }),
            (r) => `delivered to ${r.node}/${r.agent}`,
          ),
        ),
    )
}
