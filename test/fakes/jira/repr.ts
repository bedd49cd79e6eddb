// JSON representations in Jira's shapes (Cloud v3 and Data Center v2 differ in users and rich text),
// and the `fields` / `expand` selection rules.
import { adfToText, renderHtml } from './markup.js';
import type { JiraState, JiraUser, StatusInfo, StoredComment, StoredIssue } from './state.js';

/** Jira's timestamp layout: 2026-01-31T09:30:00.000+0000. */
export function jiraDate(d: Date): string {
  return d.toISOString().replace('Z', '+0000');
}

const api = (s: JiraState) => `${s.baseUrl}/rest/api/${s.apiVersion}`;

function avatars(s: JiraState, id: string) {
  const url = (n: number) => `${s.baseUrl}/secure/useravatar?size=${n}&ownerId=${encodeURIComponent(id)}`;
  return { '48x48': url(48), '24x24': url(24), '16x16': url(16), '32x32': url(32) };
}

export function userJson(s: JiraState, u: JiraUser, full = false): Record<string, unknown> {
  if (s.flavor === 'cloud') {
    return {
      self: `${api(s)}/user?accountId=${u.accountId}`,
      accountId: u.accountId,
      ...(full || u === s.me ? { emailAddress: u.email } : {}),
      avatarUrls: avatars(s, u.accountId),
      displayName: u.displayName,
      active: true,
      timeZone: 'Etc/UTC',
      accountType: 'atlassian',
      ...(full
        ? { locale: 'en_US', groups: { size: 1, items: [] }, applicationRoles: { size: 1, items: [] } }
        : {}),
      ...(full ? { expand: 'groups,applicationRoles' } : {}),
    };
  }
  return {
    self: `${api(s)}/user?username=${u.name}`,
    name: u.name,
    key: u.key,
    emailAddress: u.email,
    avatarUrls: avatars(s, u.name),
    displayName: u.displayName,
    active: true,
    timeZone: 'Etc/UTC',
    ...(full
      ? {
          deleted: false,
          locale: 'en_US',
          groups: { size: 1, items: [] },
          applicationRoles: { size: 1, items: [] },
          expand: 'groups,applicationRoles',
        }
      : {}),
  };
}

const CATEGORIES = {
  new: { id: 2, key: 'new', colorName: 'blue-gray', name: 'To Do' },
  indeterminate: { id: 4, key: 'indeterminate', colorName: 'yellow', name: 'In Progress' },
  done: { id: 3, key: 'done', colorName: 'green', name: 'Done' },
};

export function statusJson(s: JiraState, st: StatusInfo): Record<string, unknown> {
  const cat = CATEGORIES[st.category];
  return {
    self: `${api(s)}/status/${st.id}`,
    description: '',
    iconUrl: `${s.baseUrl}/images/icons/statuses/generic.png`,
    name: st.name,
    id: st.id,
    statusCategory: { self: `${api(s)}/statuscategory/${cat.id}`, ...cat },
  };
}

export function transitionJson(s: JiraState, st: StatusInfo): Record<string, unknown> {
  return {
    id: st.transitionId,
    name: st.name,
    to: statusJson(s, st),
    hasScreen: false,
    isGlobal: false,
    isInitial: false,
    isAvailable: true,
    isConditional: false,
    isLooped: false,
  };
}

/** The text a rich-text value reads as (ADF flattened, or the wiki string). */
export const plainText = (v: unknown): string => (typeof v === 'string' ? v : adfToText(v));

export function commentJson(
  s: JiraState,
  issue: StoredIssue,
  c: StoredComment,
  rendered = false,
): Record<string, unknown> {
  return {
    self: `${api(s)}/issue/${issue.id}/comment/${c.id}`,
    id: c.id,
    author: userJson(s, c.author),
    body: c.body,
    ...(rendered ? { renderedBody: renderHtml(plainText(c.body)) } : {}),
    updateAuthor: userJson(s, c.author),
    created: jiraDate(c.created),
    updated: jiraDate(c.updated),
    ...(c.visibility ? { visibility: { ...c.visibility, identifier: c.visibility.value } } : {}),
    ...(s.flavor === 'cloud' ? { jsdPublic: true } : {}),
  };
}

export function commentPage(
  s: JiraState,
  issue: StoredIssue,
  comments: StoredComment[],
  startAt: number,
  maxResults: number,
  rendered: boolean,
): Record<string, unknown> {
  return {
    comments: comments.slice(startAt, startAt + maxResults).map((c) => commentJson(s, issue, c, rendered)),
    self: `${api(s)}/issue/${issue.id}/comment`,
    maxResults,
    total: comments.length,
    startAt,
  };
}

interface FieldDef {
  name: string;
  navigable: boolean;
  schema: Record<string, unknown>;
  value(s: JiraState, i: StoredIssue): unknown;
}

