"""The gallery page's script (data: JavaScript, run by the browser, tested in Chromium).

It reads the jobs from the page's JSON and draws only the cards in view: cards have a
fixed size (``CARD_H`` matches the style sheet), so the grid's height is known and the
cards of the visible rows are placed absolutely, created on scroll and removed when far
away. Filters, search and sorting build the list of shown jobs; keys move a current card.
Text reaches the document through ``textContent`` and attributes only: never as markup.

Rejections are kept per output folder in the browser's localStorage (a reload keeps
them) and exported as a file through a Blob link; the file's shape is in
``docs/gallery.md``.
"""

from __future__ import annotations

SCRIPT = r"""
"use strict";
(() => {
  const data = JSON.parse(document.getElementById("gallery-data").textContent);
  const jobs = data.jobs;
  const CARD_MIN = 250, CARD_H = 360, GAP = 12, OVERSCAN = 2, MAX_SHOTS = 4;
  const $ = (id) => document.getElementById(id);
  const grid = $("grid"), box = $("lightbox"), search = $("search"), sort = $("sort");
  const STORE = "batch_gen.gallery.rejected:" + data.output;
  const FILTERS = [
    ["all", "All", () => true],
    ["succeeded", "Succeeded", (j) => j.status === "succeeded"],
    ["failed", "Failed", (j) => j.status === "failed"],
    ["pending", "Pending", (j) => j.status === "pending"],
    ["running", "Running", (j) => j.status === "running"],
    ["rejected", "Rejected", (j) => rejected.has(j.id)],
    ["versions", "Earlier versions", (j) => Boolean(j.prev)],
    ["billed", "Possibly billed", (j) => j.billed > 0],
  ];
  const STATUS_ORDER = { failed: 0, running: 1, pending: 2, succeeded: 3 };
  const SORTS = {
    manifest: (a, b) => a.index - b.index,
    id: (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    status: (a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status] || a.index - b.index,
    cost: (a, b) => (b.cost ?? -1) - (a.cost ?? -1) || a.index - b.index,
    attempts: (a, b) => b.attempts - a.attempts || a.index - b.index,
    billed: (a, b) => b.billed - a.billed || a.index - b.index,
    newest: (a, b) => (b.finished || "").localeCompare(a.finished || "") || a.index - b.index,
  };
  for (const job of jobs) {
    job.hay = [job.id, job.prompt, job.model, job.api, job.status, job.error || "",
      job.note || "", job.shard || ""].join("\n").toLowerCase();
  }
  const rejectable = (job) => job.images.length > 0 && !job.stale;
  const rejected = new Map(); // id -> the key it was rejected under
  let filter = "all", words = [], view = [], cur = 0, cols = 1, cardW = CARD_MIN;
  let lightboxAt = -1, painting = false;
  const cards = new Map(); // position in view -> element

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") el.className = value;
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }
  const plural = (n, word) => n + " " + word + (n === 1 ? "" : "s");
  function bytes(n) {
    if (!n) return "";
    if (n < 1024) return n + " B";
    return n < 1048576 ? (n / 1024).toFixed(0) + " KB" : (n / 1048576).toFixed(1) + " MB";
  }
  function sizes(images) {
    const seen = new Set();
    for (const im of images) {
      seen.add((im.w && im.h ? im.w + "\u00d7" + im.h + " " : "") + (im.fmt || ""));
    }
    return Array.from(seen).join(", ");
  }

  // --- rejections ---------------------------------------------------------------------
  function restore() {
    let saved = {};
    try { saved = JSON.parse(localStorage.getItem(STORE) || "{}") || {}; } catch (e) { }
    for (const job of jobs) {
      if (saved[job.id] === job.key && rejectable(job)) rejected.set(job.id, job.key);
    }
  }
  function save() {
    try { localStorage.setItem(STORE, JSON.stringify(Object.fromEntries(rejected))); }
    catch (e) { }
  }
  function toggle(job) {
    if (!job || !rejectable(job)) return;
    if (rejected.has(job.id)) rejected.delete(job.id); else rejected.set(job.id, job.key);
    save();
    refresh(false);
    const el = cards.get(cur);
    if (el && lightboxAt < 0 && document.activeElement !== search) {
      el.focus({ preventScroll: true });
    }
  }
  function rejections() {
    const list = jobs.filter((j) => rejected.has(j.id)).map((j) => ({
      id: j.id, key: j.key, sha256: j.images.map((im) => im.sha).filter(Boolean),
      ...(j.finished ? { finished_at: j.finished } : {}),
    }));
    const doc = { batch_gen: data.format.batch_gen, version: data.format.version,
      manifest: data.manifest, output: data.output, rejected: list };
    return JSON.stringify(doc, null, 2) + "\n";
  }
  function download() {
    const link = $("download");
    const url = URL.createObjectURL(new Blob([rejections()], { type: "application/json" }));
    link.href = url;
    link.download = data.rejectFile;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  // --- the list of shown jobs ---------------------------------------------------------
  function matches(job) {
    if (!FILTERS.find((f) => f[0] === filter)[2](job)) return false;
    return words.every((w) => job.hay.includes(w));
  }
  function refresh(rebuild) {
    const id = view[cur] && view[cur].id;
    if (rebuild) {
      view = jobs.filter(matches).sort(SORTS[sort.value] || SORTS.manifest);
      const at = view.findIndex((j) => j.id === id);
      cur = at < 0 ? 0 : at;
    }
    drawFilters();
    $("shown").textContent = view.length + " of " + plural(jobs.length, "job") + " shown";
    $("empty").hidden = view.length > 0;
    $("export").disabled = rejected.size === 0;
    $("export").textContent = rejected.size
      ? "Export " + rejected.size + " rejected" : "Export rejections";
    $("clear").disabled = rejected.size === 0;
    if (rebuild) layout(); else redraw();
    if (lightboxAt >= 0) fillLightbox();
  }
  function drawFilters() {
    const holder = $("filters");
    holder.textContent = "";
    for (const [name, title, test] of FILTERS) {
      const count = jobs.filter(test).length;
      if (!count && name !== "all" && name !== filter) continue;
      const button = h("button", { type: "button", "data-filter": name,
        "aria-pressed": String(filter === name) }, title + " " + count);
      button.addEventListener("click", () => { filter = name; refresh(true); });
      holder.append(button);
    }
  }

  // --- the grid: only the cards in view exist -----------------------------------------
  function layout() {
    const width = grid.clientWidth;
    cols = Math.max(1, Math.floor((width + GAP) / (CARD_MIN + GAP)));
    cardW = (width - GAP * (cols - 1)) / cols;
    const rows = Math.ceil(view.length / cols);
    grid.style.height = (rows ? rows * (CARD_H + GAP) - GAP : 0) + "px";
    redraw();
  }
  function redraw() {
    for (const el of cards.values()) el.remove();
    cards.clear();
    paint();
  }
  function paint() {
    painting = false;
    const top = grid.getBoundingClientRect().top;
    const rowH = CARD_H + GAP;
    const first = Math.max(0, Math.floor(-top / rowH) - OVERSCAN);
    const last = Math.floor((window.innerHeight - top) / rowH) + OVERSCAN;
    const lo = first * cols, hi = Math.min(view.length, (last + 1) * cols);
    for (const [at, el] of cards) {
      if (at < lo || at >= hi) { el.remove(); cards.delete(at); }
    }
    for (let at = lo; at < hi; at++) {
      if (cards.has(at)) continue;
      const el = card(view[at], at);
      el.style.left = (at % cols) * (cardW + GAP) + "px";
      el.style.top = Math.floor(at / cols) * rowH + "px";
      el.style.width = cardW + "px";
      el.style.height = CARD_H + "px";
      grid.append(el);
      cards.set(at, el);
    }
    for (const [at, el] of cards) el.classList.toggle("current", at === cur);
  }
  function schedule() {
    if (!painting) { painting = true; requestAnimationFrame(paint); }
  }
  function shot(im, label, cls, onOpen) {
    const fig = h("figure", { class: "shot " + (cls || "") });
    if (im && im.thumb) {
      const img = h("img", { alt: label || "thumbnail", loading: "lazy", decoding: "async" });
      img.src = im.thumb;
      fig.append(img);
    } else {
      fig.append(h("div", { class: "placeholder" }, im ? "no preview" : ""));
    }
    if (label) fig.append(h("figcaption", {}, label));
    fig.addEventListener("click", (e) => { e.stopPropagation(); onOpen(); });
    return fig;
  }
  function card(job, at) {
    const el = h("article", { class: "card st-" + job.status, role: "listitem",
      tabindex: "-1", "data-id": job.id, "aria-label": job.id });
    el.classList.toggle("rejected", rejected.has(job.id));
    const shots = h("div", { class: "shots" });
    const open = () => { select(at); openLightbox(at); };
    job.images.slice(0, MAX_SHOTS).forEach((im) => {
      shots.append(shot(im, job.stale ? "earlier fields" : im.label, "", open));
    });
    if (job.images.length > MAX_SHOTS) {
      shots.append(h("figure", { class: "shot more" }, "+" + (job.images.length - MAX_SHOTS)));
    }
    if (!job.images.length) {
      const why = job.status === "failed" ? "failed" : job.status === "running"
        ? "running or interrupted" : "not made yet";
      shots.append(h("div", { class: "placeholder" }, why));
    }
    if (job.prev) {
      shots.append(shot(job.prev.images[0], "previous v" + job.prev.n, "prev", open));
    }
    el.append(shots, meta(job));
    el.addEventListener("click", () => select(at));
    el.addEventListener("dblclick", open);
    return el;
  }
  function meta(job) {
    const kind = [job.model, job.api].join(" \u00b7 ");
    const facts = [sizes(job.images),
      job.images.length > 1 ? plural(job.images.length, "image") : "",
      plural(job.attempts, "attempt"), job.shard ? "shard " + job.shard : "",
      job.versions ? plural(job.versions, "earlier version") : ""].filter(Boolean)
      .join(" \u00b7 ");
    const top = h("div", { class: "top" },
      h("span", { class: "badge status" }, job.status),
      h("span", { class: "id", title: job.id }, job.id),
      h("span", { class: "cost" }, job.costText || ""));
    const wrap = h("div", { class: "meta" }, top,
      h("p", { class: "prompt", title: job.prompt }, job.prompt),
      h("div", { class: "facts", title: kind }, kind),
      h("div", { class: "facts", title: facts }, facts));
    if (job.billed) {
      wrap.append(h("div", { class: "warn" }, plural(job.billed, "request") + " possibly billed"));
    }
    if (job.error) wrap.append(h("p", { class: "error", title: job.error }, job.error));
    else if (job.note) wrap.append(h("p", { class: "note" }, job.note));
    const actions = h("div", { class: "actions" });
    if (rejectable(job)) {
      const button = h("button", { type: "button", class: "reject",
        "aria-pressed": String(rejected.has(job.id)) },
        rejected.has(job.id) ? "Rejected" : "Reject");
      button.addEventListener("click", (e) => { e.stopPropagation(); toggle(job); });
      actions.append(button);
    }
    wrap.append(actions);
    return wrap;
  }

  // --- moving -------------------------------------------------------------------------
  function select(at) {
    cur = Math.max(0, Math.min(view.length - 1, at));
    const rowTop = grid.getBoundingClientRect().top + Math.floor(cur / cols) * (CARD_H + GAP);
    const bar = $("toolbar").getBoundingClientRect().height + 8;
    if (rowTop < bar) window.scrollBy(0, rowTop - bar);
    else if (rowTop + CARD_H > window.innerHeight - 8) {
      window.scrollBy(0, rowTop + CARD_H - window.innerHeight + 8);
    }
    paint();
    const el = cards.get(cur);
    if (el) el.focus({ preventScroll: true });
    if (lightboxAt >= 0) { lightboxAt = cur; fillLightbox(); }
  }

  // --- the lightbox -------------------------------------------------------------------
  function figure(im, caption) {
    const img = h("img", { alt: caption });
    const fig = h("figure", {}, h("a", { href: im.src, target: "_blank" }, img),
      h("figcaption", {}, [caption, sizes([im]), bytes(im.bytes)].filter(Boolean).join(" · ")));
    img.addEventListener("error", () => {
      if (!im.thumb || img.src === im.thumb) return;
      img.src = im.thumb;
      fig.append(h("div", { class: "missing" }, "full image not found beside this page"));
    }, { once: true });
    img.src = im.src;
    return fig;
  }
  function fillRow(section, images, label) {
    const row = section.querySelector(".lb-row");
    row.textContent = "";
    images.forEach((im) => row.append(figure(im, im.label || label)));
  }
  function dl(pairs) {
    const list = h("dl");
    for (const [name, value] of pairs) {
      if (value === "" || value === null || value === undefined) continue;
      list.append(h("dt", {}, name), h("dd", {}, value));
    }
    return list;
  }
  function fillLightbox() {
    const job = view[lightboxAt];
    if (!job) { closeLightbox(); return; }
    const current = $("lb-current"), previous = $("lb-previous");
    fillRow(current, job.images, job.stale ? "made for earlier fields" : "current");
    current.querySelector("h2").textContent = job.images.length
      ? (job.stale ? "On disk, made for earlier fields" : "Current") : "No image";
    previous.hidden = !job.prev;
    if (job.prev) {
      previous.querySelector("h2").textContent = "Previous: version " + job.prev.n
        + (job.prev.finished ? " of " + job.prev.finished : "");
      fillRow(previous, job.prev.images, "version " + job.prev.n);
    }
    $("lb-title").textContent = job.id;
    const text = $("lb-text");
    text.textContent = "";
    text.append(h("p", { class: "prompt-full" }, job.prompt));
    if (job.prev && job.prev.prompt && job.prev.prompt !== job.prompt) {
      text.append(h("p", { class: "note" }, "previous prompt: " + job.prev.prompt));
    }
    text.append(dl([["status", job.status + (job.note ? " (" + job.note + ")" : "")],
      ["error", job.error], ["model", job.model], ["API", job.api],
      ["cost", job.costText || (data.priced ? "not priced" : "not known")],
      ["attempts", String(job.attempts)],
      ["possibly billed", job.billed ? plural(job.billed, "request") : ""],
      ["size", sizes(job.images)], ["files", job.images.map((im) => im.file).join(", ")],
      ["shard", job.shard], ["versions", job.versions ? String(job.versions) : ""],
      ["finished", job.finished]]));
    $("lb-facts").querySelector("pre").textContent = JSON.stringify(job.facts, null, 2);
    const button = $("lb-reject");
    button.hidden = !rejectable(job);
    button.setAttribute("aria-pressed", String(rejected.has(job.id)));
    button.textContent = rejected.has(job.id) ? "Rejected (x)" : "Reject (x)";
  }
  function openLightbox(at) {
    if (!view[at]) return;
    lightboxAt = at;
    box.hidden = false;
    fillLightbox();
    $("lb-close").focus({ preventScroll: true });
  }
  function closeLightbox() {
    lightboxAt = -1;
    box.hidden = true;
    const el = cards.get(cur);
    if (el) el.focus({ preventScroll: true });
  }

  // --- keys ---------------------------------------------------------------------------
  function onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLSelectElement) {
      if (e.key === "Escape" || (e.key === "Enter" && t === search)) {
        t.blur();
        select(cur);
        e.preventDefault();
      }
      return;
    }
    if (t instanceof HTMLButtonElement && (e.key === "Enter" || e.key === " ")) return;
    const rows = Math.max(1, Math.floor(window.innerHeight / (CARD_H + GAP)));
    const moves = { ArrowRight: 1, j: 1, ArrowLeft: -1, k: -1, ArrowDown: cols,
      ArrowUp: -cols, PageDown: cols * rows, PageUp: -cols * rows };
    if (lightboxAt >= 0) {
      if (e.key === "Escape") closeLightbox();
      else if (e.key === "ArrowRight" || e.key === "j") select(cur + 1);
      else if (e.key === "ArrowLeft" || e.key === "k") select(cur - 1);
      else if (e.key === "x") toggle(view[cur]);
      else return;
    } else if (e.key in moves) select(cur + moves[e.key]);
    else if (e.key === "Home") select(0);
    else if (e.key === "End") select(view.length - 1);
    else if (e.key === "Enter") openLightbox(cur);
    else if (e.key === "x") toggle(view[cur]);
    else if (e.key === "/") search.focus();
    else return;
    e.preventDefault();
  }

  // --- wiring -------------------------------------------------------------------------
  search.addEventListener("input", () => {
    words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    refresh(true);
  });
  sort.addEventListener("change", () => refresh(true));
  $("export").addEventListener("click", download);
  $("clear").addEventListener("click", () => { rejected.clear(); save(); refresh(true); });
  $("lb-close").addEventListener("click", closeLightbox);
  $("lb-back").addEventListener("click", () => select(cur - 1));
  $("lb-forward").addEventListener("click", () => select(cur + 1));
  $("lb-reject").addEventListener("click", () => toggle(view[cur]));
  document.addEventListener("keydown", onKey);
  window.addEventListener("scroll", schedule, { passive: true });
  window.addEventListener("resize", () => layout());
  restore();
  refresh(true);
  document.documentElement.dataset.ready = "true";
})();
"""
