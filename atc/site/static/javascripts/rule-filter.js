/* The rule index (Detection_Rules/index.md): filter its table by tactic, level, status, log source and free text.
 *
 * The page's static table is the data and the no-JavaScript fallback: each row is read once, then a filter only
 * toggles `hidden` on rows, showing the first PAGE_ROWS matches until asked for all. When the site is served over http(s), rules.json adds each rule's id, service,
 * Data Needed and triggers to the free-text search. When the knowledge base is in git the table has a "Last changed"
 * column: rows can then be kept to those changed in the last N days (counted from today in the browser) and sorted by
 * that date. Rule text is only ever inserted with textContent.
 */
(function () {
  "use strict";

  const FILTERS = [
    { key: "tactics", label: "Tactic", column: 5, list: true },
    { key: "level", label: "Level", column: 1 },
    { key: "status", label: "Status", column: 2 },
    { key: "product", label: "Product", column: 3 },
    { key: "category", label: "Category / service", column: 4 },
  ];
  const LEVELS = ["informational", "low", "medium", "high", "critical"];
  const DEBOUNCE_MS = 150;
  const PAGE_ROWS = 200; // rows shown at once: laying out thousands of table rows takes seconds
  const CHANGED_HEADER = "Last changed";
  const CHANGED_DAYS = [7, 30, 90, 365];
  const DAY_MS = 86400000;
  const SORTS = [["title", "title"], ["newest", "newest change first"], ["oldest", "oldest change first"]];

  /** Split a comma-separated cell into its values. */
  function cellValues(cell) {
    return cell.textContent.split(",").map((value) => value.trim()).filter(Boolean);
  }

  /** The rule's slug from its link: the last path segment without ".html" or a trailing slash. */
  function slugOf(row) {
    const link = row.cells[0].querySelector("a");
    if (!link) return "";
    const parts = new URL(link.href).pathname.replace(/\/$/, "").split("/");
    return decodeURIComponent(parts[parts.length - 1]).replace(/\.html$/, "");
  }

  /** The index of the table column with this header, or -1. */
  function columnOf(table, header) {
    if (!table.tHead || !table.tHead.rows.length) return -1;
    return Array.from(table.tHead.rows[0].cells).findIndex((cell) => cell.textContent.trim() === header);
  }

  /** One model entry per table row: its filter values, its last change (ms, NaN when unknown) and the lower-case text searched by the text box. */
  function readRows(table) {
    const changedColumn = columnOf(table, CHANGED_HEADER);
    return Array.from(table.tBodies[0].rows, (row, position) => {
      const values = {};
      for (const filter of FILTERS) {
        const cell = row.cells[filter.column];
        values[filter.key] = cell ? cellValues(cell) : [];
      }
      const changedCell = changedColumn >= 0 ? row.cells[changedColumn] : null;
      const changed = changedCell ? Date.parse(changedCell.textContent.trim()) : NaN;
      return { row, values, position, changed, slug: slugOf(row), text: row.textContent.toLowerCase() };
    });
  }

  /** A labelled <select> of fixed [value, text] choices. */
  function choice(name, caption, choices) {
    const label = document.createElement("label");
    label.className = "atc-rule-filter__field";
    const text = document.createElement("span");
    text.textContent = caption;
    const box = document.createElement("select");
    box.name = name;
    for (const [value, shown] of choices) box.add(new Option(shown, value));
    label.append(text, box);
    return label;
  }

  /** The rows in the chosen order: page order (by title), or by last change with unknown dates last. */
  function ordered(rows, sort) {
    if (sort === "title") return rows.slice().sort((a, b) => a.position - b.position);
    const sign = sort === "newest" ? -1 : 1;
    const known = (item) => !Number.isNaN(item.changed);
    return rows.slice().sort((a, b) => (known(b) - known(a)) || sign * (a.changed - b.changed) || a.position - b.position);
  }

  /** Add rules.json facts (id, service, Data Needed, triggers) to each row's searchable text. */
  function enrich(rows, url) {
    if (!/^https?:$/.test(window.location.protocol)) return; // browsers refuse fetch() on file://
    fetch(url)
      .then((response) => (response.ok ? response.json() : []))
      .then((entries) => {
        const bySlug = new Map(entries.map((entry) => [entry.slug, entry]));
        for (const item of rows) {
          const entry = bySlug.get(item.slug);
          if (!entry) continue;
          const extra = [entry.id, entry.logsource && entry.logsource.service, ...(entry.data_needed || []), ...(entry.triggers || [])];
          item.text += " " + extra.filter(Boolean).join(" ").toLowerCase();
        }
      })
      .catch(() => undefined); // the table's own text is still searched
  }

  /** The distinct values of one filter, levels in severity order, others alphabetical. */
  function options(rows, filter) {
    const seen = new Set(rows.flatMap((item) => item.values[filter.key]));
    const order = filter.key === "level" ? (a, b) => LEVELS.indexOf(a) - LEVELS.indexOf(b) : (a, b) => a.localeCompare(b);
    return Array.from(seen).sort(order);
  }

  /** A labelled <select> with an "all" choice then every value. */
  function select(rows, filter) {
    const label = document.createElement("label");
    label.className = "atc-rule-filter__field";
    const caption = document.createElement("span");
    caption.textContent = filter.label;
    const box = document.createElement("select");
    box.name = filter.key;
    box.add(new Option("all", ""));
    for (const value of options(rows, filter)) box.add(new Option(value, value));
    label.append(caption, box);
    return label;
  }

  /** Whether a row passes the chosen values and every word of the text. */
  function matches(item, chosen, words) {
    for (const [key, value] of chosen) {
      if (!item.values[key].includes(value)) return false;
    }
    return words.every((word) => item.text.includes(word));
  }

  /** Build the filter form above the table and wire it to the rows. */
  function setUp(container) {
    const article = container.closest("article") || document;
    const table = article.querySelector("table");
    if (!table || !table.tBodies.length || container.dataset.ready) return;
    container.dataset.ready = "true";
    let rows = readRows(table);
    const history = rows.some((item) => !Number.isNaN(item.changed));

    const form = document.createElement("form");
    form.className = "atc-rule-filter__form";
    form.setAttribute("role", "search");
    const textLabel = document.createElement("label");
    textLabel.className = "atc-rule-filter__field atc-rule-filter__text";
    const textCaption = document.createElement("span");
    textCaption.textContent = "Text";
    const text = document.createElement("input");
    text.type = "search";
    text.name = "text";
    text.placeholder = "title, technique id, rule id, Data Needed…";
    textLabel.append(textCaption, text);
    form.append(textLabel, ...FILTERS.map((filter) => select(rows, filter)));
    if (history) {
      form.append(
        choice("changed", "Changed", [["", "any time"], ...CHANGED_DAYS.map((days) => [String(days), `in the last ${days} days`])]),
        choice("sort", "Sort by", SORTS),
      );
    }
    const reset = document.createElement("button");
    reset.type = "reset";
    reset.className = "md-button";
    reset.textContent = "Clear";
    form.append(reset);
    const status = document.createElement("p");
    status.className = "atc-rule-filter__status";
    const count = document.createElement("span");
    count.className = "atc-rule-filter__count";
    count.setAttribute("aria-live", "polite");
    const more = document.createElement("button");
    more.type = "button";
    more.className = "atc-rule-filter__more";
    status.append(count, more);
    container.append(form, status);
    container.hidden = false;

    let limit = PAGE_ROWS;
    const apply = () => {
      const chosen = FILTERS.map((filter) => [filter.key, form.elements[filter.key].value]).filter(([, value]) => value);
      const words = text.value.toLowerCase().split(/\s+/).filter(Boolean);
      const days = history ? Number(form.elements.changed.value) : 0;
      const since = days ? Math.floor((Date.now() - days * DAY_MS) / DAY_MS) * DAY_MS : -Infinity; // from the start of that day (UTC)
      let found = 0;
      for (const item of rows) {
        const match = matches(item, chosen, words) && (!days || item.changed >= since);
        const hide = !match || found >= limit;
        if (item.row.hidden !== hide) item.row.hidden = hide;
        if (match) found += 1;
      }
      count.textContent = `${found} of ${rows.length} rules`;
      more.hidden = found <= limit;
      more.textContent = `showing the first ${limit}: show all ${found}`;
    };
    const refilter = () => {
      limit = PAGE_ROWS;
      apply();
    };
    let timer = 0;
    text.addEventListener("input", () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(refilter, DEBOUNCE_MS);
    });
    const sortRows = () => {
      rows = ordered(rows, form.elements.sort.value);
      const body = table.tBodies[0];
      for (const item of rows) body.appendChild(item.row); // moves the row: the table shows the new order
    };
    form.addEventListener("change", (event) => {
      if (history && event.target === form.elements.sort) sortRows();
      if (event.target !== text) refilter();
    });
    form.addEventListener("submit", (event) => event.preventDefault());
    form.addEventListener("reset", () =>
      window.setTimeout(() => {
        if (history) sortRows();
        refilter();
      }, 0),
    );
    more.addEventListener("click", () => {
      limit = Infinity;
      apply();
    });
    apply();
    enrich(rows, new URL(container.dataset.rules || "../rules.json", window.location.href).href);
  }

  /** Set up the filter on the current page, if it is the rule index. */
  function onPage() {
    const container = document.getElementById("atc-rule-filter");
    if (container) setUp(container);
  }

  if (typeof window.document$ !== "undefined") {
    window.document$.subscribe(onPage); // mkdocs-material's instant navigation: runs on every page change
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", onPage);
  } else {
    onPage();
  }
})();
