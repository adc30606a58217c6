// A Better Auth server for the sign-in tests of todo-api: email and password accounts, the JWT
// plugin and the OAuth 2.1 provider, on a PostgreSQL database through the pure-JS `pg` driver.
//
// Environment: DATABASE_URL (an empty database; the schema is created here), BETTER_AUTH_SECRET,
// OAUTH_RESOURCES (comma-separated resource URLs tokens may be issued for). It listens on a free
// port of 127.0.0.1 and prints one line `listening <base URL>` once it answers requests.
import { createServer } from "node:http";

import { oauthProvider } from "@better-auth/oauth-provider";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { jwt } from "better-auth/plugins";
import pg from "pg";

const resources = (process.env.OAUTH_RESOURCES ?? "").split(",").filter(Boolean);
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });

const server = createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const baseURL = `http://127.0.0.1:${server.address().port}`;

const auth = betterAuth({
  baseURL,
  secret: process.env.BETTER_AUTH_SECRET,
  database: pool,
  emailAndPassword: { enabled: true },
  telemetry: { enabled: false },
  plugins: [
    jwt(),
    oauthProvider({
      // No pages are served: a client satisfies both by POSTing the signed `oauth_query` to
      // /sign-in/email and /oauth2/consent, as the pages of a real frontend do.
      loginPage: "/sign-in",
      consentPage: "/consent",
      resources,
      clientRegistrationDefaultResources: resources,
      // MCP hosts register themselves (RFC 7591) before the user has signed in.
      allowDynamicClientRegistration: true,
      allowUnauthenticatedClientRegistration: true,
    }),
  ],
});

const { runMigrations } = await getMigrations(auth.options);
await runMigrations();

server.on("request", toNodeHandler(auth));
const stop = () => server.close(() => pool.end().then(() => process.exit(0)));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
console.log(`listening ${baseURL}`);
