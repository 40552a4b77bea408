import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

/**
 * Fastify's own schema compilers (ajv for bodies, params and queries; fast-json-stringify for
 * replies), each route's compiled on the first request that needs it instead of all at start.
 * Compiling every route's schemas at start allocated ~30 MB of short-lived code and strings, which
 * V8 kept as committed heap: about 16 MB of the server's idle RSS, for routes an idle server never
 * serves. The compilers and their options are fastify's defaults (loaded from fastify's own
 * dependencies, so the versions are the ones fastify pins); only the moment of compiling moves.
 */

type Validator = ((data: unknown) => boolean | Promise<unknown>) & { errors?: unknown };
type ValidatorFactory = (route: object) => Validator;
type SerializerFactory = (route: object) => (data: unknown) => string;
type CompilersFactory = {
  buildValidator: (externalSchemas: unknown, options: unknown) => ValidatorFactory;
  buildSerializer: (externalSchemas: unknown, options: unknown) => SerializerFactory;
};

const fromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));

export function lazySchemaCompilers(): NonNullable<FastifyServerOptions['schemaController']> {
  const ajv = (fromFastify('@fastify/ajv-compiler') as () => CompilersFactory['buildValidator'])();
  const fjs = (fromFastify('@fastify/fast-json-stringify-compiler') as () => CompilersFactory['buildSerializer'])();
  const compilersFactory: CompilersFactory = {
    buildValidator(externalSchemas, options) {
      const compile = ajv(externalSchemas, options);
      return (route) => {
        let fn: Validator | undefined;
        // Fastify reads a failed validation's errors from the function, as ajv leaves them.
        const validate: Validator = (data) => {
          fn ??= compile(route);
          const ok = fn(data);
          validate.errors = fn.errors;
          return ok;
        };
        return validate;
      };
    },
    buildSerializer(externalSchemas, options) {
      const compile = fjs(externalSchemas, options);
      return (route) => {
        let fn: ((data: unknown) => string) | undefined;
        return (data) => {
          fn ??= compile(route);
          return fn(data);
        };
      };
    },
  };
  return { compilersFactory } as NonNullable<FastifyServerOptions['schemaController']>;
}
