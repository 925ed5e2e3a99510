/**
 * GET /api/v1/routes (Admin): every route of the API server with the role
 * it needs (auth.ts), collected as fastify registers them — the list an
 * operator (or a test) checks the authentication against, so a route added
 * later cannot be forgotten.
 */
import type { FastifyInstance } from 'fastify';

export interface RouteInfo {
  method: string;
  url: string;
  /** The role declared by the route; undeclared routes need admin. */
  role: string;
}

/** Call right after creating the server, before any route is added. */
export function registerRouteIndex(server: FastifyInstance): void {
  const routes: RouteInfo[] = [];
  server.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    const role = (r.config as { role?: string } | undefined)?.role ?? 'admin';
    // HEAD routes fastify adds beside each GET answer like the GET.
    for (const m of methods) if (m !== 'HEAD') routes.push({ method: m, url: r.url, role });
  });
  server.get('/api/v1/routes', { config: { role: 'admin' } }, async () => routes);
}
