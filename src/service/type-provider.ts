import type { FastifyTypeProvider } from 'fastify'
import type { FromSchema, JSONSchema } from 'json-schema-to-ts'

/**
 * A fastify type provider: request bodies, params and query strings get their types from the
 * route's JSON schemas (json-schema-to-ts), so handlers need no `req.x as {…}` casts and a schema
 * change shows up in the typecheck. Replies are left untyped: the JSON ones $ref shared schemas
 * and the rest are streams and buffers; fast-json-stringify shapes the JSON ones at run time.
 * (@fastify/type-provider-json-schema-to-ts types replies too, which those routes cannot meet.)
 */
export interface RouteTypes extends FastifyTypeProvider {
  validator: this['schema'] extends JSONSchema ? FromSchema<this['schema']> : unknown
  serializer: unknown
}
