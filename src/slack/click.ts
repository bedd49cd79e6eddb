import { z } from 'zod';
import type { RunThread } from './run-threads.js';

/** Slack caps a button's value at 2,000 characters; anything longer is not one of ours. */
export const MAX_VALUE_CHARS = 2000;

/** The part of a block_actions payload airlock reads, checked at the edge (STYLE.md). */
const BlockActions = z.object({
  user: z.object({ id: z.string() }),
  team: z.object({ id: z.string() }).nullish(),
  channel: z.object({ id: z.string() }).nullish(),
  message: z.object({ ts: z.string(), thread_ts: z.string().optional() }).nullish(),
  trigger_id: z.string().optional(),
  actions: z
    .array(
      z.object({
        value: z.string().optional(),
        selected_option: z.object({ value: z.string() }).nullish(),
      }),
    )
    .min(1),
});

/** A button whose value is a run id (Cancel, Retry push). */
export function parseRunValue(value: string | undefined): { runId: string } | undefined {
  const match = /^([a-z0-9]{1,40})$/.exec(value ?? '');
  return match ? { runId: match[1] as string } : undefined;
}

/** One click on one of airlock's buttons, as the intake sees it. */
export interface Click {
  user: string;
  team?: string;
  channel?: string;
  messageTs?: string;
  /** The thread the clicked message is in (its own ts for a top-level message). */
  threadTs?: string;
  value?: string;
  selected?: string;
  triggerId?: string;
}

/** The click in a block_actions body, or undefined when the payload is not one Slack sends. */
export function parseClick(body: unknown): Click | undefined {
  const parsed = BlockActions.safeParse(body);
  if (!parsed.success) return undefined;
  const b = parsed.data;
  const action = b.actions[0];
  return {
    user: b.user.id,
    team: b.team?.id,
    channel: b.channel?.id,
    messageTs: b.message?.ts,
    threadTs: b.message?.thread_ts ?? b.message?.ts,
    value: action?.value,
    selected: action?.selected_option?.value,
    triggerId: b.trigger_id,
  };
}

/**
 * A click counts only where the run lives: this workspace, the run's channel and its thread
 * (DESIGN.md §5). A payload naming another place is refused, whatever its value says.
 */
export function clickPlaceRefusal(
  click: Click,
  thread: Pick<RunThread, 'channel' | 'threadTs'> | undefined,
  teamId: string | undefined,
): string | undefined {
  const elsewhere = 'That button belongs to a run in another conversation; use the one in its own thread.';
  if (!thread) return 'That run has no Slack thread; decide it where it was started.';
  if (teamId && click.team !== teamId) return elsewhere;
  if (click.channel !== thread.channel) return elsewhere;
  if (click.threadTs !== undefined && click.threadTs !== thread.threadTs) return elsewhere;
  return undefined;
}
