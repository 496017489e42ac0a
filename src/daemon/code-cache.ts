// When the daemon writes its own V8 code cache (the loader's saveCodeCache hook, scripts/bin-loader.cjs). A module
// of its own, so the join bench and the netns test that wait for the save need not load the daemon to know when.

import type { Logger } from 'pino'

/**
 * How long after "ready" a daemon without a code cache of its own writes one. V8 puts in a cache the functions
 * compiled so far; written at "ready", it held start-up's but not what a daemon compiles next, as it finds its
 * peers (links, certificates, probes, routing, WireGuard peers, DNS zone): every later start compiled those again,
 * ~20 ms of CPU per daemon in the join bench's window (perf: parser and bytecode generator). A few seconds are
 * enough for a join on a LAN, and short enough that V8 has not yet flushed start-up's bytecode (it does so for
 * functions left unused through several full GCs). A daemon stopped sooner writes none: the next one does.
 */
export const CODE_CACHE_DELAY_MS = 5_000

/** Calls `save` CODE_CACHE_DELAY_MS from now (a timer that keeps nothing alive); clear it on shutdown. */
export function scheduleCodeCacheSave(save: () => void, logger: Logger): NodeJS.Timeout {
  const timer = setTimeout(() => {
    try {
      save()
      logger.info('code cache for daemon start-up saved')
    } catch (err) {
      logger.debug({ err }, 'code cache for daemon start-up not saved')
    }
  }, CODE_CACHE_DELAY_MS)
  timer.unref()
  return timer
}
