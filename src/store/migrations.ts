/**
 * Forward-only migrations; PRAGMA user_version records how many have run. Never edit one that
 * has shipped: add the next.
 */
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    task TEXT NOT NULL,
    requester TEXT NOT NULL,
    source TEXT NOT NULL,
    state TEXT NOT NULL,
    base_ref TEXT NOT NULL,
    base_sha TEXT,
    snapshot_commit TEXT,
    diff_sha256 TEXT,
    summary TEXT,
    branch TEXT,
    pr_url TEXT,
    outcome TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX runs_state ON runs(state);
  CREATE INDEX runs_created ON runs(created_at);

  -- The audit log: one hash chain over every event of every run.
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    type TEXT NOT NULL,
    at TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE
  );
  CREATE INDEX events_run ON events(run_id, seq);

  -- One row per model request/response. request holds only what the turn added to the
  -- conversation, so the transcript is the concatenation of the turns.
  CREATE TABLE model_turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    at TEXT NOT NULL
  );
  CREATE INDEX model_turns_run ON model_turns(run_id, id);

  CREATE TABLE tool_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    tool_use_id TEXT NOT NULL,
    name TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT NOT NULL,
    exit_code INTEGER,
    is_error INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    at TEXT NOT NULL
  );
  CREATE INDEX tool_calls_run ON tool_calls(run_id, id);

  CREATE TABLE diffs (
    run_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    diff BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, sha256)
  );

  -- Append-only, enforced by the database itself.
  CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
  CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
  CREATE TRIGGER model_turns_no_update BEFORE UPDATE ON model_turns BEGIN SELECT RAISE(ABORT, 'model turns are append-only'); END;
  CREATE TRIGGER model_turns_no_delete BEFORE DELETE ON model_turns BEGIN SELECT RAISE(ABORT, 'model turns are append-only'); END;
  CREATE TRIGGER tool_calls_no_update BEFORE UPDATE ON tool_calls BEGIN SELECT RAISE(ABORT, 'tool calls are append-only'); END;
  CREATE TRIGGER tool_calls_no_delete BEFORE DELETE ON tool_calls BEGIN SELECT RAISE(ABORT, 'tool calls are append-only'); END;
  CREATE TRIGGER diffs_no_update BEFORE UPDATE ON diffs BEGIN SELECT RAISE(ABORT, 'diffs are append-only'); END;
  CREATE TRIGGER diffs_no_delete BEFORE DELETE ON diffs BEGIN SELECT RAISE(ABORT, 'diffs are append-only'); END;
  `,
  `
  -- Where a run talks: its Slack thread and the messages airlock edits there.
  CREATE TABLE run_threads (
    run_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    thread_ts TEXT NOT NULL,
    status_ts TEXT,
    approval_ts TEXT
  );
  CREATE INDEX run_threads_thread ON run_threads(channel, thread_ts);

  -- Slack delivers at least once: the event id that started a run is kept, unique, so a
  -- redelivered envelope finds the run it already made instead of making a second.
  ALTER TABLE runs ADD COLUMN intake_key TEXT;
  CREATE UNIQUE INDEX runs_intake_key ON runs(intake_key) WHERE intake_key IS NOT NULL;
  `,
  `
  -- The Jira ticket a run came from, for the PR title and the comment back.
  ALTER TABLE runs ADD COLUMN ticket_key TEXT;
  `,
  `
  -- Working state as columns, written with the transition that sets it (nothing reads the
  -- audit log back to learn it), and ownership: every run that is not terminal has an owner
  -- process holding a heartbeat lease.
  ALTER TABLE runs ADD COLUMN approved_by TEXT;
  ALTER TABLE runs ADD COLUMN approved_at TEXT;
  ALTER TABLE runs ADD COLUMN awaiting_since TEXT;
  ALTER TABLE runs ADD COLUMN pending_feedback TEXT;
  ALTER TABLE runs ADD COLUMN session_started_at TEXT;
  ALTER TABLE runs ADD COLUMN retryable INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE runs ADD COLUMN owner_id TEXT;
  CREATE INDEX runs_owner ON runs(owner_id);

  CREATE TABLE owners (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    start_token TEXT,
    kind TEXT NOT NULL,
    started_at TEXT NOT NULL,
    lease_until INTEGER NOT NULL
  );

  -- Runs made before this migration get their columns from the events that recorded them.
  UPDATE runs SET
    approved_by = (SELECT json_extract(data, '$.by') FROM events e
                   WHERE e.run_id = runs.id AND e.type = 'approval.granted' ORDER BY seq DESC LIMIT 1),
    approved_at = (SELECT json_extract(data, '$.approved_at') FROM events e
                   WHERE e.run_id = runs.id AND e.type = 'approval.granted' ORDER BY seq DESC LIMIT 1),
    awaiting_since = (SELECT at FROM events e
                   WHERE e.run_id = runs.id AND e.type = 'run.awaiting_approval' ORDER BY seq DESC LIMIT 1),
    pending_feedback = CASE WHEN state = 'changes_requested' THEN
                   (SELECT json_extract(data, '$.feedback') FROM events e
                    WHERE e.run_id = runs.id AND e.type = 'run.changes_requested' ORDER BY seq DESC LIMIT 1) END,
    session_started_at = (SELECT at FROM events e
                   WHERE e.run_id = runs.id AND e.type = 'run.working' ORDER BY seq DESC LIMIT 1);
  `,
  `
  -- The scheme each event's link was hashed with: 'sha256' (no key, every event before this
  -- migration) or 'hmac-sha256' (AIRLOCK_AUDIT_KEY). Verification with the key refuses a plain
  -- event after a keyed one, so the chain cannot be extended or re-hashed without the key.
  ALTER TABLE events ADD COLUMN chain TEXT NOT NULL DEFAULT 'sha256';
  `,
  `
  -- Prepared sandboxes (DESIGN.md §4): a repository's snapshot at its base's head with setup
  -- done, kept for a run to claim. The fingerprint is what else shaped it (setup, image,
  -- network.setup); a claim takes one row whose base and fingerprint match, once.
  CREATE TABLE prepared_sandboxes (
    id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    base_sha TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    snapshot_commit TEXT,
    setup_command TEXT,
    setup_exit INTEGER,
    setup_output TEXT,
    setup_ms INTEGER,
    owner_id TEXT,
    claimed_by TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    ready_at TEXT
  );
  CREATE INDEX prepared_claim ON prepared_sandboxes(repo, base_sha, fingerprint, state);
  `,
  `
  -- Slack events as they are acked (issue 12): kept before anything else is done with them, so
  -- one whose hand-over a crash cut short is handed over at the next start.
  CREATE TABLE slack_envelopes (
    envelope_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    handled_at INTEGER
  );
  CREATE INDEX slack_envelopes_unhandled ON slack_envelopes(handled_at, received_at);
  `,
  `
  -- Pull requests airlock opened and follows by polling (issue 14), and where polling stands per
  -- repository. A follow-up run names the pull request it pushes to, on that pull request's branch.
  CREATE TABLE pull_requests (
    repo TEXT NOT NULL,
    number INTEGER NOT NULL,
    url TEXT NOT NULL,
    branch TEXT NOT NULL,
    base TEXT NOT NULL,
    origin_run_id TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open',
    head_sha TEXT NOT NULL,
    pushed_heads TEXT NOT NULL DEFAULT '[]',
    handled TEXT NOT NULL DEFAULT '[]',
    told TEXT NOT NULL DEFAULT '[]',
    fix_attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (repo, number)
  );
  CREATE TABLE forge_cursors (
    repo TEXT PRIMARY KEY,
    data TEXT NOT NULL
  );
  ALTER TABLE runs ADD COLUMN pr_number INTEGER;
  `,
  `
  -- A run's mode (issue 15): change (the default, a diff behind the gate) or ask (read-only, an answer).
  ALTER TABLE runs ADD COLUMN mode TEXT NOT NULL DEFAULT 'change';
  `,
  `
  -- schedules: (issue 15): each tick, its parent message, and the run it started in each repository
  -- (none: skipped, the schedule's earlier run there was still open).
  CREATE TABLE schedule_ticks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    at TEXT NOT NULL,
    parent TEXT,
    shown TEXT
  );
  CREATE INDEX schedule_ticks_name ON schedule_ticks(name, id);
  CREATE TABLE schedule_runs (
    tick_id INTEGER NOT NULL REFERENCES schedule_ticks(id),
    repo TEXT NOT NULL,
    run_id TEXT
  );
  CREATE INDEX schedule_runs_repo ON schedule_runs(repo, tick_id);
  `,
];
