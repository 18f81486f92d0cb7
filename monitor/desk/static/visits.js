// The inspectors' view: today's and overdue visits first (cards that fit a phone, each with its reason and a
// button to record the visit), then the team's whole schedule with planned dates and late flags, the workload
// forecast, CSV and iCalendar downloads; the borrower and the visit form beside the list (over it on a phone).
import { api, download } from "./api.js";
import { dueOf, evidenceList, fact, section, visitTable } from "./case.js";
import {
  badge, day, days, errorText, getLang, h, label, localToIso, money, newRequestId, replace, t, teamLabel,
  wan, whenZoned,
} from "./dom.js";

const VISIT_WRITE = ["inspector", "admin"];
const READ_CASES = ["risk_officer", "supervisor", "admin"];

function reasonOf(p) {
  const text = p.reason_text || p.schedule_reason;
  return text ? (text[getLang()] || text.zh) : label("visit_reason", p.reason);
}

export class VisitsView {
  constructor(ctx) {
    this.ctx = ctx;
    this.form = document.getElementById("schedule-form");
    this.rows = document.getElementById("schedule-rows");
    this.pane = document.getElementById("visit-pane");
    this.layout = document.getElementById("visits-layout");
    this.started = false;
    this.schedule = null;
    this.forecasts = null;
    this.selected = null; // borrower id
    this.borrower = null;
    this.requestId = newRequestId();
    this.form.addEventListener("submit", (ev) => { ev.preventDefault(); this.load(); });
    document.getElementById("sched-csv").addEventListener("click", () => this.download("csv"));
    document.getElementById("sched-ics").addEventListener("click", () => this.download("ics"));
    document.getElementById("sched-team").addEventListener("change", () => { this.renderFeed(); this.load(); });
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
    this.teams = teams;
    replace(document.getElementById("team-list"), teams.map((team) => h("option", { value: team },
      teamLabel(team))));
    const input = document.getElementById("sched-team");
    replace(input, teams.map((team) => h("option", { value: team }, teamLabel(team))));
    if (teams.length) input.value = teams[0];
    this.renderFeed();
    if (input.value) await this.load();
  }

  stop() {
    this.started = false;
    this.schedule = null;
    this.forecasts = null;
    this.selected = null;
    this.borrower = null;
    replace(document.getElementById("sched-team"));
    replace(this.rows);
    replace(document.getElementById("today-list"));
    replace(document.getElementById("forecast"));
    this.renderFeed();
    replace(this.pane, h("p", { class: "placeholder" }, t("visit.pick")));
  }

