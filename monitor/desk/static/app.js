// The desk's page: sign-in with a bearer token, the language switch, tabs by role, messages.
import { api, ApiError, clearToken, getToken, setToken } from "./api.js";
import { AlertsView } from "./alerts.js";
import { applyI18n, errorText, getLang, h, label, loadVocabulary, replace, setLang, setZone, t } from "./dom.js";
import { QueueView } from "./queue.js";
import { VisitsView } from "./visits.js";

const READ_CASES = ["risk_officer", "supervisor", "admin"];
const TEAM_READ = ["inspector", "risk_officer", "supervisor", "admin"];
const TABS = ["queue", "alerts", "visits"];

const $ = (id) => document.getElementById(id);

const ctx = {
  me: null,
  liveState: "off",

  // A message for the user: kind "error", "ok" or "info". Errors are announced at once (role=alert).
  notify(text, kind) {
    const box = $("message");
    box.dataset.kind = kind || "info";
    box.setAttribute("role", kind === "error" ? "alert" : "status");
    replace(box, h("span", { class: "message-text" }, text),
      h("button", { type: "button", class: "close", "aria-label": t("common.close"),
        onclick: () => { box.hidden = true; } }, "×"));
    box.hidden = false;
  },

  errorText,

  // Show an error; a 401 means the token is no longer good: back to the sign-in form.
  fail(err) {
    ctx.notify(errorText(err), "error");
    if (err instanceof ApiError && err.status === 401 && ctx.me) signOut(false);
  },

  live(state) {
    ctx.liveState = state;
    const node = $("live");
    node.dataset.state = state;
    node.textContent = t("live." + state);
  },
};

const views = { queue: new QueueView(ctx), alerts: new AlertsView(ctx), visits: new VisitsView(ctx) };
let tab = null;

function showTab(name, focus) {
  tab = name;
  for (const button of document.querySelectorAll("[data-tab]")) {
    const on = button.dataset.tab === name;
    button.classList.toggle("active", on);
    button.setAttribute("aria-selected", String(on));
    button.tabIndex = on ? 0 : -1;
    if (on && focus) button.focus();
  }
  for (const n of TABS) $("view-" + n).hidden = n !== name;
  $("live").hidden = name !== "alerts";
  if (name) views[name].start();
}

function allowedTabs() {
  const role = ctx.me ? ctx.me.role : null;
  return TABS.filter((n) => (n === "visits" ? TEAM_READ : READ_CASES).includes(role));
}

async function signIn(token) {
  setToken(token);
  let me;
  try {
    me = (await api("GET", "/me")).data;
  } catch (err) {
    clearToken();
    ctx.notify(errorText(err), "error");
    showSignIn();
    return;
  }
  ctx.me = me;
  setZone(me.timezone);
  $("message").hidden = true;
  $("signin").hidden = true;
  $("signout").hidden = false;
  renderWho();
  const allowed = allowedTabs();
  for (const n of TABS) $("tab-" + n).hidden = !allowed.includes(n);
  $("tabs").hidden = !allowed.length;
  if (allowed.length) showTab(allowed[0]);
  else ctx.notify(t("signin.no_view", { role: label("user_role", me.role) }), "info");
}

function renderWho() {
  const me = ctx.me;
  if (!me) { $("whoami").textContent = ""; return; }
  const teams = me.teams.map((x) => label("team", x)).join("、");
  $("whoami").textContent = me.user + " · " + label("user_role", me.role) + (teams ? " · " + teams : "");
}

function showSignIn() {
  $("signin").hidden = false;
  $("signout").hidden = true;
  $("tabs").hidden = true;
  for (const n of TABS) $("view-" + n).hidden = true;
  $("live").hidden = true;
  $("token").focus();
}

function signOut(hideMessage) {
  clearToken();
  ctx.me = null;
  for (const v of Object.values(views)) v.stop();
  ctx.live("off");
  tab = null;
  renderWho();
  if (hideMessage) $("message").hidden = true;
  showSignIn();
}

async function boot() {
  try {
    await loadVocabulary();
  } catch (e) { /* without it codes show as they are; the page still works */ }
  applyI18n(document);
  ctx.live("off");
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.addEventListener("click", () => {
      setLang(button.dataset.lang);
      ctx.live(ctx.liveState);
      renderWho();
      for (const v of Object.values(views)) v.rerender();
    });
  }
  for (const button of document.querySelectorAll("[data-tab]")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
    button.addEventListener("keydown", (ev) => {  // arrow keys move between the tabs (WAI-ARIA tabs pattern)
      if (!["ArrowLeft", "ArrowRight", "Home", "End"].includes(ev.key)) return;
      const open = allowedTabs();
      const i = open.indexOf(button.dataset.tab);
      const next = ev.key === "Home" ? 0 : ev.key === "End" ? open.length - 1
        : (i + (ev.key === "ArrowRight" ? 1 : open.length - 1)) % open.length;
      ev.preventDefault();
      showTab(open[next], true);
    });
  }
  $("signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = $("token");
    const token = input.value.trim();
    input.value = "";
    if (token) signIn(token);
  });
  $("signout").addEventListener("click", () => signOut(true));
  const token = getToken();
  if (token) await signIn(token);
  else showSignIn();
  document.documentElement.dataset.ready = getLang();
}

boot();
