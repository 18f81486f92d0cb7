// The case view: summary with the response deadline and the next visit, actions (each with its required
// reason), the signals' evidence as sentences, the borrower, alerts, notes, visits and the audit trail.
import { api, download } from "./api.js";
import {
  addDays, badge, day, days, endOfDayIso, errorText, getLang, h, label, money, newRequestId, noteText, paren, replace,
  t, table, teamLabel, when, whenZoned, zoned,
} from "./dom.js";

const ACT = ["risk_officer", "admin"];
const APPROVE = ["supervisor", "admin"];
const AUDITORS = ["risk_officer", "supervisor", "admin"];
const ANY = ["open", "acknowledged", "release_requested", "released"];

// The actions a case offers: who may take them, in which statuses, and the fields they ask for.
const ACTIONS = [
  { name: "acknowledge", path: "acknowledge", roles: ACT, statuses: ["open"], fields: [] },
  { name: "assign", path: "assign", roles: ACT, statuses: ["open", "acknowledged", "release_requested"],
    fields: ["assignee"] },
  { name: "note", path: "notes", roles: ACT, statuses: ANY, fields: ["kind", "text"] },
  { name: "request_release", path: "release-request", roles: ACT, statuses: ["acknowledged"], fields: [] },
  { name: "approve_release", path: "release-approval", roles: APPROVE, statuses: ["release_requested"], fields: [] },
  { name: "reject_release", path: "release-rejection", roles: [...ACT, "supervisor"], statuses: ["release_requested"],
    fields: [] },
  { name: "set_floor", override: "set", roles: ACT, statuses: ANY, fields: ["tier", "until"] },
  { name: "clear_floor", override: "clear", roles: ACT, statuses: ANY, fields: [] },
];

function field(name, ctx) {
  const id = "act-" + name;
  if (name === "assignee") {
    return h("label", { for: id }, t("form.assignee"),
      h("input", { id, name, maxlength: 128, value: ctx.me.user, autocomplete: "off" }));
  }
  if (name === "kind") {
    return h("label", { for: id }, t("form.note_kind"), h("select", { id, name },
      h("option", { value: "note" }, label("note_kind", "note")),
      h("option", { value: "action_plan" }, label("note_kind", "action_plan"))));
  }
  if (name === "text") {
    return h("label", { for: id, class: "wide" }, t("form.note_text"),
      h("textarea", { id, name, rows: 3, maxlength: 4000 }));
  }
  if (name === "tier") {
    return h("label", { for: id }, t("form.floor_tier"), h("select", { id, name },
      ["warning", "watch", "severe"].map((v) => h("option", { value: v }, label("tier", v)))));
  }
  return h("label", { for: id }, t("form.until"), h("input", { id, name, type: "date", value: addDays(30) }));
}

export function fact(key, value, id) {
  return h("div", { class: "fact" }, h("dt", {}, t(key)), h("dd", { id: id || null }, value));
}

export function section(key, body, extra) {
  return h("section", { class: "part", dataset: { part: key } }, h("h3", {}, t(key), extra || null), body);
}

function empty() { return h("p", { class: "muted" }, t("common.none")); }

function deadlineOf(d) {
  if (!d.deadline) return "—";
  if (d.responded) return [day(d.deadline), " ", h("span", { class: "state done" }, t("deadline.responded"))];
  if (d.days_past_deadline) {
    return [day(d.deadline), " ", h("span", { class: "state late" }, t("deadline.past", { n: d.days_past_deadline }))];
  }
  return day(d.deadline);
}

export function dueOf(due, overdue) {
  if (!due) return "—";
  return [h("strong", {}, day(due)), overdue ? [" ", h("span", { class: "state late" },
    t("due.overdue", { n: overdue }))] : null];
}

// The signals' evidence: the rule's title, the level, a sentence with units, since when; event ids on demand.
export function evidenceList(evidence) {
  if (!evidence || !evidence.length) return empty();
  const lang = getLang();
  return h("ul", { class: "evidence" }, evidence.map((e) => h("li", { class: "signal", dataset: { rule: e.rule } },
    h("div", { class: "signal-head" }, badge("tier", e.level), " ", h("strong", {}, label("rule", e.rule)),
      h("span", { class: "muted" }, " · " + label("family", e.family) + " · " + t("col.since") + " " + whenZoned(e.since))),
    h("p", { class: "sentence" }, e.text[lang] || e.text.zh),
    h("details", { class: "ids" }, h("summary", {}, t("case.event_ids")),
      h("span", {}, (e.event_ids || []).map((x) => h("code", {}, x)))))));
}

