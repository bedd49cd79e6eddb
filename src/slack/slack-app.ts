import { App, LogLevel, SocketModeReceiver } from '@slack/bolt';
import type { Dispatcher } from 'undici';
import type { Logger } from '../log/logger.js';

/** Bolt's logger interface over pino, so Bolt's lines carry airlock's redaction. */
function boltLogger(logger: Logger) {
  const child = logger.child({ component: 'slack' });
  let level: LogLevel = LogLevel.INFO;
  return {
    debug: (...msg: unknown[]) => child.debug(msg.map(String).join(' ')),
    info: (...msg: unknown[]) => child.info(msg.map(String).join(' ')),
    warn: (...msg: unknown[]) => child.warn(msg.map(String).join(' ')),
    error: (...msg: unknown[]) => child.error(msg.map(String).join(' ')),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}

export interface SlackConnection {
  app: App;
  connected: () => boolean;
  /** Connects (rejecting if Slack refuses), then keeps reconnecting on its own. */
  start: () => Promise<void>;
}

/**
 * Bolt in Socket Mode: outbound WebSocket only, no request URL. SLACK_API_URL reaches both the
 * Web API client and the Socket Mode client (private gateways, GovSlack, tests).
 */
export function createSlackApp(opts: {
  botToken: string;
  appToken: string;
  apiUrl?: string;
  logger: Logger;
  /** undici dispatcher for the Socket Mode WebSocket (an egress proxy). */
  dispatcher?: Dispatcher;
}): SlackConnection {
  const clientOptions = opts.apiUrl
    ? { slackApiUrl: opts.apiUrl.endsWith('/') ? opts.apiUrl : `${opts.apiUrl}/` }
    : {};
  const logger = boltLogger(opts.logger);
  // Bolt hands installerOptions.clientOptions to the Socket Mode client (apps.connections.open).
  const receiver = new SocketModeReceiver({
    appToken: opts.appToken,
    dispatcher: opts.dispatcher,
    installerOptions: { clientOptions },
    logger,
    logLevel: LogLevel.INFO,
  });
  const app = new App({ token: opts.botToken, receiver, clientOptions, logger, logLevel: LogLevel.INFO });
  let connected = false;
  receiver.client.on('connected', () => {
    connected = true;
  });
  receiver.client.on('disconnected', () => {
    connected = false;
  });
  receiver.client.on('reconnecting', () => {
    connected = false;
  });
  const start = async () => {
    await app.start();
    // @slack/socket-mode chains `start().then(...)` for each reconnect with no rejection handler,
    // so a reconnect attempt cut short (by a stop, or a second drop) rejects unhandled, which
    // ends a Node process. Once connected, reconnect attempts log their failure instead.
    const client = receiver.client;
    const original = client.start.bind(client);
    client.start = () =>
      original().catch((error: unknown) => {
        opts.logger.warn(
          { err: error instanceof Error ? error.message : String(error) },
          'Slack reconnect attempt ended',
        );
        return undefined as never;
      });
  };
  return { app, connected: () => connected, start };
}
