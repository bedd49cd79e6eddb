import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where the bridge and the gateway's socket appear inside a local sandbox. */
export const BRIDGE_DIR = '/run/airlock';
export const BRIDGE_NODE = `${BRIDGE_DIR}/node`;
export const BRIDGE_SCRIPT = `${BRIDGE_DIR}/egress-bridge.mjs`;
export const BRIDGE_SOCKET = `${BRIDGE_DIR}/egress.sock`;
/** The sandbox's own loopback port for the gateway: the squid convention, so it reads as a proxy. */
export const BRIDGE_PORT = 3128;
export const BRIDGE_PROXY_URL = `http://127.0.0.1:${BRIDGE_PORT}`;

/**
 * The sandbox has no network but its own loopback (bwrap --unshare-net). This small program runs
 * first in it: it listens on 127.0.0.1:3128 and carries each connection to the gateway's Unix
 * socket bound in from the host, then runs the command and exits as the command does. So the
 * gateway is the only way out, and every way out meets it.
 */
const SOURCE = `// airlock egress bridge (see src/sandbox/local/egress-bridge.ts)
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { constants } from 'node:os';
const [port, socket, ...command] = process.argv.slice(2);
const server = createServer({ allowHalfOpen: true }, (client) => {
  const upstream = connect({ path: socket, allowHalfOpen: true });
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.pipe(upstream);
  upstream.pipe(client);
});
server.on('error', (error) => {
  process.stderr.write('airlock: the egress bridge could not listen on 127.0.0.1:' + port + ': ' + error.message + '\\n');
  process.exit(125);
});
server.listen(Number(port), '127.0.0.1', () => {
  const child = spawn(command[0], command.slice(1), { stdio: 'inherit' });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('error', (error) => {
    process.stderr.write('airlock: cannot start ' + command[0] + ': ' + error.message + '\\n');
    process.exit(127);
  });
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 1)));
});
`;

/** Writes the bridge program into `dir` (airlock's own, bound read-only into each sandbox). */
export function writeBridge(dir: string): string {
  const path = join(dir, 'egress-bridge.mjs');
  writeFileSync(path, SOURCE, { mode: 0o644 });
  return path;
}