export function visitTable(visits) {
  return table([zoned("col.visited_at"), t("col.inspector"), t("col.outcome"), t("col.notes"), t("col.user")],
    visits.slice().reverse().map((v) => h("tr", { class: "visit", dataset: { eventId: v.event_id } },
      [when(v.visited_at), v.inspector, badge("inspection_outcome", v.outcome), v.notes || "—", v.recorded_by]
        .map((c) => h("td", {}, h("span", { class: "v" }, c))))), "visits");
}

// The case beside its list (one pane at a time below 1100 px: opening it hides the list, "back" shows it again
// with the case's row focused).
export class CaseView {
  constructor(ctx, root, onChange) {
    this.ctx = ctx;
    this.root = root;
    this.layout = root.closest(".layout");
    this.onChange = onChange;
    this.caseId = null;
    this.detail = null;
    this.borrower = null;
    this.audit = null;
    this.form = null; // {action, requestId}
  }

  reset() {
    this.caseId = null;
    this.detail = null;
    replace(this.root, h("p", { class: "placeholder" }, t("case.pick")));
  }

  async open(caseId) {
    this.layout.classList.add("detail-open");
    this.caseId = caseId;
    this.detail = null;
    this.form = null;
    replace(this.root, h("p", { class: "placeholder" }, t("common.loading")));
    await this.refresh();
    this.root.focus();
  }

  async refresh() {
    const id = this.caseId;
    if (!id) return;
    let detail;
    try {
      detail = (await api("GET", "/cases/" + encodeURIComponent(id))).data;
    } catch (err) {
      if (id === this.caseId) {
        this.ctx.fail(err);
        this.detail = null;  // never leave another case (or another team's borrower) on screen
        replace(this.root, this.backButton(), h("p", { class: "placeholder" }, t("case.unavailable")));
      }
      return;
    }
    if (id !== this.caseId) return;
    await this.show(detail);
  }

  async show(detail) {
    this.detail = detail;
    const bid = encodeURIComponent(detail.borrower_id);
    const auditor = AUDITORS.includes(this.ctx.me.role);
    const [borrower, audit] = await Promise.allSettled([api("GET", "/borrowers/" + bid),
      auditor ? api("GET", "/borrowers/" + bid + "/audit") : Promise.resolve({ data: null })]);
    if (this.detail !== detail) return;
    this.borrower = borrower.status === "fulfilled" ? borrower.value.data : { error: borrower.reason };
    this.audit = audit.status === "fulfilled" ? audit.value.data : { error: audit.reason };
    this.render();
  }

  rerender() { if (this.detail) this.render(); }

  back() {
    this.layout.classList.remove("detail-open");
    const row = Array.from(this.layout.querySelectorAll("tr[data-case-id]")).find((tr) =>
      tr.dataset.caseId === this.caseId);
    if (row) row.focus();
  }

  backButton() {
    return h("button", { type: "button", class: "back quiet", onclick: () => this.back() }, "← " + t("case.back"));
  }

