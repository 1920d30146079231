// The live stream: one Server-Sent Events connection for the whole page
// (GET /api/v1/stream). Messages: hello, telemetry, virtual, status, event, lagged.
//
// The browser's EventSource reconnects by itself. After a reconnect, or when the
// server says this client lagged and lost messages, listeners of "resync" reload
// what they show from the REST API, so nothing shown is silently out of date.

const TYPES = ["hello", "telemetry", "virtual", "status", "event", "lagged"];

export class LiveStream {
  constructor(path = "/api/v1/stream") {
    this.path = path;
    this.listeners = new Map();
    this.state = "connecting";
    this.everOpen = false;
    this.source = null;
  }

  start() {
    const source = new EventSource(this.path);
    this.source = source;
    for (const type of TYPES) {
      source.addEventListener(type, (e) => this.dispatch(type, JSON.parse(e.data)));
    }
    source.addEventListener("open", () => {
      const reconnected = this.everOpen;
      this.everOpen = true;
      this.setState("open");
      if (reconnected) this.dispatch("resync", { reason: "reconnected" });
    });
    source.addEventListener("error", () => {
      this.setState(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
    });
  }

  stop() {
    if (this.source) this.source.close();
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatch("connection", { state });
  }

  dispatch(type, message) {
    if (type === "lagged") this.dispatch("resync", { reason: "lagged" });
    for (const fn of this.listeners.get(type) || []) {
      try {
        fn(message);
      } catch (err) {
        console.error(`live ${type} listener failed`, err);
      }
    }
  }

  /** Listen to one message type; returns a function that stops listening. */
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type).delete(fn);
  }
}

/**
 * Listeners that end together: scope.on(...) as many as needed, scope.close() once.
 * With twinId, only messages about that twin (and plant-wide events) get through.
 */
export class LiveScope {
  constructor(live, twinId = null) {
    this.live = live;
    this.twinId = twinId;
    this.offs = [];
  }

  on(type, fn) {
    const twinId = this.twinId;
    const filtered = twinId === null ? fn : (m) => {
      if (m.twin_id === undefined || m.twin_id === twinId) fn(m);
    };
    this.offs.push(this.live.on(type, filtered));
  }

  close() {
    for (const off of this.offs.splice(0)) off();
  }
}
