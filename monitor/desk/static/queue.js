// The officers' case queue: quick filters with counts, search, filters, saved filters, sort by any column,
// pages with the server's total, bulk acknowledge / assign, exports, and the case view beside (or over, on a
// phone) the list. The current query is kept in the address (#queue?...), so a reload keeps it.
import { api, download } from "./api.js";
import { CaseView } from "./case.js";
import { badge, day, days, errorText, getLang, h, label, newRequestId, noteText, replace, t, teamLabel, wan }
  from "./dom.js";

const ACT = ["risk_officer", "admin"];
const SAVED_KEY = "monitor.desk.saved-filters";
const FILTERS = ["q", "status", "tier", "team", "branch", "assignee"];
const TOGGLES = ["mine", "unassigned", "past_deadline", "visit_overdue"];
const DEFAULT = { status: "active", sort: "deadline", order: "asc" };
const PAGE = 50;
// the columns: sort key, header, and how a row shows it
const COLUMNS = [
  { sort: "borrower", key: "col.borrower" }, { sort: "tier", key: "col.tier" }, { sort: "status", key: "col.status" },
  { sort: "opened", key: "col.age" }, { sort: "deadline", key: "col.deadline" },
  { sort: "assignee", key: "col.assignee" }, { sort: "due", key: "col.due" },
  { sort: "exposure", key: "col.exposure_wan", num: true }, { sort: "team", key: "col.team" },
];
const CHIPS = [
  ["active", {}], ["mine", { mine: "true" }], ["unassigned", { unassigned: "true" }],
  ["past_deadline", { past_deadline: "true" }], ["visit_overdue", { visit_overdue: "true" }],
  ["open", { status: "open" }],
];

function savedFilters() {
  try { return JSON.parse(window.localStorage.getItem(SAVED_KEY) || "{}") || {}; } catch (e) { return {}; }
}

function keepSaved(all) {
  try { window.localStorage.setItem(SAVED_KEY, JSON.stringify(all)); } catch (e) { /* not kept */ }
}

export function deadlineText(item) {
  if (!item.deadline) return t("deadline.none");
  if (item.responded) return t("deadline.responded");
  if (item.days_past_deadline) return t("deadline.past", { n: item.days_past_deadline });
  const left = Math.round((Date.parse(item.deadline) - Date.parse(item.today || item.deadline)) / 86400000);
  return left <= 0 ? t("deadline.today") : t("deadline.left", { n: left });
}

export class QueueView {
  constructor(ctx) {
    this.ctx = ctx;
    this.form = document.getElementById("queue-filters");
    this.rows = document.getElementById("queue-rows");
    this.query = { ...DEFAULT };
    this.offset = 0;
    this.page = null;
    this.selected = new Set();
    this.started = false;
    this.generation = 0;
    this.caseView = new CaseView(ctx, document.getElementById("case"), () => this.reload(false));
    // every filter in sight on a wide screen; folded under the search on a phone
    document.getElementById("more-filters").open = window.matchMedia("(min-width: 761px)").matches;
    this.form.addEventListener("submit", (ev) => { ev.preventDefault(); this.apply(this.readForm()); });
    this.form.addEventListener("reset", (ev) => { ev.preventDefault(); this.apply({ ...DEFAULT }); });
    document.getElementById("queue-prev").addEventListener("click", () => this.go(-1));
    document.getElementById("queue-next").addEventListener("click", () => this.go(1));
    document.getElementById("queue-csv").addEventListener("click", () => this.export("csv"));
    document.getElementById("queue-xlsx").addEventListener("click", () => this.export("xlsx"));
    document.getElementById("save-filter").addEventListener("click", () => this.save());
    document.getElementById("delete-filter").addEventListener("click", () => this.forget());
    document.getElementById("saved-filters").addEventListener("change", (ev) => {
      const chosen = savedFilters()[ev.target.value];
      if (chosen) this.apply({ ...chosen }, ev.target.value);
    });
    document.getElementById("bulk-acknowledge").addEventListener("click", () => this.bulk("acknowledge"));
    document.getElementById("bulk-assign").addEventListener("click", () => this.bulk("assign"));
    document.getElementById("bulk-clear").addEventListener("click", () => { this.selected.clear(); this.render(); });
    document.getElementById("bulk-bar").addEventListener("submit", (ev) => ev.preventDefault());
  }

