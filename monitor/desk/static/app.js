// The desk's page: sign-in with a bearer token, the language switch, tabs by role, messages.
import { api, ApiError, clearToken, getToken, setToken } from "./api.js";
import { AlertsView } from "./alerts.js";
import { applyI18n, getLang, h, label, replace, setLang, t } from "./dom.js";
import { VisitsView } from "./visits.js";

const READ_CASES = ["risk_officer", "supervisor", "admin"];
const TEAM_READ = ["inspector", "risk_officer", "supervisor", "admin"];

const $ = (id) => document.getElementById(id);

const ctx = {
  me: null,
  liveState: "off",

  // A message for the user: kind "error", "ok" or "info".
  notify(text, kind) {
    const box = $("message");
    box.dataset.kind = kind || "info";
    replace(box, h("span", { class: "message-text" }, text),
      h("button", { type: "button", class: "close", "aria-label": t("common.close"),
        onclick: () => { box.hidden = true; } }, "×"));
    box.hidden = false;
  },

  errorText(err) {
    if (err instanceof ApiError) {
      if (err.status === 0) return t("err.network", { detail: err.detail });
      const title = label("err", String(err.status));
      return t("err.format", { title: title === String(err.status) ? t("err.other") : title,
        status: err.status, detail: err.detail || "" });
    }
    return String(err && err.message ? err.message : err);
  },

  // Show an error; a 401 means the token is no longer good: back to the sign-in form.
  fail(err) {
    ctx.notify(ctx.errorText(err), "error");
    if (err instanceof ApiError && err.status === 401 && ctx.me) signOut(false);
  },

  live(state) {
    ctx.liveState = state;
    const node = $("live");
    node.dataset.state = state;
    node.textContent = t("live." + state);
  },
};

const views = { alerts: new AlertsView(ctx), visits: new VisitsView(ctx) };
let tab = null;

function showTab(name) {
  tab = name;
  for (const button of document.querySelectorAll("[data-tab]")) {
    button.classList.toggle("active", button.dataset.tab === name);
    button.setAttribute("aria-selected", String(button.dataset.tab === name));
  }
  $("view-alerts").hidden = name !== "alerts";
  $("view-visits").hidden = name !== "visits";
  $("live").hidden = name !== "alerts";
  if (name) views[name].start();
}

async function signIn(token) {
  setToken(token);
  let me;
  try {
    me = (await api("GET", "/me")).data;
  } catch (err) {
    clearToken();
    ctx.notify(ctx.errorText(err), "error");
    showSignIn();
    return;
  }
  ctx.me = me;
  $("message").hidden = true;
  $("signin").hidden = true;
  $("signout").hidden = false;
  renderWho();
  const allowed = { alerts: READ_CASES.includes(me.role), visits: TEAM_READ.includes(me.role) };
  $("tab-alerts").hidden = !allowed.alerts;
  $("tab-visits").hidden = !allowed.visits;
  $("tabs").hidden = !(allowed.alerts || allowed.visits);
  if (allowed.alerts) showTab("alerts");
  else if (allowed.visits) showTab("visits");
  else ctx.notify(t("signin.no_view", { role: label("role", me.role) }), "info");
}

function renderWho() {
  const me = ctx.me;
  if (!me) { $("whoami").textContent = ""; return; }
  $("whoami").textContent = me.user + " · " + label("role", me.role) + (me.teams.length ? " · " + me.teams.join(", ") : "");
}

function showSignIn() {
  $("signin").hidden = false;
  $("signout").hidden = true;
  $("tabs").hidden = true;
  $("view-alerts").hidden = true;
  $("view-visits").hidden = true;
  $("live").hidden = true;
  $("token").focus();
}

function signOut(hideMessage) {
  clearToken();
  ctx.me = null;
  views.alerts.stop();
  views.visits.stop();
  ctx.live("off");
  tab = null;
  renderWho();
  if (hideMessage) $("message").hidden = true;
  showSignIn();
}

function boot() {
  applyI18n(document);
  ctx.live("off");
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.addEventListener("click", () => {
      setLang(button.dataset.lang);
      ctx.live(ctx.liveState);
      renderWho();
      views.alerts.rerender();
      views.visits.rerender();
    });
  }
  for (const button of document.querySelectorAll("[data-tab]")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
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
  if (token) signIn(token);
  else showSignIn();
  document.documentElement.dataset.ready = getLang();
}

boot();
