// Telling systemd how the daemon is doing (sd_notify protocol): READY=1 once it serves, STATUS= lines, STOPPING=1
// on shutdown, and WATCHDOG=1 every WATCHDOG_USEC/2 from a timer on the main event loop, so a stuck loop stops the
// pings and systemd restarts us. Without $NOTIFY_SOCKET every call is a no-op; without the native addon the
// daemon still runs, and start() says once, in one line, that systemd will not hear from it.

import { nativeAddon, nativeProblem } from './native.js'

/** Longest state line we send (a STATUS= with an error message can be long). */
const MAX_LINE = 1000

export interface NotifierLog {
  warn(obj: object, msg: string): void
}

export class SystemdNotifier {
  private timer: NodeJS.Timeout | null = null
  private warned = false

  private constructor(
    private readonly socket: string | null,
    /** Watchdog interval in µs, or 0 when systemd asked for none (or asked another process). */
    readonly watchdogUsec: number,
    private readonly log: NotifierLog,
  ) {}

  /**
   * Reads the protocol's variables and removes them from process.env, so agent processes we start do not
   * inherit (and misuse) our socket.
   */
  static fromEnv(log: NotifierLog, env: NodeJS.ProcessEnv = process.env): SystemdNotifier {
    const socket = env.NOTIFY_SOCKET && env.NOTIFY_SOCKET !== '' ? env.NOTIFY_SOCKET : null
    const usec = Number(env.WATCHDOG_USEC ?? '0')
    const pid = env.WATCHDOG_PID === undefined ? process.pid : Number(env.WATCHDOG_PID)
    const watchdog = Number.isSafeInteger(usec) && usec > 0 && pid === process.pid ? usec : 0
    delete env.NOTIFY_SOCKET
    delete env.WATCHDOG_USEC
    delete env.WATCHDOG_PID
    return new SystemdNotifier(socket, watchdog, log)
  }

  get enabled(): boolean {
    return this.socket !== null
  }

  /** Sends state lines ("READY=1", "STATUS=..."); false when nothing was sent. */
  notify(...lines: string[]): boolean {
    if (this.socket === null) return false
    const addon = nativeAddon()
    if (addon === null) {
      if (!this.warned) {
        this.warned = true
        this.log.warn(
          { reason: nativeProblem() },
          'NOTIFY_SOCKET is set but the native addon is not loaded: systemd will not hear READY or watchdog pings',
        )
      }
      return false
    }
    let err: number | string
    try {
      // systemd reads one datagram; keep it well under the addon's 4 KiB (a STATUS= may carry an error message).
      err = addon.sdNotify(this.socket, lines.map((l) => l.slice(0, MAX_LINE)).join('\n'))
    } catch (e) {
      err = (e as Error).message // a socket path too long for sockaddr_un
    }
    if (err !== 0 && !this.warned) {
      this.warned = true
      this.log.warn({ err, socket: this.socket }, 'sd_notify failed')
    }
    return err === 0
  }

  /** READY=1 with a status line, then the watchdog pings if systemd asked for them. */
  ready(status: string): void {
    this.notify('READY=1', `STATUS=${status}`, `MAINPID=${process.pid}`)
    if (this.watchdogUsec > 0 && this.timer === null) {
      const ms = Math.max(1, Math.floor(this.watchdogUsec / 2000))
      this.timer = setInterval(() => this.notify('WATCHDOG=1'), ms)
      this.timer.unref()
    }
  }

  status(status: string): void {
    this.notify(`STATUS=${status}`)
  }

  /** STOPPING=1 and no more watchdog pings (systemd's stop timeout applies from here). */
  stopping(status: string): void {
    this.close()
    this.notify('STOPPING=1', `STATUS=${status}`)
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }
}
