import type { FastifyInstance, RouteOptions } from 'fastify';
import Fastify from 'fastify';

/**
 * The OpenAPI document, built on its first request. @fastify/swagger and what it loads (a YAML
 * library, a JSON-schema resolver) cost the idle server ~8 MB for a document most servers never
 * serve, so at start only the routes are noted (a reference each, from an onRoute hook); the first
 * `GET /openapi.json` registers them, handlers aside, on a throwaway fastify instance with the
 * swagger plugin, which yields the same document @fastify/swagger on the API itself did.
 */
export function collectOpenApi(app: FastifyInstance, swaggerOptions: object): () => Promise<unknown> {
  const routes: RouteOptions[] = [];
  app.addHook('onRoute', (route) => {
    // Fastify adds a HEAD beside each GET; swagger leaves those out, and the copy adds its own.
    if (route.method !== 'HEAD') routes.push(route);
  });
  let doc: Promise<unknown> | undefined;
  return () => {
    doc ??= build(routes, swaggerOptions).catch((e) => {
      doc = undefined;
      throw e;
    });
    return doc;
  };
}

async function build(routes: RouteOptions[], swaggerOptions: object): Promise<unknown> {
  const { default: swagger } = await import('@fastify/swagger');
  const copy = Fastify({ routerOptions: { maxParamLength: 1024 }, exposeHeadRoutes: false });
  // The copy never serves a request: no schema is compiled, only read.
  copy.setValidatorCompiler(() => () => true);
  copy.setSerializerCompiler(() => (data) => JSON.stringify(data));
  await copy.register(swagger, swaggerOptions);
  const handler = async () => undefined;
  for (const r of routes) copy.route({ method: r.method, url: r.url, schema: r.schema, config: r.config, handler });
  await copy.ready();
  const doc = copy.swagger();
  await copy.close();
  return doc;
}
