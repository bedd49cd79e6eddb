// pods/exec over a WebSocket (the channel.k8s.io family): one byte of channel, then data. 0 stdin,
// 1 stdout, 2 stderr, 3 the final metav1.Status, 4 resize; v5 adds [255, channel] to close one
// stream (the client half-closing stdin). A client hanging up does not kill the process.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import { exitStatus } from './container-runtime.js';
import type { Cluster, ExecRecord } from './context.js';
import { boolParam } from './http-util.js';
import { pickContainer } from './pods-api.js';
import type { RequestInfo } from './request-info.js';
import { badRequest, notFound } from './status.js';
import { type KubeObject, PODS } from './types.js';

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const CLOSE = 255;
/** How much of an exec's stdin and stdout its record keeps. */
const RECORDED = 1024 * 1024;

/** Picks the first subprotocol the client offers that the server supports, as wsstream does. */
export function negotiate(offered: string | undefined, supported: string[]): string | undefined {
  return (offered ?? '')
    .split(',')
    .map((p) => p.trim())
    .find((p) => supported.includes(p));
}

function exitMessage(command: string[], code: number): KubeObject {
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

function startFailure(problem: string): KubeObject {
  const message = `error executing command in container: failed to exec in container: failed to start exec "${randomBytes(32).toString('hex')}": OCI runtime exec failed: exec failed: unable to start container process: ${problem}: unknown`;
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${message}`,
    reason: 'InternalError',
    details: { causes: [{ message }] },
    code: 500,
  };
}

interface Session {
  ns: string;
  pod: string;
  container: string;
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** The checks the API server and kubelet make before upgrading; throws the Status to answer with. */
export function prepareExec(c: Cluster, req: IncomingMessage, url: URL, info: RequestInfo): Session {
  const pod = c.store.get('pods', info.namespace, info.name);
  if (!pod) throw notFound(PODS, info.name);
  const container = pickContainer(pod, url.searchParams.get('container'));
  const s: Session = {
    ns: info.namespace,
    pod: info.name,
    container: container.name,
    command: url.searchParams.getAll('command'),
    stdin: boolParam(url, 'stdin'),
    stdout: boolParam(url, 'stdout'),
    stderr: boolParam(url, 'stderr'),
    tty: boolParam(url, 'tty'),
  };
  if (!s.stdin && !s.stdout && !s.stderr)
    throw badRequest('you must specify at least 1 of stdin, stdout, stderr');
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed')
    throw badRequest(`cannot exec into a container in a completed pod; current phase is ${phase}`);
  if (!pod.spec.nodeName) throw badRequest(`pod ${info.name} does not have a host assigned`);
  if (!c.kubelet.isRunning(s.ns, s.pod, s.container))
    throw badRequest(`unable to upgrade connection: container not found ("${s.container}")`);
  if (!negotiate(req.headers['sec-websocket-protocol'], c.execProtocols))
    throw badRequest(
      `unable to upgrade connection: requested protocol(s) are not supported: [${req.headers['sec-websocket-protocol'] ?? ''}]; supports [${c.execProtocols.join(' ')}]`,
    );
  return s;
}

const bytes = (data: RawData): Buffer =>
  Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);

export function upgradeExec(
  c: Cluster,
  wss: WebSocketServer,
  s: Session,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  wss.handleUpgrade(req, socket, head, (ws) => run(c, ws, s));
}

function run(c: Cluster, ws: WebSocket, s: Session): void {
  const record: ExecRecord = {
    namespace: s.ns,
    pod: s.pod,
    container: s.container,
    command: s.command,
    protocol: ws.protocol,
    exitCode: null,
    clientClosed: false,
    stdin: '',
    stdout: '',
  };
  const recorded = (text: string, b: Buffer) =>
    text.length >= RECORDED ? text : text + b.subarray(0, RECORDED - text.length).toString('utf8');
  c.execs.push(record);
  c.sockets.add(ws);
  const send = (channel: number, data: Buffer) => {
    if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), data]));
  };
  const finish = (status: KubeObject) => {
    send(ERROR, Buffer.from(JSON.stringify(status)));
    if (ws.readyState === ws.OPEN) ws.close(1000);
  };
  // As the API server does: an empty frame on the lowest output channel says the streams are ready.
  send(s.stdout ? STDOUT : s.stderr ? STDERR : ERROR, Buffer.alloc(0));
  const child = c.kubelet.exec(s.ns, s.pod, s.container, s.command, s.stdin);
  if (typeof child === 'string') {
    finish(startFailure(child));
    return;
  }
  child.stdin?.on('error', () => {}); // EPIPE: the process exited without reading its input.
  child.stdout?.on('data', (b: Buffer) => {
    record.stdout = recorded(record.stdout, b);
    if (s.stdout) send(STDOUT, b);
  });
  // With a TTY there is no separate stderr: it arrives on stdout.
  child.stderr?.on('data', (b: Buffer) =>
    s.tty ? s.stdout && send(STDOUT, b) : s.stderr && send(STDERR, b),
  );
  ws.on('message', (data: RawData) => {
    const buf = bytes(data);
    if (buf[0] === STDIN && s.stdin) {
      record.stdin = recorded(record.stdin, buf.subarray(1));
      child.stdin?.write(buf.subarray(1));
    } else if (buf[0] === CLOSE && ws.protocol === 'v5.channel.k8s.io' && buf[1] === STDIN)
      child.stdin?.end();
    // Resize (4) means nothing without a real TTY; unknown channels are ignored, as by wsstream.
  });
  ws.on('close', () => {
    c.sockets.delete(ws);
    if (record.exitCode !== null) return;
    record.clientClosed = true;
    child.stdin?.end();
  });
  child.on('close', (code, signal) => {
    const status = exitStatus(code, signal);
    record.exitCode = status;
    finish(status === 0 ? { metadata: {}, status: 'Success' } : exitMessage(s.command, status));
  });
}