  start() {
    if (this.started) return;
    this.started = true;
    const hash = window.location.hash;
    if (hash.startsWith("#queue?")) {
      const params = Object.fromEntries(new URLSearchParams(hash.slice(7)));
      this.offset = Number(params.offset || 0) || 0;
      delete params.offset;
      this.query = { ...DEFAULT, ...params };
    }
    this.fillForm();
    this.renderSaved();
    this.reload(true);
  }

  stop() {
    this.started = false;
    this.page = null;
    this.selected.clear();
    this.caseView.reset();
    replace(this.rows);
  }

  rerender() {
    this.renderSaved();
    if (this.page) this.render();
    this.caseView.rerender();
  }

  readForm() {
    const out = {};
    for (const name of [...FILTERS, "sort", "order"]) {
      const v = (this.form.elements[name].value || "").trim();
      if (v) out[name] = v;
    }
    for (const name of TOGGLES) if (this.query[name]) out[name] = this.query[name];
    return out;
  }

  fillForm() {
    for (const name of [...FILTERS, "sort", "order"]) {
      this.form.elements[name].value = this.query[name] || (name === "status" ? "active" : "");
    }
  }

  // Show the page of ``query``; ``saved``: the saved filter it comes from (the saved-filter list shows it).
  apply(query, saved) {
    document.getElementById("saved-filters").value = saved || "";
    this.query = { ...DEFAULT, ...query };
    this.offset = 0;
    this.selected.clear();
    this.fillForm();
    this.reload(true);
  }

  go(step) {
    if (!this.page) return;
    const next = this.offset + step * PAGE;
    if (next < 0 || next >= this.page.total) return;
    this.offset = next;
    this.reload(true);
  }

  params() {
    const out = {};
    for (const [k, v] of Object.entries(this.query)) if (v !== "" && v !== undefined && v !== null) out[k] = v;
    return out;
  }

  async reload(keepHash) {
    const generation = ++this.generation;
    const query = { ...this.params(), offset: this.offset, limit: PAGE };
    if (keepHash) {
      const shown = new URLSearchParams({ ...this.params(), ...(this.offset ? { offset: this.offset } : {}) });
      window.history.replaceState(null, "", "#queue?" + shown.toString());
    }
    try {
      const { data } = await api("GET", "/queue", { query });
      if (generation !== this.generation) return;
      this.page = data;
      this.render();
    } catch (err) {
      if (generation === this.generation) this.ctx.fail(err);
    }
  }

  render() {
    const page = this.page;
    if (!page) return;
    this.renderChips(page.counts);
    this.renderHead();
    replace(this.rows, page.items.map((item) => this.row({ ...item, today: page.today })));
    document.getElementById("queue-empty").hidden = page.items.length > 0;
    const pages = Math.max(1, Math.ceil(page.total / PAGE));
    const current = Math.floor(page.offset / PAGE) + 1;
    document.getElementById("queue-count").textContent = t("queue.count", { total: page.total, page: current, pages });
    document.getElementById("queue-page").textContent = current + " / " + pages;
    document.getElementById("queue-prev").disabled = page.offset <= 0;
    document.getElementById("queue-next").disabled = page.offset + PAGE >= page.total;
    this.renderBulk();
    this.markSelected();
  }

