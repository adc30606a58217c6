// One chat request as `useChat` sends it, read as `useChat` reads it: the `ai` package's own
// DefaultChatTransport (its body, its Authorization header) and readUIMessageStream.
//
// Input (stdin, JSON): {api, token, chatId, messages, trigger, messageId}.
// Output (stdout, JSON): {message: the last UIMessage state, errors: [messages of errors]}.
import { DefaultChatTransport, readUIMessageStream } from "ai";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const transport = new DefaultChatTransport({
  api: input.api,
  headers: () => ({ Authorization: `Bearer ${input.token}` }),
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
process.stdout.write(JSON.stringify({ message, errors }));
