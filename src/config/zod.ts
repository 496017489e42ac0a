// zod, configured once for the whole program; every module takes `z` from here, never from 'zod' itself.
// zod compiles a fast path for each object schema with new Function() on its first parse. Our schemas parse a
// config file once per process and API bodies a few times a second, so that compile is never paid back (nor can
// V8's code cache keep it). zod reads the setting when a schema is built, not when it parses, so it must be set
// before any module builds one: importing z from here guarantees that. Measured here on config/edge-pi.yaml:
// the first three parses 31-43 ms without the compile against 55 ms with it, and 3-4 against 8 ms after.

import { z } from 'zod'

z.config({ jitless: true })

export { z }
