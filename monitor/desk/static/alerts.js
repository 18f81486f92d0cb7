// The alert list: filters, pages by cursor with the server's total, live alerts from the push stream, exports,
// and the case of an alert beside the list (over it on a phone).
import { AlertStream, api, download } from "./api.js";
import { CaseView } from "./case.js";
import { badge, getLang, h, label, localToIso, replace, t, teamLabel, when, zoned } from "./dom.js";

const STREAM_FILTERS = ["tier", "team", "branch", "kind"];

function newer(a, b) {
  const ta = Date.parse(a.alert.at);
  const tb = Date.parse(b.alert.at);
  if (ta !== tb) return tb - ta;
  return a.alert.alert_id < b.alert.alert_id ? 1 : a.alert.alert_id > b.alert.alert_id ? -1 : 0;
}

export class AlertsView {
  constructor(ctx) {
    this.ctx = ctx;
    this.form = document.getElementById("filters");
    this.rows = document.getElementById("alert-rows");
    this.more = document.getElementById("alert-more");
    this.items = new Map();
    this.pushedIds = new Set();
    this.cursor = null;
    this.total = null;
    this.filters = {};
    this.started = false;
    this.generation = 0;
    this.stream = new AlertStream((item) => this.pushed(item), (state, err) => this.streamState(state, err));
    this.caseView = new CaseView(ctx, document.getElementById("alert-case"), (detail) => this.caseChanged(detail));
    this.form.addEventListener("submit", (ev) => { ev.preventDefault(); this.reload(); });
    this.form.addEventListener("reset", () => window.setTimeout(() => this.reload(), 0));
    this.more.addEventListener("click", () => this.loadPage(this.cursor, this.generation));
    document.getElementById("alerts-csv").addEventListener("click", () => this.export("csv"));
    document.getElementById("alerts-xlsx").addEventListener("click", () => this.export("xlsx"));
  }

  async start() {
    if (this.started) return;
    this.started = true;
    await this.reload();
  }

  stop() {
    this.started = false;
    this.stream.stop();
    this.items.clear();
    this.pushedIds.clear();
    this.caseView.reset();
    this.render();
  }

  rerender() {
    this.render();
    this.caseView.rerender();
  }

  readFilters() {
    const out = {};
    for (const name of ["tier", "kind", "status", "team", "branch"]) {
      const v = this.form.elements[name].value.trim();
      if (v) out[name] = v;
    }
    const since = localToIso(this.form.elements.since.value);
    if (since) out.since = since;
    return out;
  }

  // Subscribe to the stream first, then read the first page: an alert in between is in one or the other.
  async reload() {
    const generation = ++this.generation;
    this.filters = this.readFilters();
    this.items.clear();
    this.pushedIds.clear();
    this.cursor = null;
    const streamFilters = {};
    for (const name of STREAM_FILTERS) if (this.filters[name]) streamFilters[name] = this.filters[name];
    await this.stream.start(streamFilters);
    if (generation !== this.generation) return;
    await this.loadPage(null, generation);
  }

  async loadPage(cursor, generation) {
    try {
      const { data } = await api("GET", "/alerts", { query: { ...this.filters, cursor, limit: 50 } });
      if (generation !== this.generation) return;
      for (const item of data.items) {
        if (!this.items.has(item.alert.alert_id)) this.items.set(item.alert.alert_id, item);
      }
      this.cursor = data.next_cursor;
      this.total = data.total;
      this.render();
    } catch (err) {
      this.ctx.fail(err);
    }
  }

  // What the server's stream does not filter: the case status and the start time.
  matches(item) {
    const f = this.filters;
    if (f.since && Date.parse(item.alert.at) < Date.parse(f.since)) return false;
    if (f.status === "active") return item.case_status !== null && item.case_status !== "released";
    if (f.status) return item.case_status === f.status;
    return true;
  }

  pushed(item) {
    if (!item || !item.alert || !this.matches(item)) return;
    if (!this.items.has(item.alert.alert_id) && this.total !== null) this.total += 1;
    this.items.set(item.alert.alert_id, item);
    this.pushedIds.add(item.alert.alert_id);
    for (const other of this.items.values()) {
      if (item.case_id && other.case_id === item.case_id) other.case_status = item.case_status;
    }
    this.render();
    if (item.case_id && item.case_id === this.caseView.caseId) this.caseView.refresh();
  }

  streamState(state, err) {
    this.ctx.live(state);
    if (err && state === "stopped") this.ctx.fail(err);
  }

  caseChanged(detail) {
    if (!detail) return;
    for (const item of this.items.values()) {
      if (item.case_id === detail.case_id) item.case_status = detail.status;
    }
    this.render();
  }

  markSelected() {
    for (const tr of this.rows.children) {
      tr.classList.toggle("selected", !!tr.dataset.caseId && tr.dataset.caseId === this.caseView.caseId);
    }
  }

  render() {
    replace(document.getElementById("alert-head"), [zoned("col.time"), t("col.borrower"), t("col.tier"),
      t("col.kind"), t("col.team"), t("col.branch"), t("col.case_status")].map((text) => h("th", { scope: "col" }, text)));
    const items = Array.from(this.items.values()).sort(newer);
    replace(this.rows, items.map((item) => this.row(item)));
    this.markSelected();
    document.getElementById("alert-empty").hidden = items.length > 0;
    this.more.hidden = !this.cursor;
    const live = items.filter((i) => this.pushedIds.has(i.alert.alert_id)).length;
    document.getElementById("alert-count").textContent = t("alerts.count",
      { total: this.total ?? items.length, shown: items.length, live });
  }

  row(item) {
    const a = item.alert;
    const open = () => { if (item.case_id) this.openCase(item.case_id); };
    const cell = (key, content, cls) => h("td", { class: cls || null, dataset: { label: t(key) } },
      h("span", { class: "v" }, content));
    return h("tr", {
      class: "row tier-row-" + a.to_tier + (this.pushedIds.has(a.alert_id) ? " pushed" : "") +
        (item.case_id ? " clickable" : ""),
      tabindex: item.case_id ? 0 : null,
      dataset: { alertId: a.alert_id, borrower: a.borrower_id, caseId: item.case_id || "" },
      onclick: open,
      onkeydown: (ev) => {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); }
        if (ev.key === "ArrowDown" && ev.currentTarget.nextElementSibling) ev.currentTarget.nextElementSibling.focus();
        if (ev.key === "ArrowUp" && ev.currentTarget.previousElementSibling) ev.currentTarget.previousElementSibling.focus();
      },
    },
    cell("col.time", [when(a.at), this.pushedIds.has(a.alert_id) ? h("span", { class: "new" }, t("alerts.new")) : null],
      "nowrap"),
    cell("col.borrower", h("strong", {}, a.borrower_id)),
    cell("col.tier", [badge("tier", a.to_tier), " ", h("span", { class: "muted from" }, "← " + label("tier", a.from_tier))]),
    cell("col.kind", label("alert_kind", a.kind)),
    cell("col.team", teamLabel(a.team)),
    cell("col.branch", label("branch", a.branch)),
    cell("col.case_status", item.case_status ? badge("case_status", item.case_status, "case-status")
      : h("span", { class: "muted" }, "—")));
  }

  async openCase(caseId) {
    await this.caseView.open(caseId);
    this.markSelected();
  }

  async export(form) {
    const query = { ...this.filters, lang: getLang() };
    try {
      const name = await download("/alerts/export." + form, query, "alerts." + form);
      this.ctx.notify(t("queue.exported", { name }), "ok");
    } catch (err) {
      this.ctx.fail(err);
    }
  }
}
