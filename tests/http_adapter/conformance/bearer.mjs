// Loaded with `node --import` before the conformance suite: its server scenarios send no
// credentials, and /mcp takes none but a bearer token. Every request the suite makes (through
// fetch or undici, which share Node's global dispatcher) gets `Authorization: Bearer
// $MCP_BEARER_TOKEN`; nothing else about a request changes (Host and Origin stay as the
// scenario sets them).
import { createRequire } from "node:module";

const require = createRequire(`${process.env.CONFORMANCE_NODE_MODULES}/`);
const { Agent, setGlobalDispatcher } = require("undici");

const authorization = `Bearer ${process.env.MCP_BEARER_TOKEN}`;

// undici hands headers on as an object, a flat [name, value, ...] array or [name, value] pairs.
function withAuthorization(headers) {
  if (headers == null) return { authorization };
  if (Array.isArray(headers)) {
    return Array.isArray(headers[0])
      ? [...headers, ["authorization", authorization]]
      : [...headers, "authorization", authorization];
  }
  if (typeof headers[Symbol.iterator] === "function") {
    return [...headers, ["authorization", authorization]];
  }
  return { ...headers, authorization };
}

setGlobalDispatcher(
  new Agent().compose(
    (dispatch) => (options, handler) =>
      dispatch({ ...options, headers: withAuthorization(options.headers) }, handler),
  ),
);
