import type { WebClient } from '@slack/web-api';
import type { AirlockEnv } from '../config/env.js';

/** For `airlock doctor`: the bot token works and the app token can open a Socket Mode connection. */
export async function checkSlack(
  env: AirlockEnv,
  clients: { bot: WebClient; app: WebClient } | undefined,
): Promise<string> {
  if (!env.SLACK_BOT_TOKEN && !env.SLACK_APP_TOKEN) return 'not configured (only needed for airlock serve)';
  if (!env.SLACK_BOT_TOKEN?.startsWith('xoxb-'))
    throw new Error('SLACK_BOT_TOKEN must be the bot token (xoxb-…)');
  if (!env.SLACK_APP_TOKEN?.startsWith('xapp-'))
    throw new Error('SLACK_APP_TOKEN must be an app-level token (xapp-…) with connections:write');
  if (!clients) throw new Error('set both SLACK_BOT_TOKEN and SLACK_APP_TOKEN');
  const bot = await clients.bot.auth.test().catch((error: Error) => {
    throw new Error(`Slack refused SLACK_BOT_TOKEN: ${error.message}`);
  });
  await clients.app.apps.connections.open().catch((error: Error) => {
    throw new Error(`Slack refused SLACK_APP_TOKEN for Socket Mode: ${error.message}`);
  });
  return `bot ${String(bot.user)} in ${String(bot.team)}; Socket Mode available`;
}
