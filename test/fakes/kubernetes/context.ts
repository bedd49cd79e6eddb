// The state every handler of the stand-in shares.
import type { ServerResponse } from 'node:http';
import type { WebSocket } from 'ws';
import type { Kubelet } from './kubelet.js';
import type { PolicyRule } from './rbac.js';
import type { ObjectStore } from './store.js';

export interface ExecRecord {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  protocol: string;
  exitCode: number | null;
  /** The client closed the socket before the process ended; as on a real kubelet it kept running. */
  clientClosed: boolean;
  /**
   * What the client sent on stdin and what the process wrote on stdout, as text (the first MiB of
   * each): a client that sends its commands down one long-lived exec is seen through these.
   */
  stdin: string;
  stdout: string;
}

export interface RecordedRequest {
  method: string;
  /** Path and query string, as sent. */
  path: string;
  contentType?: string;
  status: number;
}

export interface Cluster {
  token: string;
  store: ObjectStore;
  kubelet: Kubelet;
  rules: Record<string, PolicyRule[]>;
  namespaces: Record<string, Record<string, string>>;
  namespaceCreated: string;
  runtimeClasses: string[];
  execProtocols: string[];
  requests: RecordedRequest[];
  execs: ExecRecord[];
  /** Open watch and follow-log responses, and exec sockets, ended on close. */
  streams: Set<ServerResponse>;
  sockets: Set<WebSocket>;
  timers: Set<NodeJS.Timeout>;
  /** Failures to answer instead of serving, as an overloaded or restarting API server does. */
  faults: Fault[];
  /** Refusals a correct client does not provoke (see router.ts); checked after every test. */
  problems: string[];
}

export interface Fault {
  method: string;
  /** The request's path (with query) contains this. */
  path: string;
  status: 429 | 500 | 503;
  /** How many matching requests fail; then the fault is spent. */
  times: number;
}
