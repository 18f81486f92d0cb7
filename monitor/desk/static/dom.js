// DOM helpers, the language, the vocabulary and formatting. Every text goes in through a text node or
// textContent: nothing from the service is ever parsed as HTML.
//
// Two sources of words: STRINGS (strings.js) for the page's own texts, and the vocabulary
// (/static/vocabulary.json, from monitor/vocabulary.py, the one the reports use too) for every code the
// service sends: tiers, case statuses, rules, segments, teams, error codes. A code is never shown raw when
// the vocabulary has it.
import { STRINGS } from "./strings.js";

const LANG_KEY = "monitor.desk.lang";
let lang = "zh";
try {
  const saved = window.localStorage.getItem(LANG_KEY);
  if (saved === "zh" || saved === "en") lang = saved;
} catch (e) { /* storage refused: stay with Chinese */ }

let vocab = { zh: {}, en: {}, error_patterns: [] };
let patterns = [];
let zone = "Asia/Shanghai";

export function getLang() { return lang; }

export function setLang(value) {
  lang = value === "en" ? "en" : "zh";
  try { window.localStorage.setItem(LANG_KEY, lang); } catch (e) { /* not kept */ }
  applyI18n(document);
}

// The vocabulary, once, before anything is shown.
export async function loadVocabulary() {
  const response = await fetch("/static/vocabulary.json", { cache: "no-cache" });
  vocab = await response.json();
  patterns = (vocab.error_patterns || []).map(([code, source]) => [code, new RegExp(source)]);
}

// The policy's time zone: every instant is shown in it, and named.
export function setZone(value) { if (value) zone = value; }
export function zoneName() { return label("timezone", zone); }

// The page's own text for `key`; {name} placeholders filled from `vars`.
export function t(key, vars) {
  const table = STRINGS[lang] || STRINGS.zh;
  const text = Object.prototype.hasOwnProperty.call(table, key) ? table[key] : key;
  return fill(text, vars);
}

function fill(text, vars) {
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

// The label of a code from the vocabulary (the code itself when it has none; "—" for nothing).
export function label(section, code) {
  if (code === null || code === undefined || code === "") return "—";
  if (section === "team") return teamLabel(code);
  const table = (vocab[lang] || {})[section] || {};
  return Object.prototype.hasOwnProperty.call(table, code) ? table[code] : String(code);
}

export function labels(section) { return (vocab[lang] || {})[section] || {}; }

// A team: "shanghai-2" reads 上海分行 2 组 / Shanghai team 2 when its branch is known (as monitor.vocabulary).
export function teamLabel(code) {
  if (!code) return "—";
  const m = /^(.+)-(\d{1,3})$/.exec(code);
  const branches = (vocab[lang] || {}).branch || {};
  if (!m || !Object.prototype.hasOwnProperty.call(branches, m[1])) return String(code);
  const n = Number(m[2]);
  return lang === "zh" ? `${branches[m[1]]} ${n} 组` : `${branches[m[1]]} team ${n}`;
}

export function applyI18n(root) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("app.title");
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) {
    node.setAttribute("placeholder", t(node.dataset.i18nPlaceholder));
  }
  for (const node of root.querySelectorAll("[data-i18n-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  }
  for (const node of root.querySelectorAll("select[data-codes]")) fillCodes(node);
  for (const node of root.querySelectorAll("[data-lang]")) {
    node.setAttribute("aria-pressed", String(node.dataset.lang === lang));
  }
}

// The codes a filter offers, in the order an officer reads them (labels from the vocabulary).
const CODE_ORDER = {
  tier: ["severe", "warning", "watch", "normal"],
  case_status: ["open", "acknowledged", "release_requested", "released"],
  alert_kind: ["raised", "escalated", "de_escalated", "cleared"],
};

// <select data-codes="tier" data-pre=":filter.any" data-post="all:filter.all_cases">: the options of a section's
// codes, between the page's own choices (value:key pairs); the selected value is kept.
function fillCodes(select) {
  const value = select.value;
  const extra = (text) => (text || "").split(",").filter(Boolean).map((pair) => {
    const [v, key] = pair.split(":");
    return h("option", { value: v }, t(key));
  });
  replace(select, extra(select.dataset.pre),
    CODE_ORDER[select.dataset.codes].map((code) => h("option", { value: code }, label(select.dataset.codes, code))),
    extra(select.dataset.post));
  if (value !== "" || select.querySelector('option[value=""]')) select.value = value;
}

// ------------------------------------------------------------------ the service's messages

const STATUS_TITLE = { 400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
  413: "too_large", 422: "invalid", 503: "unavailable" };
const PARAM_SECTIONS = { status: "case_status", role: "user_role", tier: "tier", direction: "override_direction",
  action: "audit_action", field: "field" };

function coded(code, params) {
  const template = ((vocab[lang] || {}).error || {})[code];
  if (!template) return null;
  const shown = {};
  for (const [k, v] of Object.entries(params || {})) {
    shown[k] = k === "note" ? noteText(v) : (k in PARAM_SECTIONS ? label(PARAM_SECTIONS[k], v) : v);
  }
  return fill(template, shown);
}

// An English message of the service (an error, a case action's note) in the page's language.
export function noteText(text) {
  if (text === null || text === undefined) return "";
  for (const [code, re] of patterns) {
    const m = re.exec(String(text));
    if (m) {
      const out = coded(code, m.groups || {});
      if (out !== null) return out;
    }
  }
  return lang === "zh" ? label("error", "conflict") : String(text);
}

function validation(item) {
  const params = { ...(item.params || {}) };
  const field = params.field || (item.loc || []).slice(-1)[0] || "body";
  params.field = label("field", field);
  const template = ((vocab[lang] || {}).validation || {})[item.code || "other"] ||
    ((vocab[lang] || {}).validation || {}).other || "{field}";
  return fill(template, params);
}

// The text of a failed call: the title of its status and what went wrong, in the page's language.
export function errorText(err) {
  if (!err || err.status === undefined) return String(err && err.message ? err.message : err);
  if (err.status === 0) return t("err.network");
  const title = label("error", STATUS_TITLE[err.status] || "") ;
  const head = t("err.title", { title: title === "—" ? t("err.other") : title, status: err.status });
  let body = "";
  if (Array.isArray(err.detail)) body = err.detail.map(validation).join("；");
  else if (err.code) body = coded(err.code, err.params) || noteText(err.detail);
  else if (err.detail) body = noteText(err.detail);
  return body ? head + "：" + body : head;
}

// ------------------------------------------------------------------ elements

// Control, escape and bidi characters (a record written before the desk refused them) shown as U+FFFD:
// they never reorder or hide what a reader sees. Tabs and line breaks stay (notes).
const UNSAFE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function safeText(text) { return String(text).replace(UNSAFE, "\ufffd"); }

// h("td", {class: "x", dataset: {id: "1"}, onclick: fn}, "text", child, [more])
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "value") node.value = value;
    else if (name === "checked") node.checked = !!value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(safeText(child)));
  }
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function replace(node, ...children) {
  clear(node);
  append(node, children);
  return node;
}

