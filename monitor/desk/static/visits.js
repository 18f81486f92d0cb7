// The inspectors' view: a team's schedule with planned dates and late flags, the workload forecast,
// CSV and iCalendar downloads, and recording a visit.
import { api, download } from "./api.js";
import { visitTable } from "./case.js";
import { addDays, badge, day, h, label, localToIso, money, newRequestId, replace, t, when } from "./dom.js";

const VISIT_WRITE = ["inspector", "admin"];
const READ_CASES = ["risk_officer", "supervisor", "admin"];

export class VisitsView {
  constructor(ctx) {
    this.ctx = ctx;
    this.form = document.getElementById("schedule-form");
    this.rows = document.getElementById("schedule-rows");
    this.pane = document.getElementById("visit-pane");
    this.started = false;
    this.schedule = null;
    this.forecasts = null;
    this.selected = null; // borrower id
    this.borrower = null;
    this.requestId = newRequestId();
    this.form.addEventListener("submit", (ev) => { ev.preventDefault(); this.load(); });
    document.getElementById("sched-csv").addEventListener("click", () => this.download("csv"));
    document.getElementById("sched-ics").addEventListener("click", () => this.download("ics"));
  }

  async start() {
    if (this.started) return;
    this.started = true;
    const me = this.ctx.me;
    let teams = me.teams.slice();
    if (!teams.length && READ_CASES.includes(me.role)) {
      try {
        teams = (await api("GET", "/forecast", { query: { days: 30 } })).data.map((f) => f.team).filter(Boolean);
      } catch (err) { this.ctx.fail(err); }
    }
    replace(document.getElementById("team-list"), teams.map((team) => h("option", { value: team })));
    const input = document.getElementById("sched-team");
    if (!input.value && teams.length) input.value = teams[0];
    const end = document.getElementById("sched-end");
    if (!end.value) end.value = addDays(30);
    input.addEventListener("input", () => this.renderFeed());
    this.renderFeed();
    if (input.value) await this.load();
  }

  stop() {
    this.started = false;
    this.schedule = null;
    this.forecasts = null;
    this.selected = null;
    this.borrower = null;
    document.getElementById("sched-team").value = "";
    replace(this.rows);
    replace(document.getElementById("forecast"));
    this.renderFeed();
    replace(this.pane, h("p", { class: "placeholder" }, t("visit.pick")));
  }

  rerender() {
    this.renderFeed();
    if (this.schedule) this.renderSchedule();
    this.renderForecast();
    this.renderPane();
  }

  team() { return document.getElementById("sched-team").value.trim(); }

  query() {
    const end = document.getElementById("sched-end").value;
    return end ? { end } : {};
  }

  async load() {
    const team = this.team();
    if (!team) return;
    const path = "/teams/" + encodeURIComponent(team);
    try {
      const [schedule, f30, f90] = await Promise.all([api("GET", path + "/schedule", { query: this.query() }),
        api("GET", path + "/forecast", { query: { days: 30 } }), api("GET", path + "/forecast", { query: { days: 90 } })]);
      this.schedule = schedule.data;
      this.forecasts = [f30.data, f90.data];
    } catch (err) {
      this.schedule = null;
      this.forecasts = null;
      replace(this.rows);
      replace(document.getElementById("forecast"));
      this.ctx.fail(err);
      return;
    }
    this.renderSchedule();
    this.renderForecast();
  }

  async download(kind) {
    const team = this.team();
    if (!team) return;
    try {
      const name = await download("/teams/" + encodeURIComponent(team) + "/schedule." + kind, this.query(),
        "schedule-" + team + "." + kind);
      this.ctx.notify(t("sched.downloaded", { name }), "ok");
    } catch (err) {
      this.ctx.fail(err);
    }
  }

  // How to subscribe to the team's calendar feed: the address with a placeholder (the page never sees a feed key).
  renderFeed() {
    const box = document.getElementById("sched-feed");
    const team = this.team();
    const me = this.ctx.me;
    box.hidden = !team || !me;
    if (box.hidden) { replace(box); return; }
    const url = window.location.origin + "/api/v1/feeds/" + encodeURIComponent(team) + ".ics?key=FEED-KEY";
    replace(box, t("sched.feed"), " ", h("code", {}, url), " ",
      h("span", { class: "muted" }, t(me.feed_key ? "sched.feed_have" : "sched.feed_none")));
  }

  renderForecast() {
    const box = document.getElementById("forecast");
    if (!this.forecasts) { replace(box); return; }
    replace(box, this.forecasts.map((f) => h("div", { class: "forecast-card" + (f.shortfall > 0 ? " short" : "") },
      h("strong", {}, t("forecast.days", { n: Math.round((Date.parse(f.until) - Date.parse(f.start)) / 864e5) + 1 })),
      h("span", {}, t("forecast.demand", { demand: f.demand, capacity: f.capacity })),
      h("span", {}, t("forecast.late", { late: f.late })),
      f.short_from ? h("span", { class: "warn" }, t("forecast.short", { date: day(f.short_from), n: f.shortfall })) : null)));
  }

