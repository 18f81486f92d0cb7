// The case view: summary, actions (each with its required reason), signals with their evidence,
// the borrower, alerts, notes, visits and the audit trail.
import { api } from "./api.js";
import { badge, day, endOfDayIso, addDays, h, label, money, newRequestId, pairs, replace, t, table, when } from "./dom.js";

const ACT = ["risk_officer", "admin"];
const APPROVE = ["supervisor", "admin"];
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
      h("option", { value: "note" }, t("note.note")), h("option", { value: "action_plan" }, t("note.action_plan"))));
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

export class CaseView {
  constructor(ctx, root, onChange) {
    this.ctx = ctx;
    this.root = root;
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
    this.caseId = caseId;
    this.detail = null;
    this.form = null;
    replace(this.root, h("p", { class: "placeholder" }, t("common.loading")));
    await this.refresh();
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
        if (!this.detail) replace(this.root, h("p", { class: "placeholder" }, t("case.unavailable")));
      }
      return;
    }
    if (id !== this.caseId) return;
    await this.show(detail);
  }

  async show(detail) {
    this.detail = detail;
    this.onChange(detail);
    const bid = encodeURIComponent(detail.borrower_id);
    const [borrower, audit] = await Promise.allSettled([api("GET", "/borrowers/" + bid),
      api("GET", "/borrowers/" + bid + "/audit")]);
    if (this.detail !== detail) return;
    this.borrower = borrower.status === "fulfilled" ? borrower.value.data : { error: borrower.reason };
    this.audit = audit.status === "fulfilled" ? audit.value.data : { error: audit.reason };
    this.render();
  }

  rerender() { if (this.detail) this.render(); }

  render() {
    const d = this.detail;
    const alerts = d.alerts || [];
    const signals = d.signals && d.signals.length ? d.signals : (alerts.length ? alerts[alerts.length - 1].signals : []);
    replace(this.root,
      h("div", { class: "case-head", id: "case-head", dataset: { caseId: d.case_id, status: d.status } },
        h("h2", {}, t("case.title"), " ", h("span", { class: "mono" }, d.case_id)),
        h("span", { class: "head-badges" }, badge("tier", d.tier), badge("status", d.status, "case-status"))),
      h("dl", { class: "facts" },
        fact("col.borrower", h("strong", {}, d.borrower_id)), fact("col.team", d.team || "—"),
        fact("col.branch", d.branch || "—"), fact("case.assignee", d.assignee || "—"),
        fact("case.opened", when(d.opened_at)), fact("case.last_alert", when(d.last_alert_at)),
        fact("case.alert_count", d.alert_count), fact("case.next_due", h("strong", {}, day(d.next_visit_due))),
        fact("case.acknowledged_by", d.acknowledged_by || "—"),
        fact("case.release_requested_by", d.release_requested_by || "—"),
        fact("case.released_by", d.released_by || "—")),
      this.actionBar(d),
      this.form ? this.actionForm(d) : null,
      section("case.signals", signals.length ? signalTable(signals) : empty()),
      section("case.borrower", this.borrowerPart()),
      section("case.alerts", table(["col.time", "col.kind", "col.tier", "col.computed", "col.rules", "col.policy"],
        alerts.slice().reverse().map((a) => [when(a.at), label("kind", a.kind),
          h("span", { class: "nowrap" }, label("tier", a.from_tier), " → ", badge("tier", a.to_tier)), label("tier", a.computed_tier),
          a.signals.map((s) => s.rule).join(", ") || "—", a.policy_version]))),
      section("case.notes", (d.notes || []).length ? table(["col.time", "col.user", "col.note_kind", "col.text"],
        d.notes.map((n) => [when(n.at), n.user, label("note", n.kind), h("span", { class: "pre" }, n.text)])) : empty()),
      section("case.visits", (d.visits || []).length ? visitTable(d.visits) : empty()),
      section("case.audit", this.auditPart(d)));
  }

  actionBar(d) {
    const role = this.ctx.me.role;
    const buttons = ACTIONS.filter((a) => a.roles.includes(role)).map((a) => h("button", {
      type: "button", class: "action" + (this.form && this.form.action.name === a.name ? " active" : ""),
      id: "action-" + a.name, disabled: !a.statuses.includes(d.status),
      onclick: () => { this.form = { action: a, requestId: newRequestId() }; this.render(); },
    }, t("action." + a.name)));
    if (!buttons.length) return h("p", { class: "muted" }, t("case.read_only"));
    return h("div", { class: "actions" }, buttons);
  }

  actionForm(d) {
    const a = this.form.action;
    const form = h("form", { class: "action-form", id: "action-form", autocomplete: "off" },
      h("h3", {}, t("action." + a.name)),
      a.fields.map((f) => field(f, this.ctx)),
      h("label", { for: "act-reason", class: "wide" }, t("form.reason"),
        h("textarea", { id: "act-reason", name: "reason", rows: 2, maxlength: 2000,
          placeholder: t("form.reason_hint") })),
      h("div", { class: "form-buttons" },
        h("button", { type: "submit", class: "primary", id: "action-submit" }, t("form.submit")),
        h("button", { type: "button", class: "quiet", onclick: () => { this.form = null; this.render(); } },
          t("form.cancel"))));
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
        this.ctx.notify(t("done.applied", { what, record: data.record_id }) +
          (data.event_id ? " " + t("done.event", { event: data.event_id }) : ""), "ok");
      }
      if (data.case && this.caseId === data.case.case_id) await this.show(data.case);
      else await this.refresh();
    } catch (err) {
      button.disabled = false;
      this.ctx.fail(err);
    }
  }

  borrowerPart() {
    const page = this.borrower;
    if (!page) return empty();
    if (page.error) return h("p", { class: "muted" }, this.ctx.errorText(page.error));
    const detail = page.detail;
    if (!detail) return h("p", { class: "muted" }, t("borrower.no_detail"));
    const p = detail.profile || {};
    const parts = [h("dl", { class: "facts" },
      fact("borrower.as_of", h("span", { class: "as-of" }, when(detail.as_of))),
      fact("borrower.tier", h("span", {}, badge("tier", detail.tier), " ", t("borrower.computed"), " ",
        label("tier", detail.computed_tier))),
      fact("col.exposure", money(p.exposure)), fact("borrower.segment", p.segment || "—"),
      fact("borrower.industry", p.industry || "—"), fact("borrower.product", p.product || "—"),
      fact("borrower.grade", p.grade || "—"), fact("borrower.highest_dpd", detail.highest_dpd),
      fact("borrower.classification", detail.min_classification || "—"),
      fact("borrower.lawsuits", (detail.lawsuits || []).length),
      fact("borrower.last_visit", detail.last_visit ? when(detail.last_visit.at) + " · " +
        label("outcome", detail.last_visit.outcome) : "—"))];
    if ((detail.overrides || []).length) {
      parts.push(h("h4", {}, t("borrower.overrides")), table(
        ["col.direction", "col.tier", "col.until", "col.user", "col.reason", "col.event_ids"],
        detail.overrides.map((o) => [label("direction", o.direction), badge("tier", o.tier), when(o.until),
          o.requested_by + (o.approved_by ? " / " + o.approved_by : ""), o.reason, h("code", {}, o.event_id)]),
        "overrides"));
    }
    if ((detail.overdue_accounts || []).length) {
      parts.push(h("h4", {}, t("borrower.overdue")), table(["col.account", "col.dpd", "col.amount", "col.event_ids"],
        detail.overdue_accounts.map((x) => [x.account_id, x.days_past_due, money(x.overdue_amount),
          h("code", {}, x.event_id)])));
    }
    return parts;
  }

  auditPart(d) {
    const audit = this.audit;
    if (!audit) return empty();
    if (audit.error) return h("p", { class: "muted" }, this.ctx.errorText(audit.error));
    if (!audit.length) return empty();
    const applied = new Map((d.actions || []).map((x) => [x.record.record_id, x]));
    return table(["col.time", "col.user", "col.action", "col.reason", "col.request", "col.applied"],
      audit.slice().reverse().map((r) => {
        const x = applied.get(r.record_id);
        const state = x ? (x.applied ? t("audit.applied") : t("audit.not_applied") + (x.note ? ": " + x.note : "")) : "";
        return h("tr", { dataset: { action: r.action, recordId: r.record_id } },
          [when(r.at), r.user + " (" + label("role", r.role) + ")", label("action", r.action), r.reason,
            h("code", {}, r.request_id), state].map((c) => h("td", {}, c)));
      }), "audit");
  }
}

