import { describe, expect, it } from 'vitest';
import { adfParagraphWithLink, adfToText } from '../../src/jira/adf.js';
import { projectOf, ticketKeys } from '../../src/runs/ticket-ref.js';

describe('ticket keys', () => {
  it('finds keys bare, in /browse/ links and in ?selectedIssue=', () => {
    expect(ticketKeys('please do WID-7')).toEqual(['WID-7']);
    expect(ticketKeys('see <https://acme.atlassian.net/browse/OPS-12|OPS-12> now')).toEqual(['OPS-12']);
    expect(
      ticketKeys('https://jira.acme.io/jira/software/projects/WID/boards/1?selectedIssue=WID-42'),
    ).toEqual(['WID-42']);
    expect(ticketKeys('UTF-8 is not WID-0 nor a-1; but AB_C-3 is')).toEqual(['UTF-8', 'AB_C-3']);
    expect(projectOf('AB_C-3')).toBe('AB_C');
  });
});

describe('ADF to text', () => {
  it('keeps paragraphs, lists, code, links and mentions readable for the agent', () => {
    const doc = {
      type: 'doc',
      version: 1,
      content: [
        { type: 'heading', attrs: { level: 2 }, content: [{ type: 'text', text: 'Steps' }] },
        {
          type: 'paragraph',
          content: [
            { type: 'text', text: 'Ask ' },
            { type: 'mention', attrs: { id: 'x', text: '@Ana' } },
            { type: 'text', text: ' about ' },
            {
              type: 'text',
              text: 'the docs',
              marks: [{ type: 'link', attrs: { href: 'https://docs.acme.io' } }],
            },
            { type: 'hardBreak' },
            { type: 'text', text: 'run ' },
            { type: 'text', text: 'npm test', marks: [{ type: 'code' }] },
          ],
        },
        {
          type: 'bulletList',
          content: [
            { type: 'listItem', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'one' }] }] },
            { type: 'listItem', content: [{ type: 'paragraph', content: [{ type: 'text', text: 'two' }] }] },
          ],
        },
        { type: 'codeBlock', attrs: { language: 'js' }, content: [{ type: 'text', text: 'add(2, 3)' }] },
      ],
    };
    expect(adfToText(doc)).toBe(
      '## Steps\n\nAsk @Ana about the docs (https://docs.acme.io)\nrun `npm test`\n\n- one\n- two\n\n```js\nadd(2, 3)\n```',
    );
  });

  it('passes plain text (Data Center) through and tolerates nothing', () => {
    expect(adfToText('plain *wiki* text')).toBe('plain *wiki* text');
    expect(adfToText(null)).toBe('');
  });

  it('writes a valid one-paragraph document with a link', () => {
    expect(adfParagraphWithLink('PR: ', '#12', 'https://gh/pr/12')).toEqual({
      type: 'doc',
      version: 1,
      content: [
        {
          type: 'paragraph',
          content: [
            { type: 'text', text: 'PR: ' },
            { type: 'text', text: '#12', marks: [{ type: 'link', attrs: { href: 'https://gh/pr/12' } }] },
          ],
        },
      ],
    });
  });
});
