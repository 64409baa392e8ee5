// Server-sent events read with fetch(), for streams that need an Authorization header
// (EventSource cannot send one). Parses the text/event-stream format (event, data, id, retry),
// reconnects after `retry` ms with Last-Event-ID, and stops when `stop()` is called.

/** Splits a buffer into complete events; returns [events, rest]. */
export function parseEvents(buffer) {
  const events = [];
  const blocks = buffer.replace(/\r\n?/g, "\n").split("\n\n");
  const rest = blocks.pop();
  for (const block of blocks) {
    const event = { event: "message", data: [], id: null, retry: null };
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event.event = value;
      else if (field === "data") event.data.push(value);
      else if (field === "id") event.id = value;
      else if (field === "retry" && /^\d+$/.test(value)) event.retry = Number(value);
    }
    events.push({ ...event, data: event.data.join("\n") });
  }
  return [events, rest];
}

/**
 * Streams `url` with `headers()` (called at each connection, so a new login applies).
 * handlers: {onEvent(name, data, id), onState(connected: bool), onFatal(status)}.
 * A 401/403/404 answer is fatal (onFatal); anything else is retried.
 */
export function streamEvents(url, headers, handlers) {
  let lastId = null;
  let retryMs = 3000;
  let stopped = false;
  let controller = null;

  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const request = { ...headers(), Accept: "text/event-stream" };
        if (lastId) request["Last-Event-ID"] = lastId;
        const response = await fetch(url, { headers: request, signal: controller.signal, cache: "no-store" });
        if ([401, 403, 404].includes(response.status)) {
          handlers.onFatal?.(response.status);
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        handlers.onState?.(true);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          let events;
          [events, buffer] = parseEvents(buffer + value);
          for (const event of events) {
            if (event.retry !== null) retryMs = event.retry;
            if (event.id !== null) lastId = event.id;
            if (event.data !== "" && event.event !== "ping") handlers.onEvent(event.event, event.data, event.id);
          }
        }
      } catch (error) {
        if (stopped) return;
        console.warn("live stream interrupted:", error.message);
      }
      handlers.onState?.(false);
      if (!stopped) await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  }

  run();
  return {
    stop() {
      stopped = true;
      controller?.abort();
    },
  };
}
