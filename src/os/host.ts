// What the WireGuard device asks of the host besides running `ip`, `wg` and wireguard-go: sysctls, whether an interface
// exists, whether the kernel has WireGuard. The daemon answers from /proc and /sys directly, with no process
// per question: at start-up that is four processes fewer (a sysctl read and write, the kernel probe where the
// module does not exist, the stale-interface removal where there is none), each a fork of the whole daemon
// while three of them may be starting on a Pi's cores. Where the device runs commands through another Exec
// (tests, a namespace of its own) the same questions go through commands, as the host's own files would
// describe another machine or namespace.

import { readFile, writeFile } from 'node:fs/promises'
import { release } from 'node:os'
import type { Exec } from './exec.js'
import { pathExists as exists } from './fs.js'

/** Whether the kernel can create a wireguard link: the module is in, can be loaded, or is nowhere. */
export type KernelWireGuard = 'present' | 'loadable' | 'absent'

export interface HostAccess {
  /** Values of sysctls (dotted names), in order. */
  readSysctls(keys: readonly string[]): Promise<string[]>
  /** Sets sysctls in order. */
  writeSysctls(settings: readonly (readonly [key: string, value: string])[]): Promise<void>
  /** Whether a network interface of this name exists; undefined when only `ip` can tell. */
  interfaceExists(name: string): Promise<boolean | undefined>
  /** Kernel WireGuard support; undefined when only trying to create a link can tell. */
  kernelWireGuard(): Promise<KernelWireGuard | undefined>
}

/** Asks through commands (`sysctl`), in a namespace when given: what tests and foreign namespaces use. */
export function commandHost(exec: Exec, netns?: string): HostAccess {
  const opts = netns === undefined ? {} : { netns }
  return {
    async readSysctls(keys) {
      const r = await exec.run('sysctl', ['-n', ...keys], opts)
      const values = r.stdout.trim().split('\n')
      if (values.length !== keys.length)
        throw new Error(`sysctl -n ${keys.join(' ')}: ${values.length} values for ${keys.length} keys`)
      return values.map((v) => v.trim())
    },
    async writeSysctls(settings) {
      if (settings.length === 0) return
      await exec.run('sysctl', ['-q', '-w', ...settings.map(([k, v]) => `${k}=${v}`)], opts)
    },
    interfaceExists: async () => undefined,
    kernelWireGuard: async () => undefined,
  }
}

const procSys = (key: string) => `/proc/sys/${key.replaceAll('.', '/')}`

async function mentions(path: string, what: RegExp): Promise<boolean | undefined> {
  try {
    return what.test(await readFile(path, 'utf8'))
  } catch {
    return undefined
  }
}

/**
 * The daemon's own namespace, from /proc/sys and /sys (which `ip netns exec` and systemd both mount for the
 * namespace the process runs in). Kernel WireGuard: loaded (/sys/module), built in or loadable (the module
 * lists under /lib/modules/<release>); absent when neither, or when the running kernel has no module tree at
 * all; when the lists cannot be read, the probe by link creation decides. Judging a kernel without it costs
 * nothing but wireguard-go where the kernel module was (wireguard.backend: kernel forces it).
 */
export function procHost(modulesDir = `/lib/modules/${release()}`): HostAccess {
  return {
    readSysctls: (keys) => Promise.all(keys.map(async (k) => (await readFile(procSys(k), 'utf8')).trim())),
    async writeSysctls(settings) {
      for (const [k, v] of settings) await writeFile(procSys(k), `${v}\n`)
    },
    interfaceExists: async (name) =>
      (await exists('/sys/class/net')) ? exists(`/sys/class/net/${name}`) : undefined,
    async kernelWireGuard() {
      if (await exists('/sys/module/wireguard')) return 'present'
      // No module tree for the running kernel (a container, a custom kernel): nothing can be loaded.
      if (!(await exists(modulesDir))) return 'absent'
      const ko = /(^|\/)wireguard\.ko/m
      const builtin = await mentions(`${modulesDir}/modules.builtin`, ko)
      if (builtin) return 'present'
      const loadable = await mentions(`${modulesDir}/modules.dep`, ko)
      if (loadable) return 'loadable'
      return builtin === false && loadable === false ? 'absent' : undefined
    },
  }
}
