/**
 * The whole environment a sandboxed command gets. Nothing is inherited from airlock's own
 * environment, so no API key or token can reach a command through it.
 */
export function commandEnv(home: string, tmp: string): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: home,
    TMPDIR: tmp,
    USER: 'airlock',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    TERM: 'dumb',
    PAGER: 'cat',
    GIT_PAGER: 'cat',
    GIT_TERMINAL_PROMPT: '0',
    CI: '1',
  };
}
