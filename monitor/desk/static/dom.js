// DOM helpers, the language, and formatting. Every text goes in through a text node or textContent:
// nothing from the service is ever parsed as HTML.
import { STRINGS } from "./strings.js";

const LANG_KEY = "monitor.desk.lang";
let lang = "zh";
try {
  const saved = window.localStorage.getItem(LANG_KEY);
  if (saved === "zh" || saved === "en") lang = saved;
} catch (e) { /* storage refused: stay with Chinese */ }

export function getLang() { return lang; }

export function setLang(value) {
  lang = value === "en" ? "en" : "zh";
  try { window.localStorage.setItem(LANG_KEY, lang); } catch (e) { /* not kept */ }
  applyI18n(document);
}

// The text for `key` in the current language; {name} placeholders filled from `vars`.
export function t(key, vars) {
  const table = STRINGS[lang] || STRINGS.zh;
  let text = Object.prototype.hasOwnProperty.call(table, key) ? table[key] : key;
  if (vars) {
    text = text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  }
  return text;
}

// A label from a group ("tier", "kind", ...) when the dictionary has one, else the raw value.
export function label(group, value) {
  if (value === null || value === undefined || value === "") return "—";
  const key = group + "." + value;
  const table = STRINGS[lang] || STRINGS.zh;
  return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : String(value);
}

export function applyI18n(root) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("app.title");
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) {
    node.setAttribute("placeholder", t(node.dataset.i18nPlaceholder));
  }
  for (const node of root.querySelectorAll("[data-i18n-title]")) {
    node.setAttribute("title", t(node.dataset.i18nTitle));
  }
  for (const node of root.querySelectorAll("[data-lang]")) {
    node.setAttribute("aria-pressed", String(node.dataset.lang === lang));
  }
}

// h("td", {class: "x", dataset: {id: "1"}, onclick: fn}, "text", child, [more])
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "value") node.value = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

// Control, escape and bidi characters (a record written before the desk refused them) shown as U+FFFD:
// they never reorder or hide what a reader sees. Tabs and line breaks stay (notes).
const UNSAFE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function safeText(text) { return String(text).replace(UNSAFE, "\ufffd"); }

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

export function badge(group, value, extra) {
  return h("span", { class: "badge " + group + "-" + String(value || "none") + (extra ? " " + extra : ""),
    dataset: { value: String(value || "") } }, label(group, value));
}

const pad = (n) => String(n).padStart(2, "0");

// An instant as local "YYYY-MM-DD HH:MM".
export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
    pad(d.getHours()) + ":" + pad(d.getMinutes());
}

export function day(iso) { return iso ? String(iso).slice(0, 10) : "—"; }

export function money(value) {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(lang === "zh" ? "zh-CN" : "en-US", { maximumFractionDigits: 0 }).format(value);
}

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

export function addDays(days) {
  const d = new Date();
  d.setDate(d.getDate() + days);
  return isoDate(d);
}

// A table: headers are dictionary keys; rows are arrays of cells (text or nodes).
export function table(headers, rows, cls) {
  return h("table", { class: "grid " + (cls || "") },
    h("thead", {}, h("tr", {}, headers.map((k) => h("th", {}, t(k))))),
    h("tbody", {}, rows.map((cells) => (cells instanceof Node ? cells : h("tr", {}, cells.map((c) => h("td", {}, c)))))));
}

// key=value pairs of an object, one per line.
export function pairs(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return "—";
  return h("ul", { class: "pairs" }, entries.map(([k, v]) =>
    h("li", {}, h("code", {}, k), " = ", typeof v === "object" && v !== null ? JSON.stringify(v) : String(v))));
}

export function newRequestId() {
  if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
