import multipart from '@fastify/multipart';
import { SPROCKET_VERSION } from '@sprocket/types';
import Fastify, { type FastifyInstance } from 'fastify';
import { assertPrincipalMayCall, authenticate } from './auth/authenticate.js';
import type { ServerContext } from './context.js';
import { ApiError, registerErrorHandler, sendFrameworkError } from './errors.js';
import { jsonTooDeep, registerInputGuards, tooDeepMessage } from './http/guards.js';
import { lazySchemaCompilers } from './http/lazy-compilers.js';
import { collectOpenApi } from './http/openapi.js';
import { typed } from './http/typed.js';
import { withResponseModels } from './openapi-models.js';
import { registerAnalysisJobInflation } from './routes/analyses.js';
import { batchRoutes } from './routes/batch.js';
import { collectionRoutes } from './routes/collections.js';
import { containerRoutes } from './routes/containers.js';
import { downloadRoutes } from './routes/download.js';
import { engineRoutes } from './routes/engine.js';
import { fileRoutes } from './routes/files.js';
import { gearRoutes } from './routes/gears.js';
import { groupRoutes } from './routes/groups.js';
import { jobRoutes } from './routes/jobs.js';
import { lookupRoutes } from './routes/lookup.js';
import { permissionRoutes } from './routes/permissions.js';
import { ruleRoutes } from './routes/rules.js';
import { SCHEMA_FORMATS } from './routes/schemas.js';
import { systemRoutes } from './routes/system.js';
import { userRoutes } from './routes/users.js';
import { viewRoutes } from './routes/views.js';
import { registerWeb } from './web/static.js';

/** Replies at least this long (characters) go out as bytes: see the onSend hook. */
const LARGE_REPLY = 64 * 1024;

/**
 * Builds the API without listening, so tests can use it in-process or on a port.
 * `replySchemas: false` serialises every reply with JSON.stringify, as before routes declared
 * `schema.response`: test/reply-schemas.test.ts compares the two.
 */
export async function buildApp(ctx: ServerContext, opts: { logger?: boolean; replySchemas?: boolean } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ? { level: ctx.config.logLevel } : false,
    // Requests carry 24-hex ids and file names; long URLs are almost always an error.
    routerOptions: { maxParamLength: 1024 },
    bodyLimit: 16 * 1024 * 1024,
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false, formats: SCHEMA_FORMATS },
    },
    // Each route's validators and serializer compile on its first request, not all at start (idle RSS).
    schemaController: lazySchemaCompilers(),
    forceCloseConnections: true,
    frameworkErrors: sendFrameworkError,
  });
  registerErrorHandler(app);
  registerInputGuards(app);
  if (opts.replySchemas === false)
    app.addHook('onRoute', (route) => {
      if (route.schema?.response) route.schema = { ...route.schema, response: undefined };
    });

  registerBodyParsers(app);

  await app.register(multipart, {
    limits: { fileSize: Number.POSITIVE_INFINITY, files: 10_000, fieldSize: 16 * 1024 * 1024, parts: 20_000 },
  });
  const openapiDocument = collectOpenApi(app, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Sprocket API', version: SPROCKET_VERSION, description: 'Flywheel-compatible imaging data platform API' },
      components: {
        securitySchemes: { ApiKey: { type: 'apiKey', in: 'header', name: 'Authorization' } },
      },
      security: [{ ApiKey: [] }],
    },
    transformObject: withResponseModels,
  });

  registerRequestHooks(app, ctx);
  // Browser sessions (after key authentication), the event stream, and the built UI at /.
  await registerWeb(app, ctx);

  await app.register((untyped) => apiRoutes(untyped, ctx, openapiDocument), { prefix: '/api' });
  return app;
}

/** Bodies are JSON or multipart; a JSON document sent as text/plain is refused (415), not half-parsed. */
function registerBodyParsers(app: FastifyInstance): void {
  app.removeContentTypeParser('text/plain');
  // Flywheel's SDK sends `Content-Type: application/json` on bodiless POSTs; treat those as no body.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = (body as string).trim();
    if (text === '') return done(null, undefined);
    if (jsonTooDeep(text)) return done(new ApiError('INVALID_JSON', tooDeepMessage('body')), undefined);
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(new ApiError('INVALID_JSON', `body is not valid JSON: ${(e as Error).message}`), undefined);
    }
  });
}

/** What every request and answer goes through: bytes for large replies, nosniff, authentication. */
function registerRequestHooks(app: FastifyInstance, ctx: ServerContext): void {
  // A large JSON reply is handed to the socket as bytes. Node encodes a string to UTF-8 at ~250 MB/s
  // (6 ms of the 250-acquisition page's 1.6 MB, after another pass to measure it for
  // Content-Length); when every character is ASCII, which a UTF-8 length equal to the string's
  // length proves, its Latin-1 bytes are the same bytes and take 0.5 ms.
  app.addHook('onSend', async (_req, _reply, payload) => {
    if (typeof payload !== 'string' || payload.length < LARGE_REPLY) return payload;
    return Buffer.from(payload, Buffer.byteLength(payload) === payload.length ? 'latin1' : 'utf8');
  });

  // Every answer, errors included: browsers keep to the declared type and never sniff one (an upload
  // served as text/plain must not turn into HTML). See sendFile for what file downloads add.
  app.addHook('onRequest', async (_req, reply) => {
    void reply.header('X-Content-Type-Options', 'nosniff');
  });

  app.addHook('onRequest', async (req) => {
    req.principal = await authenticate(ctx.handle, req);
    await assertPrincipalMayCall(ctx.handle, req);
  });
}

async function apiRoutes(untyped: FastifyInstance, ctx: ServerContext, openapiDocument: ReturnType<typeof collectOpenApi>): Promise<void> {
  const api = typed(untyped);
  await systemRoutes(api, ctx);
  await userRoutes(api, ctx);
  await groupRoutes(api, ctx);
  registerAnalysisJobInflation(api, ctx);
  await containerRoutes(api, ctx);
  await fileRoutes(api, ctx);
  await lookupRoutes(api, ctx);
  await permissionRoutes(api, ctx);
  await downloadRoutes(api, ctx);
  await gearRoutes(api, ctx);
  await jobRoutes(api, ctx);
  await engineRoutes(api, ctx);
  await batchRoutes(api, ctx);
  await ruleRoutes(api, ctx);
  await viewRoutes(api, ctx);
  await collectionRoutes(api, ctx);
  api.get('/openapi.json', { schema: { hide: true } }, openapiDocument);
}