  render() {
    const d = this.detail;
    const q = d.queue || {};
    const alerts = d.alerts || [];
    const name = d.name || q.name;
    replace(this.root,
      this.backButton(),
      h("div", { class: "case-head", id: "case-head", dataset: { caseId: d.case_id, status: d.status } },
        h("h2", {}, t("case.title"), " ", h("span", { class: "mono" }, d.borrower_id), name ? " " + name : ""),
        h("span", { class: "head-badges" }, badge("tier", d.tier), badge("case_status", d.status, "case-status"))),
      h("dl", { class: "facts" },
        fact("col.team", teamLabel(d.team)), fact("col.branch", label("branch", d.branch)),
        fact("case.assignee", d.assignee || t("assignee.none")),
        fact("case.opened", whenZoned(d.opened_at)), fact("case.age", q.age_days !== undefined ? days(q.age_days) : "—"),
        fact("case.deadline", deadlineOf(q), "case-deadline"),
        fact("case.next_due", dueOf(d.next_visit_due, q.visit_days_overdue), "case-next-due"),
        fact("case.last_alert", whenZoned(d.last_alert_at)), fact("case.alert_count", String(d.alert_count)),
        fact("case.acknowledged_by", d.acknowledged_by || "—"),
        fact("case.release_requested_by", d.release_requested_by || "—"),
        fact("case.released_by", d.released_by || "—")),
      this.actionBar(d),
      this.form ? this.actionForm(d) : null,
      section("case.signals", evidenceList(d.evidence)),
      section("case.borrower", this.borrowerPart()),
      section("case.alerts", table([zoned("col.time"), t("col.kind"), t("col.tier"), t("col.computed"), t("col.rules"),
        t("col.policy")], alerts.slice().reverse().map((a) => [when(a.at), label("alert_kind", a.kind),
        h("span", { class: "nowrap" }, label("tier", a.from_tier), " → ", badge("tier", a.to_tier)),
        label("tier", a.computed_tier), a.signals.map((s) => label("rule", s.rule)).join("、") || "—",
        h("code", {}, a.policy_version)]), "alerts")),
      section("case.notes", (d.notes || []).length ? table([zoned("col.time"), t("col.user"), t("col.note_kind"),
        t("col.text")], d.notes.map((n) => [when(n.at), n.user, label("note_kind", n.kind),
        h("span", { class: "pre" }, n.text)]), "notes") : empty()),
      section("case.visits", (d.visits || []).length ? visitTable(d.visits) : empty()),
      AUDITORS.includes(this.ctx.me.role) ? section("case.audit", this.auditPart(d), this.auditExports(d)) : null);
  }

  actionBar(d) {
    const role = this.ctx.me.role;
    const buttons = ACTIONS.filter((a) => a.roles.includes(role)).map((a) => h("button", {
      type: "button", class: "action" + (this.form && this.form.action.name === a.name ? " active" : ""),
      id: "action-" + a.name, disabled: !a.statuses.includes(d.status),
      onclick: () => { this.form = { action: a, requestId: newRequestId() }; this.render();
        const first = this.root.querySelector("#action-form input, #action-form select, #action-form textarea");
        if (first) first.focus(); },
    }, t("action." + a.name)));
    if (!buttons.length) return h("p", { class: "muted" }, t("case.read_only"));
    return h("div", { class: "actions", role: "group", "aria-label": t("actions.label") }, buttons);
  }

  actionForm(d) {
    const a = this.form.action;
    const form = h("form", { class: "action-form", id: "action-form", autocomplete: "off" },
      h("h3", {}, t("action." + a.name)),
      a.fields.map((f) => field(f, this.ctx)),
      h("label", { for: "act-reason", class: "wide" }, t("form.reason"),
        h("textarea", { id: "act-reason", name: "reason", rows: 2, maxlength: 2000, required: true,
          placeholder: t("form.reason_hint") })),
      h("div", { class: "form-buttons" },
        h("button", { type: "submit", class: "primary", id: "action-submit" }, t("form.submit")),
        h("button", { type: "button", class: "quiet", onclick: () => { this.form = null; this.render(); } },
          t("form.cancel"))));
    form.noValidate = true;
    form.addEventListener("submit", (ev) => { ev.preventDefault(); this.submit(d, form); });
    return form;
  }

  async submit(d, form) {
    const a = this.form.action;
    const value = (name) => (form.elements[name] ? form.elements[name].value : undefined);
    const reason = (value("reason") || "").trim();
    if (!reason) {
      this.ctx.notify(t("form.reason_required"), "error");
      form.elements.reason.focus();
      return;
    }
    let path;
    let body;
    if (a.override) {
      path = "/borrowers/" + encodeURIComponent(d.borrower_id) + "/overrides";
      body = a.override === "set"
        ? { action: "set", direction: "floor", tier: value("tier"), until: endOfDayIso(value("until")), reason }
        : { action: "clear", direction: "floor", reason };
    } else {
      path = "/cases/" + encodeURIComponent(d.case_id) + "/" + a.path;
      body = { reason };
      if (a.name === "assign") body.assignee = value("assignee");
      if (a.name === "note") { body.kind = value("kind"); body.text = value("text"); }
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const { status, data } = await api("POST", path, { body, requestId: this.form.requestId });
      this.form = null;
      const what = t("action." + a.name);
      if (status === 202) {
        this.ctx.notify(t("done.accepted", { what }), "info");
        window.setTimeout(() => this.refresh(), 2000);
      } else {
        this.ctx.notify(t("done.applied", { what }) + (data.event_id ? " " + t("done.event") : ""), "ok");
      }
      if (data.case && this.caseId === data.case.case_id) await this.show(data.case);
      else await this.refresh();
      if (this.onChange) this.onChange(this.detail);
    } catch (err) {
      button.disabled = false;
      this.ctx.notify(errorText(err), "error");
    }
  }

