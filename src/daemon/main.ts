// `blackroad daemon`: loads the config, checks privileges, starts the Daemon and runs until SIGTERM/SIGINT,
// then shuts down cleanly. Exit status tells systemd and people what went wrong: 78 (EX_CONFIG) for a bad
// config, 77 (EX_NOPERM) for missing privileges, 1 for any other failure to start, 0 after a clean stop.

import type { Logger } from 'pino'
import { type ConfigCache, loadConfigCached } from '../config/cached.js'
import { ConfigError } from '../config/errors.js'
import type { Config } from '../config/index.js'
import { missingRouterPrivileges } from '../os/privileges.js'
import { SystemdNotifier } from '../os/sd-notify.js'
import { VERSION } from '../version.js'
import { scheduleCodeCacheSave } from './code-cache.js'
import { Daemon } from './daemon.js'
import { createLogger, type LogFormat } from './logger.js'

export const EXIT_CONFIG = 78
export const EXIT_NOPERM = 77

export interface RunDaemonOptions {
  configPath: string
  /** Skip the capability check (only for running the API layers unprivileged, e.g. in development). */
  skipPrivilegeCheck?: boolean
  /** The loader's hook that saves the V8 code cache for later daemon starts (see scripts/bin-loader.cjs). */
  saveCodeCache?: () => void
  /** Where the loader keeps the validated config between starts (see config/cached.ts); none: always parsed. */
  configCache?: ConfigCache
}

export async function runDaemon(opts: RunDaemonOptions): Promise<number> {
  let loaded: { config: Config; fromCache: boolean }
  try {
    loaded = await loadConfigCached(opts.configPath, opts.configCache)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`blackroad: invalid configuration, not starting:\n${err.message}\n`)
      return EXIT_CONFIG
    }
    throw err
  }
  const { config, fromCache } = loaded

  if (!opts.skipPrivilegeCheck) {
    const missing = missingRouterPrivileges()
    if (missing.length > 0) {
      const lines = missing.map((m) => `  ${m.capability}: ${m.why}`).join('\n')
      process.stderr.write(
        `blackroad: missing privileges, not starting:\n${lines}\nRun as root, or through systemd/blackroad.service which grants them.\n`,
      )
      return EXIT_NOPERM
    }
  }

  const logger = createLogger(config.logging.level, config.logging.format as LogFormat)
  logger.info(
    { version: VERSION, config: opts.configPath, config_from_cache: fromCache, node: config.node.name },
    'blackroad daemon starting',
  )
  const notifier = SystemdNotifier.fromEnv(logger)
  const daemon = new Daemon({ config, configPath: opts.configPath, logger })
  try {
    await daemon.start()
  } catch (err) {
    logger.fatal({ err }, 'daemon failed to start')
    notifier.status(`failed to start: ${(err as Error).message}`)
    await daemon.stop()
    process.stderr.write(`blackroad: failed to start: ${(err as Error).message}\n`)
    return 1
  }
  // How long start-up took, from the process's start: the wall time and the CPU it used (a busy machine stretches
  // the first, not the second; the join bench reports both).
  const cpu = process.cpuUsage()
  logger.info(
    {
      startup_ms: Math.round(process.uptime() * 1000),
      startup_cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
    },
    'blackroad daemon ready',
  )
  // Only now: the API socket answers and every listener is bound, which is what READY promises systemd.
  notifier.ready(`serving node ${config.node.name}, API on ${config.api.socket}`)
  // The signal handlers at once (waitForShutdown installs them): a stop that comes right after READY must shut
  // down cleanly, not kill the process.
  const shutdown = waitForShutdown(daemon, logger, notifier, () =>
    reload(daemon, logger, opts.configPath, opts.configCache),
  )
  // Start-up is over, and announced: what it compiled goes into the daemon's code cache (once per build), a few
  // seconds later (CODE_CACHE_DELAY_MS), so that it also holds what joining the mesh compiles.
  const cacheTimer = opts.saveCodeCache && scheduleCodeCacheSave(opts.saveCodeCache, logger)
  try {
    return await shutdown
  } finally {
    if (cacheTimer) clearTimeout(cacheTimer)
    notifier.close()
  }
}

/** SIGHUP: re-reads the config and applies what can change at run time (mesh.policies, network.busy_poll_us). */
async function reload(
  daemon: Daemon,
  logger: Logger,
  configPath: string,
  cache: ConfigCache | undefined,
): Promise<void> {
  try {
    const fresh = (await loadConfigCached(configPath, cache)).config
    const n = daemon.reloadPolicies(fresh.mesh)
    const poll = daemon.reloadBusyPoll(fresh.network.busy_poll_us)
    logger.info(
      { config: configPath, policies: n, busy_poll_us: poll.us },
      'SIGHUP: network policies and busy polling reloaded; other changes need a restart',
    )
  } catch (err) {
    logger.error(
      { err: err instanceof ConfigError ? err.message : err },
      'SIGHUP: config not reloaded; keeping the running one',
    )
  }
}

/** Runs until SIGTERM/SIGINT (then stops the daemon); SIGHUP calls onHangup. Installs the handlers at once. */
function waitForShutdown(
  daemon: Daemon,
  logger: Logger,
  notifier: SystemdNotifier,
  onHangup: () => Promise<void>,
): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal during shutdown; exiting now')
        process.exit(1)
      }
      stopping = true
      logger.info({ signal }, 'shutting down')
      notifier.stopping(`shutting down on ${signal}`)
      // Shutdown must finish even if a subsystem hangs: systemd would SIGKILL us anyway, but later.
      const force = setTimeout(() => {
        logger.error('shutdown took longer than 10 s; exiting')
        process.exit(1)
      }, 10_000)
      force.unref()
      daemon.stop().then(
        () => {
          clearTimeout(force)
          process.off('SIGTERM', onSignal)
          process.off('SIGINT', onSignal)
          logger.info('blackroad daemon stopped')
          // Everything was stopped; a handle a library left open must not keep the process up (seen: the
          // harness's 10 s SIGKILL after "stopped"). Give the loop a second to drain, then exit anyway.
          setTimeout(() => {
            logger.warn('stopped, but open handles kept the process alive; exiting')
            process.exit(0)
          }, 1000).unref()
          resolve(0)
        },
        (err) => {
          logger.error({ err }, 'shutdown failed')
          resolve(1)
        },
      )
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    process.on('SIGHUP', () => void onHangup())
    process.on('uncaughtException', (err) => {
      logger.fatal({ err }, 'uncaught exception')
      notifier.stopping(`uncaught exception: ${(err as Error).message}`)
      daemon.stop().finally(() => process.exit(70))
    })
  })
}
