// Where the config lives by default. Its own module: the command line and the daemon's start-up name it without
// loading the schemas (see cached.ts).

export const DEFAULT_CONFIG_PATH = '/etc/blackroad/config.yaml'
