// A small, honest JQL: it parses the language's shape (so syntax errors read like Jira's) but
// evaluates only clauses it really understands. Anything else is refused with a 400, never ignored.
//
// Supported: project / status / labels / key (issuekey) with = != IN (...) NOT IN (...);
// labels IS [NOT] EMPTY; created / updated with = != > >= < <= against a relative offset (-5m, -2h,
// -1d, -1w) or a date ("2026-01-31", "2026/01/31 14:00"); clauses joined with AND; ORDER BY
// created / updated / key [ASC|DESC], comma separated.
import { badRequest, errorBody, JiraError } from './types.js';

export type Operator = '=' | '!=' | '>' | '>=' | '<' | '<=' | '~' | '!~' | 'in' | 'not in' | 'is' | 'is not';
export interface Clause {
  field: string;
  op: Operator;
  values: string[];
  /** Character position (1-based) where the clause starts, and its source text. */
  at: number;
  text: string;
}
export interface OrderTerm {
  field: string;
  dir: 'asc' | 'desc';
}
export interface Query {
  clauses: Clause[];
  orderBy: OrderTerm[];
}

interface Token {
  kind: 'word' | 'string' | 'op' | 'punct';
  text: string;
  at: number;
  /** Index just past the token in the source. */
  end: number;
}

const jqlError = (detail: string): JiraError =>
  new JiraError(400, errorBody([`Error in the JQL Query: ${detail}`]), `JQL refused: ${detail}`);

/** A clause that is valid JQL but that the stand-in cannot evaluate: refused, and reported. */
export const unsupported = (what: string): JiraError =>
  new JiraError(
    400,
    errorBody([`Error in the JQL Query: the Jira stand-in does not evaluate ${what}.`]),
    `JQL not supported by the stand-in: ${what}`,
  );

function tokenize(jql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < jql.length) {
    const c = jql[i] ?? '';
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i + 1;
    if (c === '"' || c === "'") {
      let text = '';
      i++;
      while (i < jql.length && jql[i] !== c) {
        if (jql[i] === '\\' && i + 1 < jql.length) i++;
        text += jql[i++];
      }
      if (i >= jql.length)
        throw jqlError(`The quoted string '${text}' has not been completed. (line 1, character ${at})`);
      i++;
      out.push({ kind: 'string', text, at, end: i });
      continue;
    }
    const op = /^(!=|!~|>=|<=|=|~|>|<)/.exec(jql.slice(i));
    if (op?.[1]) {
      i += op[1].length;
      out.push({ kind: 'op', text: op[1], at, end: i });
      continue;
    }
    if ('(),'.includes(c)) {
      i++;
      out.push({ kind: 'punct', text: c, at, end: i });
      continue;
    }
    const word = /^[^\s"'(),=!~<>]+/.exec(jql.slice(i));
    if (!word) throw jqlError(`The character '${c}' is a reserved JQL character. (line 1, character ${at})`);
    i += word[0].length;
    out.push({ kind: 'word', text: word[0], at, end: i });
  }
  return out;
}

const OPERATORS_HINT =
  "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'.";
const isWord = (t: Token | undefined, w: string) => t?.kind === 'word' && t.text.toLowerCase() === w;
const where = (t: Token) => `(line 1, character ${t.at})`;
const RESERVED = new Set(['and', 'or', 'not', 'in', 'is', 'order', 'by', 'empty', 'null']);

