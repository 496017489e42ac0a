// What every CLI command needs: the parsed global options and a client connected to the right socket. The
// socket comes from --socket, else from the config file's api.socket, else the default path.

import { existsSync } from 'node:fs'
import { BlackroadClient, DEFAULT_SOCKET_PATH } from '../client/index.js'
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig } from '../config/index.js'
import { EXIT_OK, errorExit, printResult } from './output.js'

export interface GlobalArgs {
  config?: string
  socket?: string
  json?: boolean
}

export async function resolveSocket(args: GlobalArgs): Promise<string> {
  if (args.socket) return args.socket
  const configPath = args.config ?? DEFAULT_CONFIG_PATH
  if (!args.config && !existsSync(configPath)) return DEFAULT_SOCKET_PATH
  try {
    return (await loadConfig(configPath)).api.socket
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(
        `blackroad: warning: ignoring ${configPath} for the socket path (it is invalid; see \`blackroad daemon\`)\n`,
      )
      return DEFAULT_SOCKET_PATH
    }
    throw err
  }
}

export async function withClient<T>(
  args: GlobalArgs,
  fn: (client: BlackroadClient) => Promise<T>,
): Promise<T> {
  const client = new BlackroadClient({ socketPath: await resolveSocket(args) })
  try {
    return await fn(client)
  } finally {
    client.close()
  }
}

/**
 * One request to the daemon, its result printed (JSON with --json, else `format(result)`): the shape of most
 * commands. Returns the exit code; an error is printed as errorExit does.
 */
export async function show<T>(
  args: GlobalArgs,
  request: (client: BlackroadClient) => Promise<T>,
  format: (result: T) => string,
): Promise<number> {
  try {
    const result = await withClient(args, request)
    printResult(args, result, () => format(result))
    return EXIT_OK
  } catch (err) {
    return errorExit(args, err)
  }
}
