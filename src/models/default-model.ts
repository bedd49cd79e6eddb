/**
 * The newest Sonnet that the installed @anthropic-ai/sdk lists and does not mark deprecated.
 * test/unit/default-model.test.ts checks this against the SDK, so an SDK upgrade that adds a
 * newer Sonnet (or deprecates this one) fails the tests until this line is updated.
 */
export const DEFAULT_ANTHROPIC_MODEL = 'claude-sonnet-5-5';