export function parseJql(jql: string): Query {
  const toks = tokenize(jql);
  let p = 0;
  const peek = () => toks[p];
  const next = () => toks[p++];
  const clauses: Clause[] = [];
  const orderBy: OrderTerm[] = [];

  const value = (): string => {
    const t = next();
    if (!t) throw jqlError('Expecting either a value, list or function before the end of the query.');
    if (t.kind === 'string' || (t.kind === 'word' && !RESERVED.has(t.text.toLowerCase()))) {
      if (t.kind === 'word' && peek()?.kind === 'punct' && peek()?.text === '(') {
        throw unsupported(`the function ${t.text}()`);
      }
      return t.text;
    }
    if (isWord(t, 'empty') || isWord(t, 'null')) return 'EMPTY';
    throw jqlError(`Expecting either a value, list or function but got '${t.text}'. ${where(t)}`);
  };

  const clause = (): void => {
    const f = next();
    if (!f) throw jqlError('Expecting a field name before the end of the query.');
    if (f.kind === 'punct' && f.text === '(') throw unsupported('parenthesised sub-queries');
    if (isWord(f, 'not')) throw unsupported("the 'NOT' clause prefix");
    if (f.kind !== 'word' && f.kind !== 'string')
      throw jqlError(`Expecting a field name but got '${f.text}'. ${where(f)}`);
    const o = next();
    if (!o) throw jqlError(`Expecting operator before the end of the query. ${OPERATORS_HINT}`);
    let op: Operator;
    if (o.kind === 'op') op = o.text as Operator;
    else if (isWord(o, 'in')) op = 'in';
    else if (isWord(o, 'is')) {
      op = 'is';
      if (isWord(peek(), 'not')) {
        p++;
        op = 'is not';
      }
    } else if (isWord(o, 'not') && isWord(peek(), 'in')) {
      p++;
      op = 'not in';
    } else if (['was', 'changed'].includes(o.text.toLowerCase())) {
      throw unsupported(`the history operator '${o.text.toUpperCase()}'`);
    } else throw jqlError(`Expecting operator but got '${o.text}'. ${OPERATORS_HINT} ${where(o)}`);
    const values: string[] = [];
    if (op === 'in' || op === 'not in') {
      const open = next();
      if (open?.text !== '(') {
        throw jqlError(
          `Expecting a list of values after '${op.toUpperCase()}'. ${open ? where(open) : ''}`.trim(),
        );
      }
      for (;;) {
        values.push(value());
        const sep = next();
        if (sep?.text === ')') break;
        if (sep?.text !== ',') throw jqlError(`Expecting ',' or ')' but got '${sep?.text ?? 'the end'}'.`);
      }
    } else values.push(value());
    const end = toks[p - 1] ?? f;
    clauses.push({ field: f.text, op, values, at: f.at, text: jql.slice(f.at - 1, end.end) });
  };

  if (p < toks.length && !isWord(peek(), 'order')) {
    clause();
    while (p < toks.length && !isWord(peek(), 'order')) {
      const t = next() as Token;
      if (isWord(t, 'or')) throw unsupported("'OR'");
      if (!isWord(t, 'and'))
        throw jqlError(`Expecting either 'OR' or 'AND' but got '${t.text}'. ${where(t)}`);
      clause();
    }
  }
  if (isWord(peek(), 'order')) {
    const o = next() as Token;
    if (!isWord(next(), 'by')) throw jqlError(`Expecting 'BY' after 'ORDER'. ${where(o)}`);
    for (;;) {
      const f = next();
      if (!f || (f.kind !== 'word' && f.kind !== 'string'))
        throw jqlError("Expecting a field name after 'ORDER BY'.");
      let dir: 'asc' | 'desc' = 'asc';
      if (isWord(peek(), 'asc') || isWord(peek(), 'desc'))
        dir = (next() as Token).text.toLowerCase() as 'asc' | 'desc';
      orderBy.push({ field: f.text, dir });
      if (peek()?.text !== ',') break;
      p++;
    }
  }
  const rest = peek();
  if (rest) throw jqlError(`Expecting either 'OR' or 'AND' but got '${rest.text}'. ${where(rest)}`);
  return { clauses, orderBy };
}

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** A JQL date value -> epoch millis. */
export function jqlInstant(value: string, field: string, now = Date.now()): number {
  const rel = /^([-+]?)(\d+)([mhdw])$/.exec(value);
  if (rel) return now + (rel[1] === '-' ? -1 : 1) * Number(rel[2]) * (UNITS[rel[3] ?? 'm'] ?? 0);
  const abs = /^(\d{4})[-/](\d{2})[-/](\d{2})(?: (\d{2}):(\d{2}))?$/.exec(value);
  if (abs) {
    const [, y, mo, d, h = '00', mi = '00'] = abs;
    return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi));
  }
  throw badRequest(
    `Date value '${value}' for field '${field}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.`,
  );
}
