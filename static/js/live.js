/* BM.live: a page's live stream (config/consumers.py on the server), for the bots pages and any
   page that follows a stream (the status board).

   BM.live.open(path, {sync, message, status}) connects to ws(s)://<this host><path> with the
   session cookie. Every message carries the stream's `seq`: 1 for the `hello`, then +1 each
   (heartbeats too). The page's state comes from the REST API: `sync()` (returning a promise) is
   called after every hello (a first connection or a reconnection) and whenever a number is
   skipped (a gap); messages arriving while it runs are held and handed to `message(msg)`
   afterwards, so `message` must accept what the sync already showed (compare times or seqs).
   No message for 2.5 heartbeats → reconnect. Close codes 4400/4401/4403/4404 are final (bad
   request, signed out, not a member, not found): no reconnect. `status(name)` tells the page
   "connecting", "live", "reconnecting" or "offline". Returns {close()}. */
(function () {
  "use strict";

  const FINAL = [4400, 4401, 4403, 4404];
  const MAX_DELAY_MS = 30000;

  function open(path, handlers) {
    let socket = null;
    let last = 0;             // the seq of the last message of this connection
    let beatMs = 15000;
    let watchdog = null;
    let attempts = 0;
    let closed = false;
    let syncing = false;
    let syncAgain = false;
    let held = [];

    function tell(name) { if (handlers.status) handlers.status(name); }

    function url() {
      return (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + path;
    }

    function arm() {
      clearTimeout(watchdog);
      watchdog = setTimeout(function () { if (socket) socket.close(); }, beatMs * 2.5);
    }

    async function sync() {
      if (syncing) { syncAgain = true; return; }
      syncing = true;
      do {
        syncAgain = false;
        try { await handlers.sync(); } catch (err) { /* the page shows its own error; the next gap or hello tries again */ }
      } while (syncAgain);
      syncing = false;
      const pending = held;
      held = [];
      pending.forEach(function (msg) { handlers.message(msg); });
    }

    function receive(msg) {
      arm();
      if (msg.type === "hello") {
        last = msg.seq;
        beatMs = (msg.heartbeat_seconds || 15) * 1000;
        attempts = 0;
        arm();
        tell("live");
        sync();
        return;
      }
      const gap = msg.seq !== last + 1;
      last = msg.seq;
      if (msg.type === "heartbeat") {
        if (gap) sync();
        return;
      }
      if (syncing || gap) {
        held.push(msg);
        if (gap) sync();
        return;
      }
      handlers.message(msg);
    }

    function connect() {
      tell(attempts ? "reconnecting" : "connecting");
      socket = new WebSocket(url());
      socket.onmessage = function (event) {
        let msg;
        try { msg = JSON.parse(event.data); } catch (err) { return; }
        receive(msg);
      };
      socket.onclose = function (event) {
        clearTimeout(watchdog);
        socket = null;
        if (closed) return;
        if (FINAL.indexOf(event.code) >= 0) { tell("offline"); return; }
        attempts += 1;
        tell("reconnecting");
        // 1 s, 2 s, 4 s … up to 30 s, with jitter so a restarted server is not hit at once.
        const delay = Math.min(MAX_DELAY_MS, 1000 * Math.pow(2, attempts - 1)) * (0.75 + Math.random() / 2);
        setTimeout(connect, delay);
      };
    }

    connect();
    return {
      close: function () {
        closed = true;
        clearTimeout(watchdog);
        if (socket) socket.close();
      },
    };
  }

  /* The stream status shown next to a page's title. */
  function showStatus(element, texts, name) {
    if (!element) return;
    const labels = { connecting: texts.connecting, live: texts.live, reconnecting: texts.reconnecting, offline: texts.offline };
    element.textContent = labels[name] || "";
    element.dataset.status = name;
  }

  window.BM = window.BM || {};
  window.BM.live = { open: open, showStatus: showStatus };
})();
