/**
 * The Egress port (DESIGN.md §4, Network by phase): what runs/ tells the egress gateway. A run's
 * sandbox reaches what its current phase's list names, plus what approvers allowed for the run.
 */
export type NetworkPhase = 'setup' | 'agent';

export interface Egress {
  /**
   * From now on the sandbox `key` (a run id) is judged as `phase`, against `allow`. `askable`: a
   * refusal may tell the agent that approvers can allow the host from the run's thread.
   */
  enter(key: string, phase: NetworkPhase, allow: readonly string[], opts?: { askable?: boolean }): void;
  /** Lets `target` (a host rule: host, host:port) through for the rest of the run. */
  grant(key: string, target: string): void;
  /** The run holds no sandbox any more: its connections are refused. */
  forget(key: string): void;
}

/** One connection through the gateway, allowed or refused, once it is over. */
export interface EgressRecord {
  key: string;
  allowed: boolean;
  host: string;
  port: number;
  phase: NetworkPhase | 'none';
  /** CONNECT for a tunnel (TLS), else the plain HTTP method. */
  method: string;
  /** The policy entry that allowed it. */
  rule?: string;
  /** Why it was refused. */
  reason?: string;
  bytesSent: number;
  bytesReceived: number;
  durationMs: number;
  /** The upstream failed (could not connect, reset). */
  error?: string;
}
