// Evaluates parsed JQL against the stand-in's issues. Values Jira would check (projects, statuses,
// issue keys) are checked per flavor: Data Center refuses an unknown one with a 400, Cloud's
// enhanced search answers 200 with no issues (and the stand-in notes it in `problems`).
import { type Clause, jqlInstant, parseJql, type Query, unsupported } from './jql.js';
import type { JiraState, StoredIssue } from './state.js';
import { badRequest, errorBody, JiraError } from './types.js';

type Predicate = (i: StoredIssue) => boolean;

const FIELD_ALIASES: Record<string, string> = {
  project: 'project',
  status: 'status',
  labels: 'labels',
  label: 'labels',
  key: 'key',
  issuekey: 'key',
  id: 'key',
  created: 'created',
  createddate: 'created',
  updated: 'updated',
  updateddate: 'updated',
};
/** Real Jira fields the stand-in does not evaluate (anything not listed here is "does not exist"). */
const KNOWN_UNSUPPORTED = new Set([
  'assignee',
  'reporter',
  'creator',
  'summary',
  'description',
  'text',
  'comment',
  'priority',
  'type',
  'issuetype',
  'resolution',
  'resolved',
  'resolutiondate',
  'sprint',
  'component',
  'fixversion',
  'affectedversion',
  'duedate',
  'parent',
  'statuscategory',
  'watcher',
  'environment',
  'filter',
]);

const unsupportedOp = (op: string, field: string) =>
  badRequest(
    `The operator '${op.toUpperCase()}' is not supported by the '${field}' field.`,
    `JQL refused: operator ${op.toUpperCase()} on ${field}`,
  );

export class SearchContext {
  constructor(
    readonly state: JiraState,
    readonly problem: (msg: string) => void,
  ) {}

  /** Parses and checks a query; returns the matching issues in order. */
  run(jql: string): StoredIssue[] {
    const query = parseJql(jql);
    const preds = query.clauses.map((c) => this.predicate(c));
    const hits = this.state.issues.filter((i) => preds.every((p) => p(i)));
    return this.sort(hits, query);
  }

  /** Cloud's enhanced search refuses a query with no restriction at all. */
  static bounded(jql: string): boolean {
    return parseJql(jql).clauses.length > 0;
  }

  private missing(field: string, value: string, dcMessage: string): void {
    if (this.state.flavor === 'datacenter') {
      throw new JiraError(400, errorBody([dcMessage]), `JQL refused: ${dcMessage}`);
    }
    // Cloud answers 200 with zero issues rather than naming the bad value.
    this.problem(`JQL names ${field} '${value}', which does not exist (Cloud answers 200 with no issues)`);
  }

  private predicate(c: Clause): Predicate {
    const name = c.field.toLowerCase();
    const field = FIELD_ALIASES[name];
    if (!field) {
      if (KNOWN_UNSUPPORTED.has(name) || /^cf\[\d+\]$|^customfield_\d+$/.test(name)) {
        throw unsupported(`the clause '${c.text}'`);
      }
      throw new JiraError(
        400,
        errorBody([`Field '${c.field}' does not exist or you do not have permission to view it.`]),
        `JQL refused: unknown field '${c.field}'`,
      );
    }
    if (c.op === '~' || c.op === '!~') throw unsupportedOp(c.op, c.field);
    if (field === 'created' || field === 'updated') return this.datePredicate(c, field);
    if (c.op === 'is' || c.op === 'is not') {
      if (field !== 'labels' || c.values[0] !== 'EMPTY') throw unsupported(`the clause '${c.text}'`);
      return c.op === 'is' ? (i) => i.labels.length === 0 : (i) => i.labels.length > 0;
    }
    if (!['=', '!=', 'in', 'not in'].includes(c.op)) throw unsupportedOp(c.op, c.field);
    if (c.values.includes('EMPTY')) throw unsupported(`the clause '${c.text}'`);
    const wanted = c.values.map((v) => v.toLowerCase());
    const negate = c.op === '!=' || c.op === 'not in';
    let test: (i: StoredIssue) => boolean;
    if (field === 'project') {
      const ids = new Map([...this.state.projects].map(([k, id]) => [id, k.toLowerCase()]));
      const keys = wanted.map((v) => ids.get(v) ?? v);
      for (const [n, v] of keys.entries()) {
        if (![...this.state.projects.keys()].some((k) => k.toLowerCase() === v)) {
          this.missing(
            'project',
            c.values[n] ?? v,
            `The value '${c.values[n]}' does not exist for the field 'project'.`,
          );
        }
      }
      test = (i) => keys.includes(i.project.toLowerCase());
    } else if (field === 'status') {
      for (const [n, v] of wanted.entries()) {
        if (!this.state.statuses.has(v)) {
          this.missing(
            'status',
            c.values[n] ?? v,
            `The value '${c.values[n]}' does not exist for the field 'status'.`,
          );
        }
      }
      test = (i) => wanted.includes(i.status.toLowerCase());
    } else if (field === 'labels') {
      test = (i) => i.labels.some((l) => wanted.includes(l.toLowerCase()));
    } else {
      for (const [n, v] of wanted.entries()) {
        if (!this.state.find(v)) {
          this.missing(
            'key',
            c.values[n] ?? v,
            `An issue with key '${c.values[n]}' does not exist for field 'key'.`,
          );
        }
      }
      test = (i) => wanted.includes(i.key.toLowerCase()) || wanted.includes(i.id);
    }
    return negate ? (i) => !test(i) : test;
  }

  private datePredicate(c: Clause, field: 'created' | 'updated'): Predicate {
    if (c.op === 'in' || c.op === 'not in' || c.op === 'is' || c.op === 'is not') {
      throw unsupported(`the clause '${c.text}'`);
    }
    const t = jqlInstant(c.values[0] ?? '', c.field);
    const at = (i: StoredIssue) => i[field].getTime();
    switch (c.op) {
      case '>':
        return (i) => at(i) > t;
      case '>=':
        return (i) => at(i) >= t;
      case '<':
        return (i) => at(i) < t;
      case '<=':
        return (i) => at(i) <= t;
      case '=':
        return (i) => at(i) === t;
      default:
        return (i) => at(i) !== t;
    }
  }

  private sort(hits: StoredIssue[], q: Query): StoredIssue[] {
    // Jira documents no order for a query without ORDER BY; the stand-in uses created DESC.
    const terms = q.orderBy.length > 0 ? q.orderBy : [{ field: 'created', dir: 'desc' as const }];
    const keys = terms.map((t) => {
      const f = FIELD_ALIASES[t.field.toLowerCase()];
      if (f === 'created' || f === 'updated') return { get: (i: StoredIssue) => i[f].getTime(), dir: t.dir };
      if (f === 'key') {
        return {
          get: (i: StoredIssue) => `${i.project}\u0000${(i.key.split('-')[1] ?? '').padStart(10, '0')}`,
          dir: t.dir,
        };
      }
      if (f || KNOWN_UNSUPPORTED.has(t.field.toLowerCase())) throw unsupported(`ORDER BY ${t.field}`);
      throw badRequest(
        `Not able to sort using field '${t.field}'.`,
        `JQL refused: cannot sort by '${t.field}'`,
      );
    });
    return [...hits].sort((a, b) => {
      for (const k of keys) {
        const x = k.get(a);
        const y = k.get(b);
        if (x !== y) return (x < y ? -1 : 1) * (k.dir === 'asc' ? 1 : -1);
      }
      return 0;
    });
  }
}
