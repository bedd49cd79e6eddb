/**
 * The Sandbox port (DESIGN.md §4): a workspace where commands run. It holds no credentials.
 * Paths are as commands inside the sandbox see them: absolute under `workdir`, or relative to it.
 */
export interface ExecOptions {
  cwd?: string;
  timeoutMs?: number;
  /**
   * Input for the command. Its end may never arrive: on the kubernetes backend, clusters that offer
   * only exec v4 (no v5.channel.k8s.io) cannot close stdin, so a command that reads to EOF (cat, wc)
   * waits until its timeout; give such a command a length (head -c N) instead.
   */
  stdin?: string | Buffer | NodeJS.ReadableStream;
  signal?: AbortSignal;
  /** Bytes kept of each of stdout and stderr (head and tail); the middle is dropped. */
  maxOutputBytes?: number;
  /**
   * The command sees the workspace read-only (ask and review modes): it cannot change a file
   * there, whatever it runs. A backend that cannot enforce it refuses the command.
   */
  readOnly?: boolean;
}

export interface ExecResult {
  /** null when the command was killed (timeout, cancel) before it exited. */
  exitCode: number | null;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
  /** The signal aborted: the command was stopped, or never started. */
  cancelled: boolean;
  /** Bytes dropped from the middle of stdout plus stderr because of the output cap. */
  droppedBytes: number;
  durationMs: number;
}

export interface Sandbox {
  readonly runId: string;
  readonly workdir: string;
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, data: Buffer | string): Promise<void>;
  /** Unpacks a tar stream into the workspace. */
  putTree(tar: NodeJS.ReadableStream): Promise<void>;
  /** `git diff --binary` of the workspace against the snapshot commit, untracked files included. */
  diff(snapshotCommit: string): Promise<Buffer>;
  destroy(): Promise<void>;
}

/** What a backend needs to build a run's sandbox; image, resources and limits come from the policy of `repo`. */
export interface SandboxSpec {
  repo: string;
  /** Ask and review runs: the agent's commands will run with `readOnly`; the backend must be able to. */
  readOnly?: boolean;
}

export interface SandboxProvider {
  readonly kind: 'local' | 'kubernetes';
  /** A line for the operator when isolation is weaker than it should be; shown once. */
  readonly warning?: string;
  create(runId: string, spec: SandboxSpec): Promise<Sandbox>;
  /** The sandbox of a run that is still there (after a restart of airlock), if any. */
  attach(runId: string): Promise<Sandbox | undefined>;
  /**
   * Hands a prepared sandbox (made with create(preparedId)) to a run, without copying its files:
   * from then on it is the run's, found by attach(runId). Undefined when it is gone.
   */
  adopt?(preparedId: string, runId: string): Promise<Sandbox | undefined>;
  /** Background housekeeping (warm pool, reaping orphans); stops on close. */
  start?(): Promise<void>;
  close?(): Promise<void>;
  /** Sandboxes started since this process began, by how: for /metrics (is the warm pool big enough?). */
  starts?(): { warm: number; cold: number };
  /** For `airlock doctor`: what works, or an Error saying what to fix. */
  check?(): Promise<string>;
}

export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
export const DIFF_MAX_BYTES = 64 * 1024 * 1024;
