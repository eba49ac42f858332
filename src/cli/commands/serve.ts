import type { Command } from 'commander';
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../../config/load.js';

interface ServeFlags {
  listen?: string;
  data?: string;
  config?: string;
  logLevel?: string;
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('start the registry (embedded default: filesystem blobs + SQLite metadata)')
    .option('--listen <host:port>', 'address to listen on (default 0.0.0.0:5000)')
    .option('--data <dir>', 'data directory (default ./data)')
    .option('--config <file>', 'YAML config file (also BERTH_CONFIG)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
    .action(async (flags: ServeFlags) => {
      let config;
      try {
        config = loadConfig({
          file: flags.config ?? process.env.BERTH_CONFIG,
          env: process.env,
          flags: { listen: flags.listen, data: flags.data, log: { level: flags.logLevel } },
        });
      } catch (err) {
        if (err instanceof ConfigError) {
          process.stderr.write(`berth: ${err.message}\n`);
          process.exit(2);
        }
        throw err;
      }
      const logger = pino({ level: config.log.level });
      // Loaded here, not at the top: client commands (login, user, …) should not pay for loading the server.
      const { startServer } = await import('../../server.js');
      const server = await startServer(config, logger).catch((err: Error) => {
        logger.fatal({ err }, 'berth failed to start');
        process.exit(1);
      });
      const shutdown = (signal: string) => {
        logger.info({ signal }, 'shutting down: finishing in-flight requests');
        const force = setTimeout(() => {
          logger.warn('in-flight requests did not finish in time; exiting');
          process.exit(1);
        }, config.http.shutdownGraceSeconds * 1000);
        force.unref();
        server.close().then(
          () => {
            logger.info('shut down cleanly');
            process.exit(0);
          },
          (err: Error) => {
            logger.error({ err }, 'error during shutdown');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
    });
}
