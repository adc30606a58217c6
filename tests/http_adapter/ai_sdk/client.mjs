// One chat request as `useChat` sends it, read as `useChat` reads it: the `ai` package's own
// DefaultChatTransport (its body, its Authorization header) and readUIMessageStream.
//
// Input (stdin, JSON): {api, token, chatId, messages, trigger, messageId}.
// Output (stdout, JSON): {message: the last UIMessage state, errors: [messages of errors],
// comments: the SSE comment lines the server sent, which the package must pass over}.
import { DefaultChatTransport, readUIMessageStream } from "ai";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const comments = [];
let teed = Promise.resolve();
// The answer as the package gets it; a copy of its bytes is read for comment lines.
const fetchTeed = async (url, init) => {
  const response = await fetch(url, init);
  if (!response.body) return response;
  const [mine, theirs] = response.body.tee();
  teed = (async () => {
    let text = "";
    const decoder = new TextDecoder();
    for await (const chunk of mine) text += decoder.decode(chunk, { stream: true });
    for (const line of text.split("\n")) if (line.startsWith(":")) comments.push(line);
  })();
  return new Response(theirs, { status: response.status, headers: response.headers });
};

const transport = new DefaultChatTransport({
  api: input.api,
  headers: () => ({ Authorization: `Bearer ${input.token}` }),
  fetch: fetchTeed,
});

const errors = [];
let message = null;
try {
  const stream = await transport.sendMessages({
    chatId: input.chatId,
    messages: input.messages,
    trigger: input.trigger ?? "submit-message",
    messageId: input.messageId,
    abortSignal: undefined,
  });
  for await (const state of readUIMessageStream({
    stream,
    onError: (error) => errors.push(String(error?.message ?? error)),
  })) {
    message = state;
  }
} catch (error) {
  errors.push(String(error?.message ?? error));
}
await teed;
process.stdout.write(JSON.stringify({ message, errors, comments }));
