import { type Dispatcher, EnvHttpProxyAgent, setGlobalDispatcher } from 'undici';

const pick = (env: NodeJS.ProcessEnv, name: string) => env[name.toLowerCase()] ?? env[name] ?? undefined;

/**
 * Egress through an HTTP(S) proxy when HTTPS_PROXY or HTTP_PROXY is set (NO_PROXY honoured), as
 * the egress-proxy overlay does. Node's fetch ignores those variables, so every fetch-based client
 * (Slack Web API, Anthropic, OpenAI, Octokit, GitLab) gets a proxying global dispatcher, and the
 * returned one goes to Socket Mode's WebSocket. git and axios (jira.js) read the variables
 * themselves. A process-wide setting, made once here in the composition root.
 */
export function installEgressProxy(env: NodeJS.ProcessEnv): Dispatcher | undefined {
  const httpProxy = pick(env, 'HTTP_PROXY');
  const httpsProxy = pick(env, 'HTTPS_PROXY') ?? httpProxy;
  if (!httpProxy && !httpsProxy) return undefined;
  const agent = new EnvHttpProxyAgent({ httpProxy, httpsProxy, noProxy: pick(env, 'NO_PROXY') ?? '' });
  setGlobalDispatcher(agent);
  return agent;
}

/** The variables git needs to use the same proxy and trust the same certificates. */
export const PROXY_ENV_NAMES = [
  'HTTPS_PROXY',
  'https_proxy',
  'HTTP_PROXY',
  'http_proxy',
  'NO_PROXY',
  'no_proxy',
  'GIT_SSL_CAINFO',
  'SSL_CERT_FILE',
];