  renderChips(counts) {
    const chips = document.getElementById("queue-chips");
    replace(chips, CHIPS.map(([name, extra]) => {
      const on = Object.entries({ status: "active", ...extra }).every(([k, v]) => this.query[k] === v) &&
        TOGGLES.every((k) => (extra[k] || undefined) === (this.query[k] || undefined)) &&
        !FILTERS.some((k) => k !== "status" && this.query[k]);
      return h("button", { type: "button", class: "chip" + (on ? " active" : ""), "aria-pressed": String(on),
        id: "chip-" + name, onclick: () => this.apply({ ...extra, sort: this.query.sort, order: this.query.order }) },
      t("chip." + name), " ", h("span", { class: "count" }, String(counts[name] ?? 0)));
    }));
  }

  renderHead() {
    const head = document.getElementById("queue-head");
    const canAct = ACT.includes(this.ctx.me.role);
    const cells = [];
    if (canAct) {
      const ids = this.page.items.map((i) => i.case_id);
      const all = ids.length > 0 && ids.every((id) => this.selected.has(id));
      cells.push(h("th", { scope: "col", class: "check" }, h("input", { type: "checkbox", id: "queue-all",
        "aria-label": t("queue.select_all"), checked: all,
        onchange: (ev) => { for (const id of ids) ev.target.checked ? this.selected.add(id) : this.selected.delete(id);
          this.render(); } })));
    }
    for (const col of COLUMNS) {
      const active = this.query.sort === col.sort;
      const order = active ? (this.query.order === "desc" ? "descending" : "ascending") : "none";
      cells.push(h("th", { scope: "col", "aria-sort": order, class: col.num ? "num" : null },
        h("button", { type: "button", class: "sort", dataset: { sort: col.sort },
          onclick: () => this.sortBy(col.sort) }, t(col.key),
        h("span", { class: "arrow", "aria-hidden": "true" }, active ? (order === "descending" ? " ▼" : " ▲") : ""))));
    }
    replace(head, cells);
  }

  sortBy(sort) {
    const order = this.query.sort === sort && this.query.order === "asc" ? "desc" : "asc";
    this.apply({ ...this.query, sort, order });
  }

  row(item) {
    const canAct = ACT.includes(this.ctx.me.role);
    const open = () => this.openCase(item.case_id);
    const deadline = deadlineText(item);
    const cells = [];
    if (canAct) {
      cells.push(h("td", { class: "check", dataset: { label: t("col.select") }, onclick: (ev) => ev.stopPropagation() },
        h("span", { class: "v" }, h("input", { type: "checkbox", checked: this.selected.has(item.case_id),
          "aria-label": t("queue.select", { bid: item.borrower_id }),
          onchange: (ev) => { ev.target.checked ? this.selected.add(item.case_id) : this.selected.delete(item.case_id);
            this.renderBulk(); } }))));
    }
    const cell = (key, content, cls) => h("td", { class: cls || null, dataset: { label: t(key) } },
      h("span", { class: "v" }, content));
    cells.push(
      cell("col.borrower", [h("strong", { class: "bid" }, item.borrower_id),
        item.name ? h("span", { class: "name" }, item.name) : null], "borrower"),
      cell("col.tier", badge("tier", item.tier), "nowrap"),
      cell("col.status", badge("case_status", item.status, "case-status"), "nowrap"),
      cell("col.age", days(item.age_days), "nowrap"),
      cell("col.deadline", [day(item.deadline), " ", h("span", { class: "state " + (item.days_past_deadline
        ? "late" : item.responded ? "done" : "") }, deadline)]),
      cell("col.assignee", item.assignee || h("span", { class: "muted" }, t("assignee.none")), "nowrap"),
      cell("col.due", [day(item.next_visit_due), item.visit_days_overdue ? [" ", h("span", { class: "state late" },
        t("due.overdue", { n: item.visit_days_overdue }))] : null]),
      cell("col.exposure_wan", wan(item.exposure), "num nowrap"),
      cell("col.team", [teamLabel(item.team), item.branch && !teamLabel(item.team).startsWith(label("branch",
        item.branch)) ? h("span", { class: "name" }, label("branch", item.branch)) : null], "team"));
    return h("tr", {
      class: "row clickable" + (item.days_past_deadline ? " past-deadline" : ""), tabindex: 0,
      dataset: { caseId: item.case_id, borrower: item.borrower_id },
      onclick: open,
      onkeydown: (ev) => this.rowKey(ev, open),
    }, cells);
  }

