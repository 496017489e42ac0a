// `blackroad events publish` and `blackroad events subscribe`: federated events from a shell. Scopes as in
// the guide's FederatedEventBus: local (this cluster), regional (clusters of this region), global.

import type { Argv } from 'yargs'
import { BlackroadClient } from '../client/index.js'
import type { EventView } from '../client/types.js'
import { type GlobalArgs, resolveSocket, withClient } from './context.js'
import { EXIT_ERROR, EXIT_OK, errorExit, printError, printResult } from './output.js'

type Run = (fn: () => Promise<number>) => Promise<void>

const line = (e: EventView) =>
  `[${e.type}] ${e.scope} from ${e.source_cluster}/${e.source_node} ${e.id}: ${JSON.stringify(e.data)}`

/** --data is JSON when it parses as JSON, else taken as a string. */
function parseData(text: string | undefined): unknown {
  if (text === undefined) return null
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

export function eventsCommands(y: Argv<GlobalArgs>, run: Run): Argv<GlobalArgs> {
  return y
    .command(
      'publish',
      'Publish a federated event',
      (c) =>
        c
          .option('type', {
            type: 'string',
            demandOption: true,
            describe: 'Event type, e.g. deploy.finished',
          })
          .option('scope', {
            choices: ['local', 'regional', 'global'] as const,
            default: 'local' as const,
            describe: 'local: this cluster; regional: clusters of this region; global: every cluster',
          })
          .option('data', { type: 'string', describe: 'Event data: JSON, or a plain string' })
          .option('id', {
            type: 'string',
            describe: 'Event id (default: random); a repeated id is not sent again',
          }),
      (argv) =>
        run(async () => {
          try {
            const e = await withClient(argv, (c) =>
              c.publishEvent({ type: argv.type, scope: argv.scope, data: parseData(argv.data), id: argv.id }),
            )
            printResult(
              argv,
              e,
              () => `${e.duplicate ? 'already published' : 'published'} ${e.scope} event ${e.id}`,
            )
            return EXIT_OK
          } catch (err) {
            return errorExit(argv, err)
          }
        }),
    )
    .command(
      'subscribe <pattern>',
      'Print federated events whose type matches a pattern (deploy.*, deploy.>) as they arrive',
      (c) =>
        c
          .positional('pattern', { type: 'string', demandOption: true })
          .option('count', { type: 'number', describe: 'Exit after this many events' }),
      (argv) =>
        run(async () => {
          const client = new BlackroadClient({ socketPath: await resolveSocket(argv) })
          let seen = 0
          try {
            for await (const e of client.subscribeEvents(argv.pattern)) {
              process.stdout.write(argv.json ? `${JSON.stringify(e)}\n` : `${line(e)}\n`)
              seen++
              if (argv.count !== undefined && seen >= argv.count) break
            }
            if (argv.count !== undefined && seen < argv.count) {
              printError(argv, 'STREAM_ENDED', `the daemon ended the stream after ${seen} events`)
              return EXIT_ERROR
            }
            return EXIT_OK
          } catch (err) {
            return errorExit(argv, err)
          } finally {
            client.close()
          }
        }),
    )
    .demandCommand(1, 'name an events command: publish or subscribe')
}
