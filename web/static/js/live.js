// One live connection to /ws for a page (docs/realtime.md). An ES module, no build step, nothing page-specific.
//
// It owns: the websocket; the streams the page subscribed to and the last seq applied on each; dropping
// duplicates and turning a gap into a resubscribe; heartbeat watching; reconnecting with backoff and resuming
// every stream from its last seq; telling a signed-out browser apart from a server that is away; and the
// connection's state, which the page shows:
//
//   connecting   --every stream subscribed-->  live
//   connecting   --socket closed------------>  reconnecting  (retries with backoff, stays there)
//   live         --socket closed------------>  reconnecting
//   live         --subscribe(another)------->  connecting    (live again once that stream is subscribed too)
//   reconnecting --every stream subscribed-->  live
//   any          --stop(), 4401, signed out->  stopped       (final)
//
// The page owns what the events mean. Usage:
//
//   const live = sharedLive();                       // the page's one connection (one websocket per page)
//   live.onState((state, { reason }) => ...);         // called at once with the current state, then on changes
//   const plan = live.subscribe("plan:42", { after: 917, onEvent, onResync, onError });
//   live.start();            // plan.lastSeq: the last seq handed to onEvent; a second start() does nothing
//
// Every signed-in page has the header's inbox (inbox.js, stream "user:<id>") on that same connection; a page
// script takes it with sharedLive() rather than opening a second socket, and follows the user's stream
// through inbox.js's `careteam:inbox` DOM events rather than subscribing to it again (one handler a stream).
//
// Streams are named "<kind>:<id>". The server takes `{"type": "subscribe", "plan_id": 42, "after": 917}` today,
// so a "plan:N" stream is sent in that form; any other as `{"type": "subscribe", "stream": ..., "after": ...}`.
// Server frames may name their stream either way (`plan_id` or `stream`).

const HEARTBEAT_GRACE_MS = 75_000; // the server sends a heartbeat every 30 s to an idle socket
const WATCH_EVERY_MS = 10_000;
const RETRY_UNAVAILABLE_MS = 2_000; // `error unavailable`: the server could not read the log; ask again
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15_000;
const CLOSE_GAP = 4000; // ours: resubscribe at once so the server replays what is missing
const CLOSE_SIGNED_OUT = 4401; // the server's: the session or token is gone

export const State = Object.freeze({
  connecting: "connecting",
  live: "live",
  reconnecting: "reconnecting",
  stopped: "stopped",
});

const PLAN_STREAM = /^plan:(\d+)$/;

// The subscribe/unsubscribe frame for a stream, in the form the server understands today.
function streamFrame(type, stream, fields = {}) {
  const plan = PLAN_STREAM.exec(stream);
  return JSON.stringify(plan ? { type, plan_id: Number(plan[1]), ...fields } : { type, stream, ...fields });
}

// The stream a server frame is about, whichever form it uses; null for frames about none (heartbeat, pong).
function streamOf(frame) {
  if (typeof frame.stream === "string") return frame.stream;
  if (Number.isInteger(frame.plan_id)) return `plan:${frame.plan_id}`;
  return null;
}

async function signedOut() {
  try {
    const response = await fetch("/api/v1/me", { credentials: "same-origin", headers: { Accept: "application/json" } });
    return response.status === 401;
  } catch {
    return false; // the server is away, which says nothing about the session
  }
}

class Subscription {
  constructor(stream, { after, onEvent, onResync, onSnapshot, onError }) {
    this.stream = stream;
    // null: no seq yet; the server starts with a snapshot.
    this.lastSeq = after === null || after === undefined ? null : Number(after);
    this.onEvent = onEvent ?? (() => {});
    this.onResync = onResync ?? (() => {});
    this.onSnapshot = onSnapshot ?? this.onResync; // a page that cannot apply a snapshot reloads
    this.onError = onError ?? (() => {});
    this.acknowledged = false; // `subscribed` (or `snapshot`) received on the current socket
  }
}

export class LiveConnection {
  #url;
  #stateListeners = [];
  #started = false;
  #state = State.connecting;
  #stateDetail = {};
  #socket = null;
  #subscriptions = new Map(); // stream -> Subscription
  #attempt = 0; // failed connects since the last `subscribed`: the backoff's exponent
  #reconnectTimer = null;
  #lastHeard = 0;
  #watching = false;

  constructor({ url = "/ws", onState = () => {} } = {}) {
    this.#url = new URL(url, location.href);
    this.#url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    this.#stateListeners.push(onState);
  }