export const FIELDS: Record<string, FieldDef> = {
  summary: {
    name: 'Summary',
    navigable: true,
    schema: { type: 'string', system: 'summary' },
    value: (_, i) => i.summary,
  },
  description: {
    name: 'Description',
    navigable: true,
    schema: { type: 'string', system: 'description' },
    value: (_, i) => i.description,
  },
  status: {
    name: 'Status',
    navigable: true,
    schema: { type: 'status', system: 'status' },
    value: (s, i) => statusJson(s, s.status(i.status)),
  },
  labels: {
    name: 'Labels',
    navigable: true,
    schema: { type: 'array', items: 'string', system: 'labels' },
    value: (_, i) => [...i.labels].sort(),
  },
  created: {
    name: 'Created',
    navigable: true,
    schema: { type: 'datetime', system: 'created' },
    value: (_, i) => jiraDate(i.created),
  },
  updated: {
    name: 'Updated',
    navigable: true,
    schema: { type: 'datetime', system: 'updated' },
    value: (_, i) => jiraDate(i.updated),
  },
  issuetype: {
    name: 'Issue Type',
    navigable: true,
    schema: { type: 'issuetype', system: 'issuetype' },
    value: (s) => ({
      self: `${api(s)}/issuetype/10001`,
      id: '10001',
      description: 'A small, distinct piece of work.',
      iconUrl: `${s.baseUrl}/images/icons/issuetypes/task.png`,
      name: 'Task',
      subtask: false,
      ...(s.flavor === 'cloud' ? { hierarchyLevel: 0 } : {}),
    }),
  },
  project: {
    name: 'Project',
    navigable: true,
    schema: { type: 'project', system: 'project' },
    value: (s, i) => {
      const id = s.projects.get(i.project) ?? '10000';
      return {
        self: `${api(s)}/project/${id}`,
        id,
        key: i.project,
        name: i.project,
        projectTypeKey: 'software',
      };
    },
  },
  priority: {
    name: 'Priority',
    navigable: true,
    schema: { type: 'priority', system: 'priority' },
    value: (s) => ({
      self: `${api(s)}/priority/3`,
      iconUrl: `${s.baseUrl}/images/icons/priorities/medium.svg`,
      name: 'Medium',
      id: '3',
    }),
  },
  assignee: {
    name: 'Assignee',
    navigable: true,
    schema: { type: 'user', system: 'assignee' },
    value: () => null,
  },
  reporter: {
    name: 'Reporter',
    navigable: true,
    schema: { type: 'user', system: 'reporter' },
    value: (s) => userJson(s, s.reporter),
  },
  comment: {
    name: 'Comment',
    navigable: false,
    schema: { type: 'comments-page', system: 'comment' },
    value: (s, i) => commentPage(s, i, i.comments, 0, i.comments.length, false),
  },
};

/**
 * Resolves a `fields` list (`*all`, `*navigable`, names, `-name` exclusions) into field ids.
 * Unknown names are ignored, as Jira ignores them, and reported through `unknown`.
 */
export function selectFields(
  requested: string[] | undefined,
  fallback: '*all' | '*navigable' | 'id',
  unknown: (name: string) => void,
): Set<string> {
  const tokens: string[] = requested && requested.length > 0 ? requested : [fallback];
  const out = new Set<string>();
  const all = Object.keys(FIELDS);
  for (const t of tokens) {
    if (t === '*all') {
      for (const f of all) out.add(f);
    } else if (t === '*navigable') {
      for (const f of all) if (FIELDS[f]?.navigable) out.add(f);
    } else if (t === 'id' || t === 'key') {
      out.add(t);
    } else if (!t.startsWith('-') && FIELDS[t]) {
      out.add(t);
    } else if (!t.startsWith('-') || !(FIELDS[t.slice(1)] || t === '-id' || t === '-key')) {
      unknown(t);
    }
  }
  for (const t of tokens) if (t.startsWith('-')) out.delete(t.slice(1));
  return out;
}

export function issueJson(
  s: JiraState,
  issue: StoredIssue,
  fields: Set<string>,
  expand: Set<string>,
): Record<string, unknown> {
  const wanted = [...fields].filter((f) => FIELDS[f]);
  const out: Record<string, unknown> = {
    expand: 'renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations',
    id: issue.id,
    self: `${api(s)}/issue/${issue.id}`,
    key: issue.key,
  };
  if (wanted.length > 0) {
    out.fields = Object.fromEntries(wanted.map((f) => [f, FIELDS[f]?.value(s, issue)]));
  }
  if (expand.has('renderedFields') && wanted.length > 0) {
    const rendered: Record<string, unknown> = {};
    for (const f of wanted) {
      if (f === 'description')
        rendered[f] = issue.description === null ? null : renderHtml(plainText(issue.description));
      else if (f === 'comment')
        rendered[f] = commentPage(s, issue, issue.comments, 0, issue.comments.length, true);
      else if (f === 'created' || f === 'updated')
        rendered[f] = jiraDate(f === 'created' ? issue.created : issue.updated);
      else rendered[f] = null;
    }
    out.renderedFields = rendered;
  }
  if (expand.has('names')) out.names = Object.fromEntries(wanted.map((f) => [f, FIELDS[f]?.name]));
  if (expand.has('schema')) out.schema = Object.fromEntries(wanted.map((f) => [f, FIELDS[f]?.schema]));
  if (expand.has('transitions')) out.transitions = s.transitions(issue).map((t) => transitionJson(s, t));
  return out;
}

/** Expand values the stand-in honours; the rest Jira would honour but we cannot, so they are reported. */
export const SUPPORTED_EXPANDS = new Set(['renderedFields', 'names', 'schema', 'transitions']);
