import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { registerAuth } from './auth.js';
import { registerConsoleRoutes } from './console-routes.js';
import { createConsoleSessions } from './console-session.js';

describe('console assets', () => {
  it("the page's own module imports get the build id, so they are cacheable for good like the rest", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sbc-console-assets-'));
    await writeFile(join(dir, 'index.html'), '<script type="module" src="/console/app.js?v=__V__"></script>');
    await writeFile(join(dir, 'app.js'), "import { h } from 'preact';\nimport { Page } from './page.js';\nconst later = () => import('./later.js');\n");
    await writeFile(join(dir, 'page.js'), "import { api } from \"./api.js\";\nexport const Page = 1; // './not-an-import.js'\n");
    const server = Fastify({ logger: false });
    const sessions = createConsoleSessions();
    const auth = registerAuth(server, { enabled: true, users: () => [], sessions });
    registerConsoleRoutes(server, { auth, sessions, secure: false, assetDir: dir });
    const index = await server.inject({ url: '/console/' });
    const v = /app\.js\?v=([0-9a-f]{12})/.exec(index.body)?.[1];
    expect(v).toBeDefined();
    const app = await server.inject({ url: `/console/app.js?v=${v}` });
    expect(app.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(app.body).toBe(`import { h } from 'preact';\nimport { Page } from './page.js?v=${v}';\nconst later = () => import('./later.js?v=${v}');\n`);
    const page = await server.inject({ url: '/console/page.js' });
    expect(page.body).toBe(`import { api } from "./api.js?v=${v}";\nexport const Page = 1; // './not-an-import.js'\n`);
    await server.close();
  });
});