  borrowerPart() {
    const page = this.borrower;
    if (!page) return empty();
    if (page.error) return h("p", { class: "muted" }, errorText(page.error));
    const detail = page.detail;
    if (!detail) return h("p", { class: "muted" }, t("borrower.no_detail"));
    const p = detail.profile || {};
    const parts = [h("dl", { class: "facts" },
      fact("borrower.as_of", h("span", { class: "as-of" }, whenZoned(detail.as_of))),
      fact("borrower.tier", h("span", {}, badge("tier", detail.tier), " ", t("borrower.computed"),
        label("tier", detail.computed_tier))),
      fact("borrower.exposure", money(p.exposure)), fact("borrower.segment", label("segment", p.segment)),
      fact("borrower.industry", label("industry", p.industry)), fact("borrower.product", label("product", p.product)),
      fact("borrower.mitigation", label("mitigation", p.mitigation)), fact("borrower.grade", p.grade || "—"),
      fact("borrower.highest_dpd", days(detail.highest_dpd)),
      fact("borrower.classification", label("classification", detail.min_classification)),
      fact("borrower.lawsuits", t("borrower.lawsuit_count", { n: (detail.lawsuits || []).length })),
      fact("borrower.last_visit", detail.last_visit ? whenZoned(detail.last_visit.at) + " · " +
        label("inspection_outcome", detail.last_visit.outcome) : "—"))];
    if ((detail.overrides || []).length) {
      parts.push(h("h4", {}, t("borrower.overrides")), table(
        [t("col.direction"), t("col.tier"), zoned("col.until"), t("col.user"), t("col.reason")],
        detail.overrides.map((o) => [label("override_direction", o.direction), badge("tier", o.tier), when(o.until),
          o.requested_by + (o.approved_by ? " / " + o.approved_by : ""), o.reason]), "overrides"));
    }
    if ((detail.overdue_accounts || []).length) {
      parts.push(h("h4", {}, t("borrower.overdue")), table([t("col.account"), t("col.product"), t("col.dpd"),
        t("col.amount")], detail.overdue_accounts.map((x) => [x.account_id, label("product", x.product),
        days(x.days_past_due), money(x.overdue_amount)]), "accounts"));
    }
    return parts;
  }

  auditExports(d) {
    const bid = encodeURIComponent(d.borrower_id);
    const go = (form) => download("/borrowers/" + bid + "/audit." + form, { lang: getLang() }, "audit." + form)
      .then((name) => this.ctx.notify(t("queue.exported", { name }), "ok"), (err) => this.ctx.fail(err));
    return h("span", { class: "exports" },
      h("button", { type: "button", class: "quiet small", id: "audit-csv", onclick: () => go("csv") },
        t("audit.export_csv")),
      h("button", { type: "button", class: "quiet small", id: "audit-xlsx", onclick: () => go("xlsx") },
        t("audit.export_xlsx")));
  }

  auditPart(d) {
    const audit = this.audit;
    if (!audit) return empty();
    if (audit.error) return h("p", { class: "muted" }, errorText(audit.error));
    if (!audit.length) return empty();
    const applied = new Map((d.actions || []).map((x) => [x.record.record_id, x]));
    return table([zoned("col.time"), t("col.user"), t("col.action"), t("col.reason"), t("col.result"), t("col.request")],
      audit.slice().reverse().map((r) => {
        const x = applied.get(r.record_id);
        let state = "";
        if (r.action === "refused") state = noteText(r.details.answered);
        else if (x) state = x.applied ? t("audit.applied") : t("audit.not_applied") + (x.note ? paren(noteText(x.note)) : "");
        return h("tr", { dataset: { action: r.action, recordId: r.record_id } },
          [when(r.at), r.user + paren(label("user_role", r.role)), label("audit_action", r.action), r.reason,
            state, h("code", {}, r.request_id)].map((c) => h("td", {}, h("span", { class: "v" }, c))));
      }), "audit");
  }
}
