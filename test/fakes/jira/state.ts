// The stand-in's data: users, projects, statuses and the workflow between them, issues and comments.
import { createHash } from 'node:crypto';
import { type AdfDoc, markupToAdf, markupToWiki } from './markup.js';
import { DEFAULT_WORKFLOW, type FakeJiraIssue, type FakeJiraOptions, type JiraFlavor } from './types.js';

export interface JiraUser {
  /** DC username / Cloud nickname. */
  name: string;
  key: string;
  accountId: string;
  displayName: string;
  email: string;
}

export interface StoredComment {
  id: string;
  author: JiraUser;
  /** ADF doc on cloud, wiki string on DC. */
  body: unknown;
  created: Date;
  updated: Date;
  visibility?: { type: string; value: string };
}

export interface StoredIssue {
  id: string;
  key: string;
  project: string;
  summary: string;
  /** ADF doc (cloud) / wiki string (DC) / null. */
  description: unknown;
  status: string;
  labels: string[];
  created: Date;
  updated: Date;
  comments: StoredComment[];
}

export type StatusCategory = 'new' | 'indeterminate' | 'done';
export interface StatusInfo {
  id: string;
  name: string;
  category: StatusCategory;
  /** Id of the (global) transition that leads into this status. */
  transitionId: string;
}

const ISSUE_KEY = /^([A-Z][A-Z0-9_]*)-([1-9]\d*)$/;

function categoryOf(name: string): StatusCategory {
  const n = name.toLowerCase();
  if (['done', 'closed', 'resolved', "won't do", 'cancelled'].includes(n)) return 'done';
  if (['to do', 'open', 'backlog', 'new', 'selected for development'].includes(n)) return 'new';
  return 'indeterminate';
}

export class JiraState {
  readonly flavor: JiraFlavor;
  readonly apiVersion: '2' | '3';
  baseUrl = '';
  readonly me: JiraUser;
  readonly reporter: JiraUser;
  readonly workflow: Record<string, string[]>;
  readonly statuses = new Map<string, StatusInfo>(); // lower-cased name -> info
  readonly issues: StoredIssue[] = [];
  readonly projects = new Map<string, string>(); // key -> id
  private readonly users = new Map<string, JiraUser>();
  private nextIssueId = 10001;
  private nextCommentId = 10100;
  private lastCreated = 0;

  constructor(opts: FakeJiraOptions) {
    this.flavor = opts.flavor;
    this.apiVersion = opts.flavor === 'cloud' ? '3' : '2';
    this.me = this.user('airlock', 'Airlock Bot', opts.email ?? 'airlock@example.com');
    this.reporter = this.user('reporter', 'Issue Reporter');
    this.workflow = opts.workflow ?? DEFAULT_WORKFLOW;
    const names = new Set<string>(['To Do']);
    for (const [from, targets] of Object.entries(this.workflow)) {
      names.add(from);
      for (const t of targets) names.add(t);
    }
    for (const i of opts.issues) if (i.status) names.add(i.status);
    let n = 0;
    for (const name of names) {
      this.statuses.set(name.toLowerCase(), {
        id: String(10000 + n),
        name,
        category: categoryOf(name),
        transitionId: String(11 + 10 * n),
      });
      n++;
    }
    const start = Date.now() - opts.issues.length * 1000;
    opts.issues.forEach((issue, idx) => {
      this.add(issue, new Date(start + idx * 1000));
    });
  }

  /** Finds or makes a user by display name (fixtures name comment authors by display name). */
  user(name: string, displayName = name, email?: string): JiraUser {
    const id = name.toLowerCase();
    const known = this.users.get(id);
    if (known) return known;
    const hash = createHash('sha1').update(id).digest('hex');
    const slug = id.replace(/[^a-z0-9]+/g, '.').replace(/^\.|\.$/g, '') || 'user';
    const u: JiraUser = {
      name: slug,
      key: `JIRAUSER${10100 + this.users.size}`,
      accountId: `712020:${hash.slice(0, 8)}-${hash.slice(8, 12)}-${hash.slice(12, 16)}-${hash.slice(16, 20)}-${hash.slice(20, 32)}`,
      displayName,
      email: email ?? `${slug}@example.com`,
    };
    this.users.set(id, u);
    if (slug !== id) this.users.set(slug, u);
    return u;
  }

  /** Markup text -> the stored rich-text representation for this flavor. */
  richText(text: string): AdfDoc | string {
    if (this.flavor === 'datacenter') return markupToWiki(text);
    return markupToAdf(text, (name) => {
      const u = this.user(name);
      return { id: u.accountId, text: `@${u.displayName}` };
    });
  }

  add(issue: FakeJiraIssue, defaultCreated?: Date): StoredIssue {
    const m = ISSUE_KEY.exec(issue.key);
    if (!m) throw new Error(`fake-jira: "${issue.key}" is not a Jira issue key (PROJ-123)`);
    if (this.find(issue.key)) throw new Error(`fake-jira: issue ${issue.key} already exists`);
    const project = m[1] ?? '';
    if (!this.projects.has(project)) this.projects.set(project, String(10000 + this.projects.size));
    const status = issue.status ?? 'To Do';
    if (!this.statuses.has(status.toLowerCase())) {
      throw new Error(`fake-jira: status "${status}" of ${issue.key} is not in the workflow`);
    }
    let created = issue.created ? new Date(issue.created) : (defaultCreated ?? new Date());
    if (Number.isNaN(created.getTime())) throw new Error(`fake-jira: bad created "${issue.created}"`);
    if (!issue.created && created.getTime() <= this.lastCreated) created = new Date(this.lastCreated + 1);
    this.lastCreated = Math.max(this.lastCreated, created.getTime());
    const stored: StoredIssue = {
      id: String(this.nextIssueId++),
      key: issue.key,
      project,
      summary: issue.summary,
      description: issue.description === undefined ? null : this.richText(issue.description),
      status: this.status(status).name,
      labels: [...(issue.labels ?? [])],
      created,
      updated: created,
      comments: [],
    };
    for (const [n, c] of (issue.comments ?? []).entries()) {
      // Undated fixture comments follow the issue in order, 10 ms apart.
      const at = c.created ? new Date(c.created) : new Date(created.getTime() + (n + 1) * 10);
      this.addComment(stored, this.user(c.author), this.richText(c.body), at);
    }
    this.issues.push(stored);
    return stored;
  }

  addComment(issue: StoredIssue, author: JiraUser, body: unknown, at = new Date()): StoredComment {
    const c: StoredComment = { id: String(this.nextCommentId++), author, body, created: at, updated: at };
    issue.comments.push(c);
    if (at > issue.updated) issue.updated = at;
    return c;
  }

  /** By key (case-insensitive, as Jira resolves them) or by numeric id. */
  find(keyOrId: string): StoredIssue | undefined {
    const k = keyOrId.toUpperCase();
    return this.issues.find((i) => i.key === k || i.id === keyOrId);
  }

  status(name: string): StatusInfo {
    const s = this.statuses.get(name.toLowerCase());
    if (!s) throw new Error(`fake-jira: unknown status ${name}`);
    return s;
  }

  /** Transitions offered from the issue's current status. */
  transitions(issue: StoredIssue): StatusInfo[] {
    return (this.workflow[issue.status] ?? []).map((t) => this.status(t));
  }
}
