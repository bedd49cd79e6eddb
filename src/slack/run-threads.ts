/** Where a run talks in Slack: its thread and the messages airlock edits there. slack/ owns this. */
export interface RunThread {
  channel: string;
  threadTs: string;
  statusTs: string | null;
  approvalTs: string | null;
}

/** The port slack/ keeps its thread bookkeeping behind; runs/ never sees it. */
export interface RunThreads {
  bind(runId: string, thread: Pick<RunThread, 'channel' | 'threadTs'>): void;
  update(runId: string, fields: Partial<Pick<RunThread, 'statusTs' | 'approvalTs'>>): void;
  get(runId: string): RunThread | undefined;
  /** The newest run started in a thread. */
  runIn(channel: string, threadTs: string): string | undefined;
}