// A coloured label of a code: the vocabulary's section and the CSS class of its value.
export function badge(section, value, extra) {
  return h("span", { class: "badge " + section + "-" + String(value || "none") + (extra ? " " + extra : ""),
    dataset: { value: String(value || "") } }, label(section, value));
}

// ------------------------------------------------------------------ numbers, amounts, dates

const pad = (n) => String(n).padStart(2, "0");

function parts(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return null;
  const out = {};
  for (const p of new Intl.DateTimeFormat("en-GB", { timeZone: zone, year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(d)) out[p.type] = p.value;
  return out;
}

// An instant as "YYYY-MM-DD HH:MM" in the policy's time zone (the zone is named where it is shown).
export function when(iso) {
  if (!iso) return "—";
  const p = parts(iso);
  return p ? `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}` : String(iso);
}

// An instant with its zone named: "2026-03-20 09:30 北京时间".
export function whenZoned(iso) {
  if (!iso) return "—";
  return when(iso) + " " + zoneName();
}

// A header naming the zone its instants are in: "时间（北京时间）".
export function zoned(key) {
  return t(key) + (lang === "zh" ? "（" + zoneName() + "）" : " (" + zoneName() + ")");
}

export function day(iso) { return iso ? String(iso).slice(0, 10) : "—"; }

export function number(value, digits) {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(lang === "zh" ? "zh-CN" : "en-US",
    { minimumFractionDigits: digits || 0, maximumFractionDigits: digits || 0 }).format(value);
}

// An amount with its unit: "4.70 万元", "CNY 47,048.75" (as monitor.vocabulary.money).
export function money(value) {
  if (value === null || value === undefined) return "—";
  return lang === "zh" ? number(value / 1e4, 2) + " 万元" : "CNY " + number(value, 2);
}

// An amount in 万元 for a column whose header names the unit.
export function wan(value) {
  if (value === null || value === undefined) return "—";
  return number(value / 1e4, 2);
}

export function days(n) { return t("unit.days", { n }); }

// "text" in brackets, in the page's language: "（风险经理）", " (Risk officer)".
export function paren(text) { return lang === "zh" ? "（" + text + "）" : " (" + text + ")"; }

function offset(d) {
  const minutes = -d.getTimezoneOffset();
  const sign = minutes >= 0 ? "+" : "-";
  const abs = Math.abs(minutes);
  return sign + pad(Math.floor(abs / 60)) + ":" + pad(abs % 60);
}

// "2026-03-01T09:30" (a datetime-local input) -> ISO 8601 with the browser's UTC offset.
export function localToIso(value) {
  if (!value) return null;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value;
  return value.length === 16 ? value + ":00" + offset(d) : value + offset(d);
}

// "2026-03-01" (a date input) -> the end of that day, local time, ISO 8601 with offset.
export function endOfDayIso(value) {
  if (!value) return null;
  const d = new Date(value + "T23:59:59");
  if (Number.isNaN(d.getTime())) return value;
  return value + "T23:59:59" + offset(d);
}

export function isoDate(d) { return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()); }

export function addDays(n) {
  const d = new Date();
  d.setDate(d.getDate() + n);
  return isoDate(d);
}

// A table: headers are (already translated) texts; rows are arrays of cells (text or nodes), or <tr>s.
// On a phone the table turns into cards: each cell shows its header beside it (data-label).
export function table(headers, rows, cls) {
  const body = rows.map((cells) => {
    const tr = cells instanceof Node ? cells : h("tr", {}, cells.map((c) => h("td", {}, h("span", { class: "v" }, c))));
    Array.from(tr.children).forEach((td, i) => { if (headers[i]) td.dataset.label = headers[i]; });
    return tr;
  });
  return h("table", { class: "grid cards " + (cls || "") },
    h("thead", {}, h("tr", {}, headers.map((text) => h("th", { scope: "col" }, text)))),
    h("tbody", {}, body));
}

export function newRequestId() {
  if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