  // Call `listener(state, detail)` now with the current state, then on every change of state. Several scripts
  // share one connection and run one after the other, with the socket's events in between: the one that
  // runs last may find the connection already live (on the streams subscribed before it) and would never
  // hear of it otherwise.
  onState(listener) {
    this.#stateListeners.push(listener);
    listener(this.#state, this.#stateDetail);
  }

  get state() {
    return this.#state;
  }

  // Follow a stream from `after` (the last seq the page has applied). onEvent gets each `event` frame once,
  // in seq order; onResync a `resync` (the log cannot fill the gap: reload); onError an `error` frame about
  // this stream (`not_found`, `forbidden`, ...; `unavailable` is retried here).
  subscribe(stream, handlers = {}) {
    const subscription = new Subscription(stream, handlers);
    this.#subscriptions.set(stream, subscription);
    // "live" means every stream of the page is subscribed: not this one yet. A page script that runs after
    // the socket went live (on the inbox's stream) must not be told "live" before the server answers it.
    if (this.#state === State.live) this.#setState(State.connecting);
    if (this.#isOpen()) this.#sendSubscribe(subscription);
    return {
      stream,
      get lastSeq() {
        return subscription.lastSeq;
      },
      unsubscribe: () => this.unsubscribe(stream),
    };
  }

  unsubscribe(stream) {
    if (!this.#subscriptions.delete(stream)) return;
    if (!this.#isOpen()) return;
    this.#socket.send(streamFrame("unsubscribe", stream));
    this.#liveIfAllGranted();
  }

  start() {
    if (this.#started) return; // shared: every script of the page starts it, one socket opens
    this.#started = true;
    if (!this.#watching) {
      this.#watching = true;
      // A socket that went quiet (sleeping tablet, dead NAT) is closed and reopened.
      setInterval(() => {
        if (this.#isOpen() && Date.now() - this.#lastHeard > HEARTBEAT_GRACE_MS) this.#socket.close();
      }, WATCH_EVERY_MS);
      window.addEventListener("online", () => this.#reconnectSoon());
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "visible") this.#reconnectSoon();
      });
    }
    this.#connect();
  }

  // No more live updates on this page (reason: why, for the page's message).
  stop(reason = "stopped") {
    if (this.#state === State.stopped) return;
    clearTimeout(this.#reconnectTimer);
    const socket = this.#socket;
    this.#socket = null;
    socket?.close(1000);
    this.#setState(State.stopped, { reason });
  }

  #setState(state, detail = {}) {
    if (this.#state === state) return;
    this.#state = state;
    this.#stateDetail = detail;
    for (const listener of this.#stateListeners) listener(state, detail);
  }

  #isOpen() {
    return this.#socket !== null && this.#socket.readyState === WebSocket.OPEN;
  }

  #sendSubscribe(subscription) {
    subscription.acknowledged = false;
    this.#socket.send(streamFrame("subscribe", subscription.stream, { after: subscription.lastSeq }));
  }

  #connect() {
    clearTimeout(this.#reconnectTimer);
    if (this.#state === State.stopped) return;
    const ws = new WebSocket(this.#url);
    this.#socket = ws;
    let opened = false;
    ws.addEventListener("open", () => {
      opened = true;
      this.#lastHeard = Date.now();
      for (const subscription of this.#subscriptions.values()) this.#sendSubscribe(subscription);
    });
    ws.addEventListener("message", (message) => {
      if (this.#socket !== ws) return;
      this.#lastHeard = Date.now();
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      this.#onFrame(ws, frame);
    });
    ws.addEventListener("close", (closed) => {
      if (this.#socket !== ws) return;
      this.#socket = null;
      this.#onClose(closed, opened);
    });
  }

  #onFrame(ws, frame) {
    const subscription = this.#subscriptions.get(streamOf(frame));
    if (!subscription) return; // heartbeat, pong, or a stream this page left
    switch (frame.type) {
      case "subscribed":
        // Subscribed without a seq (a stream the page did not render): resume from here after a reconnect.
        if (subscription.lastSeq === null && Number.isInteger(frame.last_seq)) subscription.lastSeq = frame.last_seq;
        this.#acknowledge(subscription);
        return;
      case "event":
        if (subscription.lastSeq !== null && frame.seq <= subscription.lastSeq) return; // already applied
        if (subscription.lastSeq !== null && frame.seq !== subscription.lastSeq + 1) {
          // A gap should never happen; resubscribing from what we have makes the server replay it.
          ws.close(CLOSE_GAP, "gap");
          return;
        }
        subscription.lastSeq = frame.seq;
        subscription.onEvent(frame);
        return;
      case "snapshot":
        subscription.lastSeq = frame.last_seq;
        this.#acknowledge(subscription);
        subscription.onSnapshot(frame);
        return;
      case "resync":
        subscription.onResync(frame);
        return;
      case "error":
        if (frame.code === "unavailable") {
          setTimeout(() => {
            if (this.#socket === ws && this.#isOpen() && this.#subscriptions.get(subscription.stream) === subscription) {
              this.#sendSubscribe(subscription);
            }
          }, RETRY_UNAVAILABLE_MS);
          return;
        }
        subscription.onError(frame);
        return;
      default:
        return;
    }
  }

  // The server granted a subscription: live once it granted every one.
  #acknowledge(subscription) {
    subscription.acknowledged = true;
    this.#attempt = 0;
    this.#liveIfAllGranted();
  }

  #liveIfAllGranted() {
    const subscriptions = [...this.#subscriptions.values()];
    if (subscriptions.length > 0 && subscriptions.every((s) => s.acknowledged)) this.#setState(State.live);
  }

  async #onClose(closed, opened) {
    if (this.#state === State.stopped) return;
    // A refused upgrade (session ended while the server was away) looks like any failed connect to a
    // browser: after a few, ask the API whether we are still signed in.
    if (closed.code === CLOSE_SIGNED_OUT || (!opened && this.#attempt >= 2 && (await signedOut()))) {
      this.stop("signed-out");
      return;
    }
    if (this.#state === State.stopped || this.#socket) return; // stopped, or reconnected, meanwhile
    this.#setState(State.reconnecting);
    // Backoff with jitter: 0.5 s, 1 s, 2 s … up to 15 s, so a restarted server is not stampeded.
    const delay = closed.code === CLOSE_GAP
      ? 0
      : Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.#attempt) * (0.75 + Math.random() * 0.5);
    this.#attempt += 1;
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  #reconnectSoon() {
    if (this.#state === State.stopped || this.#socket) return;
    this.#attempt = 0;
    this.#connect();
  }
}

let shared = null;

// The page's one live connection, made on first use: board.js, inbox.js and any page script share it.
export function sharedLive() {
  shared ??= new LiveConnection();
  return shared;
}