  rerender() {
    const input = document.getElementById("sched-team");
    for (const option of input.options) option.textContent = teamLabel(option.value);
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
      // the server's default end (its today, in the policy's time zone, + 30 days), not the browser's date:
      // a browser in another zone around midnight would cut the day's last due visits off
      const end = document.getElementById("sched-end");
      if (!end.value) end.value = schedule.data.end;
      this.forecasts = [f30.data, f90.data];
    } catch (err) {
      this.schedule = null;  // never leave another team's visits on screen
      this.forecasts = null;
      this.selected = null;
      this.borrower = null;
      replace(this.rows);
      replace(document.getElementById("today-list"));
      document.getElementById("today-empty").hidden = true;
      document.getElementById("schedule-empty").hidden = true;
      replace(document.getElementById("forecast"));
      this.renderPane();
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

  // Today's visits: due or planned today, and every overdue one (most overdue first, as the planner orders them).
  todays() {
    const today = this.schedule.today;
    return this.schedule.items.filter((p) => p.days_overdue > 0 || p.next_visit_due === today || p.planned === today)
      .sort((a, b) => b.days_overdue - a.days_overdue || (a.planned || "9").localeCompare(b.planned || "9"));
  }

  renderSchedule() {
    const s = this.schedule;
    const canWrite = VISIT_WRITE.includes(this.ctx.me.role);
    const today = this.todays();
    document.getElementById("today-empty").hidden = today.length > 0;
    replace(document.getElementById("today-list"), today.map((p) => h("li", {
      class: "visit-card" + (p.days_overdue > 0 ? " overdue" : "") + (p.borrower_id === this.selected ? " selected" : ""),
      dataset: { borrower: p.borrower_id } },
    h("div", { class: "card-head" }, h("strong", { class: "bid" }, p.borrower_id), p.name ? h("span", { class: "name" },
      p.name) : null, badge("tier", p.tier)),
    h("p", { class: "card-due" }, dueOf(p.next_visit_due, p.days_overdue)),
    h("p", { class: "reason" }, reasonOf(p)),
    h("div", { class: "card-buttons" },
      h("button", { type: "button", class: canWrite ? "primary" : "quiet", dataset: { visit: p.borrower_id },
        onclick: () => this.select(p.borrower_id) }, canWrite ? t("visit.record") : t("visit.view"))))));
    document.getElementById("schedule-empty").hidden = s.items.length > 0;
    replace(document.getElementById("schedule-head"), [t("col.borrower"), t("col.tier"), t("col.due"),
      t("col.planned"), t("col.plan_status"), t("col.exposure_wan"), t("col.reason")].map((text) =>
      h("th", { scope: "col" }, text)));
    const cell = (key, content, cls) => h("td", { class: cls || null, dataset: { label: t(key) } },
      h("span", { class: "v" }, content));
    replace(this.rows, s.items.map((p) => h("tr", {
      class: "row clickable" + (p.late ? " late" : "") + (p.borrower_id === this.selected ? " selected" : ""),
      tabindex: 0, dataset: { borrower: p.borrower_id, status: p.status },
      onclick: () => this.select(p.borrower_id),
      onkeydown: (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); this.select(p.borrower_id); } },
    },
    cell("col.borrower", [h("strong", {}, p.borrower_id), p.name ? h("span", { class: "name" }, p.name) : null],
      "borrower"),
    cell("col.tier", badge("tier", p.tier)),
    cell("col.due", dueOf(p.next_visit_due, p.days_overdue)),
    cell("col.planned", p.planned ? [day(p.planned), p.late ? [" ", h("span", { class: "state late" },
      t("sched.days_late", { n: p.days_late }))] : null] : "—"),
    cell("col.plan_status", badge("plan_status", p.status)),
    cell("col.exposure_wan", wan(p.exposure), "num"),
    cell("col.reason", reasonOf(p), "reason"))));
  }

  async select(bid) {
    this.selected = bid;
    this.borrower = null;
    this.requestId = newRequestId();
    this.layout.classList.add("detail-open");
    if (this.schedule) this.renderSchedule();
    replace(this.pane, h("p", { class: "placeholder" }, t("common.loading")));
    await this.loadBorrower();
    this.pane.focus();
  }

  back() {
    this.layout.classList.remove("detail-open");
    const card = document.querySelector(`#today-list [data-borrower="${CSS.escape(this.selected || "")}"] button`);
    if (card) card.focus();
  }

  async loadBorrower() {
    const bid = this.selected;
    try {
      const page = (await api("GET", "/borrowers/" + encodeURIComponent(bid))).data;
      if (bid !== this.selected) return;
      this.borrower = page;
    } catch (err) {
      this.borrower = null;
      replace(this.pane, this.backButton(), h("p", { class: "placeholder" }, t("visit.pick")));
      this.ctx.fail(err);
      return;
    }
    this.renderPane();
  }

  backButton() {
    return h("button", { type: "button", class: "back quiet", onclick: () => this.back() }, "← " + t("case.back"));
  }

  renderPane() {
    const page = this.borrower;
    if (!page) {
      if (!this.selected) replace(this.pane, h("p", { class: "placeholder" }, t("visit.pick")));
      return;
    }
    const detail = page.detail || {};
    const entry = page.schedule || {};
    const p = detail.profile || {};
    const item = this.schedule ? this.schedule.items.find((x) => x.borrower_id === page.borrower_id) : null;
    const canWrite = VISIT_WRITE.includes(this.ctx.me.role);
    replace(this.pane,
      this.backButton(),
      h("div", { class: "case-head" }, h("h2", {}, t("visit.borrower"), " ", h("span", { class: "mono" },
        page.borrower_id), page.name ? " " + page.name : ""),
      h("span", { class: "head-badges" }, badge("tier", detail.tier || entry.tier))),
      h("dl", { class: "facts" },
        fact("borrower.as_of", h("span", { class: "as-of" }, whenZoned(detail.as_of))),
        fact("col.team", teamLabel(entry.team)),
        fact("case.next_due", dueOf(entry.next_visit_due, item ? item.days_overdue : 0), "next-due"),
        fact("visit.reason", reasonOf(page), "due-reason"),
        fact("borrower.exposure", money(p.exposure)),
        fact("borrower.highest_dpd", detail.highest_dpd !== undefined ? days(detail.highest_dpd) : "—"),
        fact("borrower.last_visit", detail.last_visit ? whenZoned(detail.last_visit.at) + " · " +
          label("inspection_outcome", detail.last_visit.outcome) : "—")),
      canWrite ? this.visitForm(page.borrower_id) : null,
      section("case.signals", evidenceList(page.evidence)),
      section("case.visits", page.visits.length ? visitTable(page.visits) : h("p", { class: "muted" },
        t("common.none"))));
  }

  visitForm(bid) {
    const form = h("form", { class: "action-form", id: "visit-form", autocomplete: "off" },
      h("h3", {}, t("visit.record")),
      h("label", { for: "visit-outcome" }, t("col.outcome"), h("select", { id: "visit-outcome", name: "outcome" },
        ["normal", "concern", "deteriorated"].map((v) => h("option", { value: v }, label("inspection_outcome", v))))),
      h("label", { for: "visit-inspector" }, t("col.inspector"),
        h("input", { id: "visit-inspector", name: "inspector", maxlength: 128, value: this.ctx.me.user })),
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
      const { status } = await api("POST", "/borrowers/" + encodeURIComponent(bid) + "/visits",
        { body, requestId: this.requestId });
      this.requestId = newRequestId();
      this.ctx.notify(status === 202 ? t("done.accepted", { what: t("visit.record") }) : t("visit.done"),
        status === 202 ? "info" : "ok");
    } catch (err) {
      button.disabled = false;
      this.ctx.notify(errorText(err), "error");
      return;
    }
    await Promise.all([this.loadBorrower(), this.load()]);
  }
}
