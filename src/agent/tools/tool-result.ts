/** What a tool execution hands back: text for the model, the whole output for the record. */
export interface ToolOutcome {
  /** Shown to the model (already cut to head + tail where long). */
  content: string;
  /** Kept in the store, whole (up to the sandbox's output cap). */
  fullOutput: string;
  isError: boolean;
  exitCode: number | null;
}

export function toolError(message: string): ToolOutcome {
  return { content: message, fullOutput: message, isError: true, exitCode: null };
}
