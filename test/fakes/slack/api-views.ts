// views.open / views.update: modals, opened only with a fresh, unused trigger id from an interaction.
import {
  ApiError,
  type ApiHandler,
  type Args,
  invalidArguments,
  type Json,
  optJson,
  optString,
  reqString,
} from './api-common.js';
import { validateModalView } from './block-kit.js';

const MAX_VIEW_BYTES = 250 * 1024;

function readView(args: Args): Json {
  const view = optJson(args, 'view', invalidArguments('invalid json [json-pointer:/view]'));
  if (view === undefined) throw invalidArguments('missing required field: view');
  if (Buffer.byteLength(JSON.stringify(view)) > MAX_VIEW_BYTES) throw new ApiError('view_too_large');
  const errors = validateModalView(view);
  if (errors.length > 0)
    throw new ApiError('invalid_arguments', {
      response_metadata: { messages: errors.map((m) => `[ERROR] ${m}`) },
    });
  return view;
}

const open: ApiHandler = ({ state, args }) => {
  const { ws } = state;
  const triggerId = reqString(args, 'trigger_id');
  const view = readView(args);
  const externalId = view.external_id;
  if (externalId && ws.views.some((v) => v.view.external_id === externalId))
    throw new ApiError('duplicate_external_id');
  const trigger = ws.useTrigger(triggerId);
  if (!trigger.ok) throw new ApiError(trigger.error);
  const record = ws.makeView(view, trigger.user, triggerId);
  return { view: record.view };
};

const update: ApiHandler = ({ state, args }) => {
  const { ws } = state;
  const viewId = optString(args, 'view_id');
  const externalId = optString(args, 'external_id');
  if (!viewId && !externalId) throw invalidArguments('missing required field: view_id');
  const view = readView(args);
  const record = ws.views.find(
    (v) => !v.closed && (viewId ? v.id === viewId : v.view.external_id === externalId && externalId !== ''),
  );
  if (!record) throw new ApiError('not_found');
  const hash = optString(args, 'hash');
  if (hash !== undefined && hash !== record.view.hash) throw new ApiError('hash_conflict');
  ws.fillView(record, view, record.view.root_view_id, record.view.previous_view_id);
  return { view: record.view };
};

export const VIEW_METHODS: Record<string, ApiHandler> = {
  'views.open': open,
  'views.update': update,
};
