// `blackroad send`, `blackroad request` and `blackroad subscribe`: the message bus from a shell.

import type { Argv } from 'yargs'
import { BlackroadClient } from '../client/index.js'
import type { BusMessage } from '../client/types.js'
import { type GlobalArgs, resolveSocket, show } from './context.js'
import { EXIT_OK, errorExit } from './output.js'

type Run = (fn: () => Promise<number>) => Promise<void>

const text = (m: BusMessage) => (m.encoding === 'utf8' ? m.data : `(base64) ${m.data}`)

export function busCommands(y: Argv<GlobalArgs>, run: Run): Argv<GlobalArgs> {
  return y
    .command(
      'send <subject> [data]',
      'Publish a message on a subject',
      (c) =>
        c
          .positional('subject', { type: 'string', demandOption: true })
          .positional('data', { type: 'string', default: '' })
          .option('priority', { type: 'number', describe: '1 (lowest) to 10' })
          .option('reliable', {
            type: 'boolean',
            describe: 'At-least-once: wait for every subscriber node to ack',
          }),
      (argv) =>
        run(() =>
          show(
            argv,
            (c) =>
              c.publish({
                subject: argv.subject,
                data: argv.data,
                priority: argv.priority,
                reliable: argv.reliable,
              }),
            () => 'sent',
          ),
        ),
    )
    .command(
      'request <subject> [data]',
      'Send a request and print the reply',
      (c) =>
        c
          .positional('subject', { type: 'string', demandOption: true })
          .positional('data', { type: 'string', default: '' })
          .option('timeout', { type: 'number', default: 5000, describe: 'ms' }),
      (argv) =>
        run(() =>
          show(
            argv,
            (c) => c.busRequest({ subject: argv.subject, data: argv.data, timeout_ms: argv.timeout }),
            text,
          ),
        ),
    )
    .command(
      'subscribe <subject>',
      'Print messages on a subject as they arrive (--json: one JSON object per line)',
      (c) =>
        c
          .positional('subject', { type: 'string', demandOption: true })
          .option('count', { type: 'number', describe: 'Exit after this many messages' }),
      (argv) =>
        run(async () => {
          const client = new BlackroadClient({ socketPath: await resolveSocket(argv) })
          let seen = 0
          try {
            for await (const m of client.subscribe(argv.subject)) {
              process.stdout.write(argv.json ? `${JSON.stringify(m)}\n` : `[${m.subject}] ${text(m)}\n`)
              seen++
              if (argv.count !== undefined && seen >= argv.count) break
            }
            return EXIT_OK
          } catch (err) {
            return errorExit(argv, err)
          } finally {
            client.close()
          }
        }),
    )
}
