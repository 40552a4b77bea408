import { SPROCKET_VERSION } from '@sprocket/types';
import { requirePrincipal } from '../auth/authenticate.js';
import type { ServerContext } from '../context.js';
import type { Api } from '../http/typed.js';
import { FLYWHEEL_API_RELEASE } from '../version.js';

export async function systemRoutes(app: Api, ctx: ServerContext): Promise<void> {
  const started = new Date().toISOString();

  app.get('/config', { schema: { tags: ['site'], summary: 'Site configuration' } }, async () => ({
    site: {
      id: 'local',
      name: 'Sprocket',
      api_url: ctx.config.publicUrl,
      central_url: null,
      registered: false,
      ssl_cert: null,
    },
    auth: { 'api-key': { enabled: true } },
    features: { signed_url: false, job_tickets: true, job_ask: true, multiproject: true, pagination: true },
    signed_url: false,
    created: started,
    modified: started,
  }));

  app.get('/version', { schema: { tags: ['site'], summary: 'Versions of the API and its schema' } }, async () => ({
    _id: 'version',
    database: 1,
    release: FLYWHEEL_API_RELEASE,
    flywheel_release: FLYWHEEL_API_RELEASE,
    sprocket_version: SPROCKET_VERSION,
    cli_version: SPROCKET_VERSION,
    applied_fixes: {},
  }));

  app.get('/auth/status', { schema: { tags: ['site'], summary: 'Who the key belongs to' } }, async (req) => {
    const p = requirePrincipal(req);
    return {
      origin: p.jobId ? { type: 'job', id: p.jobId } : { type: 'user', id: p.userId },
      user_is_admin: p.isAdmin,
      is_device: false,
      roles: p.roles,
    };
  });
}