function fact(key, value) {
  return h("div", { class: "fact" }, h("dt", {}, t(key)), h("dd", {}, value));
}

function section(key, body) {
  return h("section", { class: "part", dataset: { part: key } }, h("h3", {}, t(key)), body);
}

function empty() { return h("p", { class: "muted" }, t("common.none")); }

function signalTable(signals) {
  return table(["col.level", "col.rule", "col.family", "col.values", "col.thresholds", "col.event_ids", "col.since"],
    signals.map((s) => h("tr", { dataset: { rule: s.rule } }, [badge("tier", s.level), h("code", {}, s.rule),
      label("family", s.family), pairs(s.values), pairs(s.thresholds),
      h("span", { class: "ids" }, (s.event_ids || []).map((e) => h("code", {}, e))), when(s.since)]
      .map((c, i) => h("td", { class: i === 2 ? "family" : null }, c)))), "signals");
}

export function visitTable(visits) {
  return table(["col.visited_at", "col.inspector", "col.outcome", "col.notes", "col.user"],
    visits.slice().reverse().map((v) => h("tr", { class: "visit", dataset: { eventId: v.event_id } },
      [when(v.visited_at), v.inspector, badge("outcome", v.outcome), v.notes || "—", v.recorded_by]
        .map((c) => h("td", {}, c)))), "visits");
}
