/* Web workers for a site opened from the file system (`atc build --offline`).
 *
 * Chromium refuses `new Worker()` for file:// scripts, which stops mkdocs-material's search worker. On file:// only,
 * this replaces Worker with one that runs the script in a hidden same-origin iframe and passes messages through
 * events, so search works without a server or a CDN. The offline build loads it before the theme's bundle.
 */
(function () {
  "use strict";
  if (window.location.protocol !== "file:") return;

  /** Load a classic script into a document; resolves when it has run. */
  function load(doc, src) {
    return new Promise((resolve, reject) => {
      const script = doc.createElement("script");
      script.src = src;
      script.onload = () => resolve();
      script.onerror = () => reject(new Error(`cannot load ${src}`));
      doc.head.appendChild(script);
    });
  }

  class FrameWorker extends EventTarget {
    /** Start the worker script in a hidden iframe; messages sent before it has loaded wait for it. */
    constructor(url) {
      super();
      this.onmessage = null;
      this.onerror = null;
      this.queue = [];
      this.frame = document.createElement("iframe");
      this.frame.style.display = "none";
      this.frame.setAttribute("aria-hidden", "true");
      document.body.appendChild(this.frame);
      const scope = this.frame.contentWindow;
      const base = new URL(url, window.location.href).href;
      scope.postMessage = (data) => window.setTimeout(() => this.receive(data));
      scope.importScripts = (...urls) =>
        urls.reduce((done, src) => done.then(() => load(scope.document, new URL(src, base).href)), Promise.resolve());
      this.scope = null;
      load(scope.document, base).then(
        () => {
          this.scope = scope;
          this.queue.splice(0).forEach((data) => this.postMessage(data));
        },
        (error) => this.fail(error),
      );
    }

    /** Send data to the worker script, as Worker.postMessage does. */
    postMessage(data) {
      if (this.scope === null) {
        this.queue.push(data);
        return;
      }
      const scope = this.scope;
      window.setTimeout(() => scope.dispatchEvent(new scope.MessageEvent("message", { data })));
    }

    /** Deliver data the worker script posted to this side's listeners. */
    receive(data) {
      const event = new MessageEvent("message", { data });
      if (typeof this.onmessage === "function") this.onmessage(event);
      this.dispatchEvent(event);
    }

    /** Report a worker script that could not load, as a Worker's error event. */
    fail(error) {
      const event = new ErrorEvent("error", { message: String(error), error });
      if (typeof this.onerror === "function") this.onerror(event);
      this.dispatchEvent(event);
    }

    /** Stop the worker: remove its iframe. */
    terminate() {
      this.frame.remove();
    }
  }

  window.Worker = FrameWorker;
})();
