// `blackroad config check` and `blackroad config describe`: validate a config file without starting the
// daemon (every problem with file:line:column and field path), and print the schema as documentation. These
// read the file directly; they are the only commands that need no daemon.

import type { Argv } from 'yargs'
import { ConfigError, DEFAULT_CONFIG_PATH, describeSchema, loadConfig } from '../config/index.js'
import type { GlobalArgs } from './context.js'
import { EXIT_ERROR, EXIT_OK, printResult } from './output.js'

type Run = (fn: () => Promise<number>) => Promise<void>

export function configCommands(y: Argv<GlobalArgs>, run: Run): Argv<GlobalArgs> {
  return y
    .command(
      'check',
      'Validate the config file',
      (c) => c,
      (argv) =>
        run(async () => {
          const file = argv.config ?? DEFAULT_CONFIG_PATH
          try {
            const config = await loadConfig(file)
            printResult(
              argv,
              { file, valid: true, node: config.node.name },
              () => `${file}: valid (node ${config.node.name})`,
            )
            return EXIT_OK
          } catch (err) {
            if (!(err instanceof ConfigError)) throw err
            if (argv.json)
              process.stdout.write(
                `${JSON.stringify({ file, valid: false, problems: err.problems }, null, 2)}\n`,
              )
            else process.stderr.write(`${err.message}\n`)
            return EXIT_ERROR
          }
        }),
    )
    .command(
      'describe',
      'Print every config field with its type, default and meaning',
      (c) => c,
      (argv) =>
        run(async () => {
          const fields = describeSchema()
          printResult(argv, fields, () =>
            fields
              .filter((f) => f.leaf)
              .map(
                (f) =>
                  `${f.path}  (${f.type}${f.default !== undefined ? `, default ${f.default}` : f.required ? ', required' : ''})\n    ${f.description}`,
              )
              .join('\n'),
          )
          return EXIT_OK
        }),
    )
    .demandCommand(1, 'name a config command')
}
