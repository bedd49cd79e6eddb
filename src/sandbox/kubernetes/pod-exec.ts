import { PassThrough, type Readable, Writable } from 'node:stream';
import type { Exec, V1Status } from '@kubernetes/client-node';
import { AirlockError } from '../../errors.js';
import { OutputCapture } from '../output-capture.js';

export interface PodRef {
  namespace: string;
  name: string;
  container: string;
}

export interface PodExecRequest {
  argv: string[];
  stdin?: Readable;
  maxOutputBytes: number;
  /** Closes the stream; the command itself must be stopped separately (the kubelet keeps it running). */
  signal?: AbortSignal;
  /**
   * v4 has no way to close stdin without closing the whole stream, so stdin stays open there; this
   * returns bytes to send after the source ends that let the command finish without EOF.
   */
  trailerWithoutHalfClose?: (bytesSent: number) => Buffer;
}

export interface PodExecOutcome {
  /** From the status channel; null when the stream ended without one. */
  exitCode: number | null;
  stdout: Buffer;
  stderr: Buffer;
  droppedBytes: number;
  protocol: string;
  aborted: boolean;
}

const V5 = 'v5.channel.k8s.io';
const HIGH_WATER = 4 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;

/**
 * One command through `pods/exec` over WebSocket (the channel protocol: 1 stdout, 2 stderr,
 * 3 status; v5 adds closing stdin, which streaming a tar in needs). The exit code comes from
 * the status channel, as `kubectl exec` reads it.
 */
export async function execInPod(exec: Exec, pod: PodRef, req: PodExecRequest): Promise<PodExecOutcome> {
  const out = new OutputCapture(req.maxOutputBytes);
  const err = new OutputCapture(req.maxOutputBytes);
  const sink = (capture: OutputCapture) =>
    new Writable({
      write(chunk: Buffer, _enc, done) {
        capture.push(chunk);
        done();
      },
    });
  const stdin = req.stdin ? new PassThrough() : null;
  // Read the source from now on: a child process's stdout left unread is discarded when the
  // child exits (Node resumes it), and connecting takes a moment.
  const source = req.stdin ? req.stdin.pipe(new PassThrough({ highWaterMark: 1024 * 1024 })) : undefined;
  req.stdin?.on('error', (e) => source?.destroy(e));
  let status: V1Status | undefined;
  let socket: Awaited<ReturnType<Exec['exec']>>;
  try {
    socket = await exec.exec(
      pod.namespace,
      pod.name,
      pod.container,
      req.argv,
      sink(out),
      sink(err),
      stdin,
      false,
      (s) => {
        status = s;
      },
    );
  } catch (error) {
    source?.destroy();
    throw new AirlockError(
      'sandbox_failed',
      `Kubernetes: could not exec into pod ${pod.name}: ${describeSocketError(error)}`,
      { cause: error },
    );
  }
  const protocol = socket.protocol;
  let aborted = false;
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  const onAbort = () => {
    aborted = true;
    socket.close();
  };
  if (req.signal?.aborted) onAbort();
  req.signal?.addEventListener('abort', onAbort, { once: true });
  if (source && stdin) pumpStdin(source, stdin, socket, protocol === V5, req.trailerWithoutHalfClose);
  await closed;
  req.signal?.removeEventListener('abort', onAbort);
  req.stdin?.unpipe?.();
  source?.destroy();
  stdin?.removeAllListeners('end');
  stdin?.destroy();
  return {
    exitCode: status ? exitCodeOf(status, pod) : null,
    stdout: out.result(),
    stderr: err.result(),
    droppedBytes: out.dropped + err.dropped,
    protocol,
    aborted,
  };
}

/** Sends the source as stdin, pausing while the socket's send buffer is full. */
function pumpStdin(
  source: Readable,
  stdin: PassThrough,
  socket: { bufferedAmount: number; readyState: number },
  canHalfClose: boolean,
  trailer?: (bytesSent: number) => Buffer,
): void {
  let sent = 0;
  source.on('data', (chunk: Buffer) => {
    stdin.write(chunk);
    sent += chunk.length;
    if (socket.bufferedAmount > HIGH_WATER) {
      source.pause();
      const drain = () => {
        if (socket.readyState !== 1 || socket.bufferedAmount < LOW_WATER) source.resume();
        else setTimeout(drain, 5);
      };
      setTimeout(drain, 5);
    }
  });
  source.on('end', () => {
    if (canHalfClose) stdin.end();
    else if (trailer) stdin.write(trailer(sent));
  });
  source.on('error', () => stdin.destroy());
}

function exitCodeOf(status: V1Status, pod: PodRef): number {
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  if (status.reason === 'NonZeroExitCode' && cause?.message) return Number(cause.message);
  throw failureOf(status, pod);
}

/** The error a final status holds when it is not an exit code (the process could not start…). */
export function statusFailure(status: V1Status, pod: PodRef): AirlockError | undefined {
  if (status.status === 'Success' || status.reason === 'NonZeroExitCode') return undefined;
  return failureOf(status, pod);
}

function failureOf(status: V1Status, pod: PodRef): AirlockError {
  return new AirlockError(
    'sandbox_failed',
    `Kubernetes could not run the command in pod ${pod.name}: ${status.message ?? status.reason ?? 'unknown error'}`,
  );
}

export function describeSocketError(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as { message?: string; error?: { message?: string } };
    return e.error?.message ?? e.message ?? String(error);
  }
  return String(error);
}
