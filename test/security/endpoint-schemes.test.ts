import { describe, expect, it } from 'vitest';
import { readEnv } from '../../src/config/env.js';

const ENDPOINTS = [
  'ANTHROPIC_BASE_URL',
  'OPENAI_BASE_URL',
  'SLACK_API_URL',
  'GITHUB_API_URL',
  'GITLAB_URL',
  'JIRA_BASE_URL',
] as const;

/** Every endpoint variable takes http or https only, and a wrong one is named at start (issue 10). */
describe('endpoint variables', () => {
  for (const name of ENDPOINTS) {
    for (const bad of ['file:///etc/passwd', 'ftp://mirror.example/x', 'javascript:alert(1)', 'gopher://x']) {
      it(`${name}=${bad} is refused naming the variable`, () => {
        expect(() => readEnv({ [name]: bad })).toThrow(
          new RegExp(`${name}: must be an http:// or https:// URL`),
        );
      });
    }
    it(`${name} takes an https URL`, () => {
      expect(readEnv({ [name]: 'https://internal.example/api' })[name]).toBe('https://internal.example/api');
    });
  }
});
