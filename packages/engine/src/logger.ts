const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LEVELS;

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** The engine's own messages (not job logs) on stderr, prefixed so they stand out beside the server's. */
export function createLogger(level: string = 'info', prefix = 'engine'): Logger {
  const min = LEVELS[(level in LEVELS ? level : 'info') as LogLevel];
  const at = (l: LogLevel) => (msg: string) => {
    if (LEVELS[l] >= min) process.stderr.write(`[${prefix}] ${l === 'info' ? '' : `${l}: `}${msg}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