  renderSchedule() {
    const s = this.schedule;
    const canWrite = VISIT_WRITE.includes(this.ctx.me.role);
    document.getElementById("schedule-empty").hidden = s.items.length > 0;
    replace(this.rows, s.items.map((p) => h("tr", {
      class: "row clickable" + (p.late ? " late" : "") + (p.borrower_id === this.selected ? " selected" : ""),
      tabindex: 0, dataset: { borrower: p.borrower_id, status: p.status },
      onclick: () => this.select(p.borrower_id),
      onkeydown: (ev) => { if (ev.key === "Enter") this.select(p.borrower_id); },
    },
    h("td", {}, h("strong", {}, p.borrower_id)),
    h("td", {}, badge("tier", p.tier)),
    h("td", { class: "nowrap" }, day(p.next_visit_due)),
    h("td", { class: "nowrap" }, p.planned ? day(p.planned) : "—"),
    h("td", { class: p.days_overdue > 0 ? "num warn" : "num" }, p.days_overdue),
    h("td", {}, badge("plan", p.status, p.late ? "late-flag" : ""),
      p.days_late ? h("span", { class: "muted" }, " " + t("sched.days_late", { n: p.days_late })) : null),
    h("td", { class: "num" }, money(p.exposure)),
    h("td", { class: "reason" }, p.reason),
    h("td", {}, canWrite ? h("button", { type: "button", class: "small", dataset: { visit: p.borrower_id },
      onclick: (ev) => { ev.stopPropagation(); this.select(p.borrower_id); } }, t("visit.record")) : null))));
  }

  async select(bid) {
    this.selected = bid;
    this.borrower = null;
    this.requestId = newRequestId();
    if (this.schedule) this.renderSchedule();
    replace(this.pane, h("p", { class: "placeholder" }, t("common.loading")));
    await this.loadBorrower();
  }

  async loadBorrower() {
    const bid = this.selected;
    try {
      const page = (await api("GET", "/borrowers/" + encodeURIComponent(bid))).data;
      if (bid !== this.selected) return;
      this.borrower = page;
    } catch (err) {
      this.ctx.fail(err);
      return;
    }
    this.renderPane();
  }

  renderPane() {
    const page = this.borrower;
    if (!page) {
      if (!this.selected) replace(this.pane, h("p", { class: "placeholder" }, t("visit.pick")));
      return;
    }
    const detail = page.detail || {};
    const entry = page.schedule || {};
    const canWrite = VISIT_WRITE.includes(this.ctx.me.role);
    replace(this.pane,
      h("div", { class: "case-head" }, h("h2", {}, t("visit.borrower"), " ", h("span", { class: "mono" }, page.borrower_id)),
        h("span", { class: "head-badges" }, badge("tier", detail.tier || entry.tier))),
      h("dl", { class: "facts" },
        h("div", { class: "fact" }, h("dt", {}, t("borrower.as_of")),
          h("dd", { class: "as-of" }, when(detail.as_of))),
        h("div", { class: "fact" }, h("dt", {}, t("col.team")), h("dd", {}, entry.team || "—")),
        h("div", { class: "fact" }, h("dt", {}, t("case.next_due")), h("dd", { id: "next-due" }, h("strong", {}, day(entry.next_visit_due)))),
        h("div", { class: "fact" }, h("dt", {}, t("col.reason")), h("dd", { id: "due-reason" }, entry.reason || "—")),
        h("div", { class: "fact" }, h("dt", {}, t("borrower.last_visit")), h("dd", {}, detail.last_visit
          ? when(detail.last_visit.at) + " · " + label("outcome", detail.last_visit.outcome) : "—"))),
      canWrite ? this.visitForm(page.borrower_id) : null,
      h("section", { class: "part" }, h("h3", {}, t("case.visits")),
        page.visits.length ? visitTable(page.visits) : h("p", { class: "muted" }, t("common.none"))));
  }

  visitForm(bid) {
    const form = h("form", { class: "action-form", id: "visit-form", autocomplete: "off" },
      h("h3", {}, t("visit.record")),
      h("label", { for: "visit-inspector" }, t("col.inspector"),
        h("input", { id: "visit-inspector", name: "inspector", maxlength: 128, value: this.ctx.me.user })),
      h("label", { for: "visit-outcome" }, t("col.outcome"), h("select", { id: "visit-outcome", name: "outcome" },
        ["normal", "concern", "deteriorated"].map((v) => h("option", { value: v }, label("outcome", v))))),
      h("label", { for: "visit-at" }, t("visit.at"), h("input", { id: "visit-at", name: "visited_at", type: "datetime-local" })),
      h("label", { for: "visit-notes", class: "wide" }, t("col.notes"),
        h("textarea", { id: "visit-notes", name: "notes", rows: 3, maxlength: 4000 })),
      h("div", { class: "form-buttons" }, h("button", { type: "submit", class: "primary", id: "visit-submit" }, t("form.submit"))));
    form.addEventListener("submit", (ev) => { ev.preventDefault(); this.submit(bid, form); });
    return form;
  }

  async submit(bid, form) {
    const body = { outcome: form.elements.outcome.value };
    const inspector = form.elements.inspector.value.trim();
    if (inspector) body.inspector = inspector;
    const notes = form.elements.notes.value.trim();
    if (notes) body.notes = notes;
    const at = localToIso(form.elements.visited_at.value);
    if (at) body.visited_at = at;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const { status, data } = await api("POST", "/borrowers/" + encodeURIComponent(bid) + "/visits",
        { body, requestId: this.requestId });
      this.requestId = newRequestId();
      this.ctx.notify(status === 202 ? t("done.accepted", { what: t("visit.record") })
        : t("visit.done", { event: data.event_id }), status === 202 ? "info" : "ok");
    } catch (err) {
      button.disabled = false;
      this.ctx.fail(err);
      return;
    }
    await Promise.all([this.loadBorrower(), this.load()]);
  }
}