  rowKey(ev, open) {
    if (ev.target !== ev.currentTarget) return;
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); return; }
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      const next = ev.key === "ArrowDown" ? ev.currentTarget.nextElementSibling : ev.currentTarget.previousElementSibling;
      if (next) next.focus();
    }
  }

  markSelected() {
    for (const tr of this.rows.children) {
      tr.classList.toggle("selected", tr.dataset.caseId === this.caseView.caseId);
      if (tr.dataset.caseId === this.caseView.caseId) tr.setAttribute("aria-current", "true");
      else tr.removeAttribute("aria-current");
    }
  }

  async openCase(caseId) {
    await this.caseView.open(caseId);
    this.markSelected();
  }

  renderBulk() {
    const bar = document.getElementById("bulk-bar");
    bar.hidden = !ACT.includes(this.ctx.me.role) || this.selected.size === 0;
    document.getElementById("bulk-count").textContent = t("bulk.selected", { n: this.selected.size });
    const all = document.getElementById("queue-all");
    if (all && this.page) all.checked = this.page.items.length > 0 && this.page.items.every((i) =>
      this.selected.has(i.case_id));
  }

  async bulk(action) {
    const reason = document.getElementById("bulk-reason").value.trim();
    const assignee = document.getElementById("bulk-assignee").value.trim();
    if (!reason) { this.ctx.notify(t("bulk.need_reason"), "error"); document.getElementById("bulk-reason").focus(); return; }
    if (action === "assign" && !assignee) {
      this.ctx.notify(t("bulk.need_assignee"), "error");
      document.getElementById("bulk-assignee").focus();
      return;
    }
    const body = { action, case_ids: Array.from(this.selected), reason };
    if (action === "assign") body.assignee = assignee;
    try {
      const { data } = await api("POST", "/cases/bulk", { body, requestId: newRequestId() });
      const byCase = new Map(this.page.items.map((i) => [i.case_id, i.borrower_id]));
      const refused = data.items.filter((i) => i.status === "refused" || i.status === "not_found").map((i) =>
        t("bulk.refused_item", { bid: byCase.get(i.case_id) || i.case_id, why: noteText(i.note) }));
      this.ctx.notify(t("bulk.done", { action: label("audit_action", action), applied: data.applied,
        refused: data.refused }) + (refused.length ? " " + refused.join("；") : ""), data.refused ? "info" : "ok");
      this.selected.clear();
      document.getElementById("bulk-reason").value = "";
      await this.reload(false);
    } catch (err) {
      this.ctx.notify(errorText(err), "error");
    }
  }

  async export(form) {
    try {
      const name = await download("/queue/export." + form, { ...this.params(), lang: getLang() }, "cases." + form);
      this.ctx.notify(t("queue.exported", { name }), "ok");
    } catch (err) {
      this.ctx.fail(err);
    }
  }

  renderSaved() {
    const select = document.getElementById("saved-filters");
    const names = Object.keys(savedFilters()).sort();
    replace(select, h("option", { value: "" }, t("saved.none")), names.map((n) => h("option", { value: n }, n)));
  }

  save() {
    const input = document.getElementById("saved-name");
    const name = input.value.trim().slice(0, 60);
    if (!name) { this.ctx.notify(t("saved.name_prompt"), "error"); input.focus(); return; }
    input.value = "";
    const all = savedFilters();
    all[name] = this.params();
    keepSaved(all);
    this.renderSaved();
    document.getElementById("saved-filters").value = name;
    this.ctx.notify(t("saved.saved", { name }), "ok");
  }

  forget() {
    const select = document.getElementById("saved-filters");
    const name = select.value;
    if (!name) return;
    const all = savedFilters();
    delete all[name];
    keepSaved(all);
    this.renderSaved();
    this.ctx.notify(t("saved.deleted", { name }), "ok");
  }
}
