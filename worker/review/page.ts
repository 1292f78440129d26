// By path: the package exports only its ESM entry, and its browser bundle is what the page needs.
import simpleWebAuthnBrowser from "../../node_modules/@simplewebauthn/browser/dist/bundle/index.umd.min.js";
import type { HoldState } from "./types.ts";

/**
 * The reviewer page: server-rendered HTML of the holds exactly as stored, @simplewebauthn/browser
 * and one small inline script that runs the WebAuthn ceremonies with it. Nothing on it is taken
 * from the URL except the enrollment token (a fragment, posted back and never rendered).
 */

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => ESCAPES[char]!);
}

/** Content-Security-Policy for a page whose only script and style carry `nonce`. */
export function pageCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    // A framed page could show one hold while the reviewer signs another.
    "frame-ancestors 'none'",
  ].join("; ");
}

const STYLE = `
:root { color-scheme: light dark; --fg: #1b1b1f; --bg: #fdfdfd; --muted: #5b5b66; --line: #c9c9d1; --accent: #1f4fbf; --danger: #a3191c; --ok: #146c2e; }
@media (prefers-color-scheme: dark) { :root { --fg: #ececf1; --bg: #16161a; --muted: #a9a9b6; --line: #3a3a44; --accent: #8fb0ff; --danger: #ff8a8a; --ok: #7ddc97; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 60rem; padding: 1.5rem; font: 1.0625rem/1.55 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; } h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
h3 { font-size: 1.1rem; margin: 0 0 .5rem; }
.muted { color: var(--muted); }
article { border: 1px solid var(--line); border-radius: .5rem; padding: 1rem 1.25rem; margin: 1rem 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0 0 1rem; }
dt { font-weight: 600; } dd { margin: 0; overflow-wrap: anywhere; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .95em; }
ul.targets { margin: 0; padding-left: 1.1rem; }
.actions { display: flex; gap: .75rem; flex-wrap: wrap; }
button { font: inherit; padding: .5rem 1.1rem; border-radius: .4rem; border: 2px solid var(--accent); background: transparent; color: var(--accent); cursor: pointer; }
button.approve { border-color: var(--ok); color: var(--ok); } button.reject { border-color: var(--danger); color: var(--danger); }
button:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
button[disabled] { opacity: .5; cursor: not-allowed; }
#status { min-height: 1.5em; font-weight: 600; }
.skip { position: absolute; left: -100vw; } .skip:focus { left: 1rem; top: 1rem; background: var(--bg); padding: .5rem; }
`;

/**
 * The browser side of the WebAuthn ceremonies is @simplewebauthn/browser (the counterpart of the
 * server library), served by the worker as it ships (wrangler.jsonc `rules`) and loaded by the
 * page under its nonce. It turns the server's options JSON into the credential calls
 * and the credentials back into JSON; this script only runs the three flows.
 */
export const WEBAUTHN_CLIENT = { path: "/review/assets/simplewebauthn-browser.min.js", body: simpleWebAuthnBrowser } as const;

/** The three flows over SimpleWebAuthnBrowser (the global the bundle defines). */
const SCRIPT = `
const { startAuthentication, startRegistration } = SimpleWebAuthnBrowser;
const status = document.getElementById("status");
function say(text, focus) { status.textContent = text; if (focus) status.focus(); }
async function post(path, body) {
  const response = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, credentials: "same-origin", body: JSON.stringify(body) });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error((data && (data.code + ": " + (data.detail || data.title))) || String(response.status));
  return data;
}
async function signIn() {
  say("Waiting for your passkey…");
  const { options } = await post("/v1/reviewers/login/options", {});
  const response = await startAuthentication({ optionsJSON: options });
  await post("/v1/reviewers/login", { response });
  location.reload();
}
async function enroll() {
  const token = location.hash.slice(1);
  history.replaceState(null, "", location.pathname);
  if (!token) throw new Error("this enrollment link has no token");
  say("Waiting for your authenticator…");
  const { options } = await post("/v1/reviewers/enroll/options", { token });
  const response = await startRegistration({ optionsJSON: options });
  await post("/v1/reviewers/enroll", { token, response });
  say("Passkey registered. You can now sign in.", true);
  document.getElementById("enroll").hidden = true;
  document.getElementById("to-review").hidden = false;
}
async function verdict(button) {
  const hold = button.closest("article");
  const id = hold.dataset.reviewId;
  const choice = button.dataset.verdict;
  for (const b of hold.querySelectorAll("button")) b.disabled = true;
  try {
    say("Confirm with your passkey to " + choice + " " + id + "…");
    const { options } = await post("/v1/reviews/" + encodeURIComponent(id) + "/options", { verdict: choice, hold_sha256: hold.dataset.holdSha256 });
    const response = await startAuthentication({ optionsJSON: options });
    const result = await post("/v1/reviews/" + encodeURIComponent(id) + "/verdict", { response });
    hold.querySelector(".outcome").textContent = "Recorded: " + choice + " — status " + result.status + " (" + result.approvals.length + " of " + result.approvers_required + " approvals)";
    say("Recorded: " + choice + " for " + id + ".", true);
  } catch (error) {
    say("Not recorded: " + error.message, true);
    if (!/review_not_pending|review_record_changed/.test(error.message)) for (const b of hold.querySelectorAll("button")) b.disabled = false;
  }
}
// An enrollment link opened at the wrong origin: carry its token (the fragment) to the right one.
const originLink = document.getElementById("origin-link");
if (originLink && location.hash) originLink.href += location.hash;
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const run = { "sign-in": signIn, enroll, verdict: () => verdict(button), "sign-out": async () => { await post("/v1/reviewers/logout", {}); location.reload(); } }[button.dataset.action];
  run().catch((error) => say("Failed: " + error.message, true));
});
`;

/**
 * Shown when the page is opened at another origin than REVIEW_ORIGIN (127.0.0.1 for localhost,
 * another port, a workers.dev name): passkeys are bound to REVIEW_ORIGIN and its RP ID, and a
 * browser refuses an IP address as RP ID, so say where to go instead of failing in the ceremony.
 */
export function originNotice(pageOrigin: string, reviewOrigin: string | undefined, path: string): string {
  if (!reviewOrigin || pageOrigin === reviewOrigin) return "";
  const target = escapeHtml(`${reviewOrigin}${path}`);
  return `<p role="alert" id="origin-notice"><strong>Passkeys for this page work only at ${escapeHtml(reviewOrigin)}.</strong>
Open <a id="origin-link" href="${target}">${target}</a> instead.</p>`;
}

function layout(nonce: string, title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<main id="main">
${body}
</main>
<script nonce="${nonce}" src="${WEBAUTHN_CLIENT.path}"></script>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>`;
}

function relative(deadline: number, now: number): string {
  const minutes = Math.round((deadline - now) / 60_000);
  if (minutes <= 0) return "due now";
  return minutes < 120 ? `in ${minutes} min` : `in ${Math.round(minutes / 60)} h`;
}

function holdArticle(hold: HoldState, now: number): string {
  const { record, tier, deadline, approvers_required } = hold.shown;
  const id = escapeHtml(hold.id);
  const heading = `hold-${id}`;
  const row = (term: string, value: string) => `<dt>${term}</dt><dd>${value}</dd>`;
  const mono = (value: string | null) => (value === null ? `<span class="muted">none</span>` : `<code>${escapeHtml(value)}</code>`);
  const targets = record.action.targets.map((target) => `<li><span class="muted">${escapeHtml(target.kind)}</span> <code>${escapeHtml(target.value)}</code></li>`).join("");
  return `<article data-review-id="${id}" data-hold-sha256="${escapeHtml(hold.hold_sha256)}" aria-labelledby="${heading}">
<h3 id="${heading}">${escapeHtml(record.action.type)} on ${record.action.targets.length} target${record.action.targets.length === 1 ? "" : "s"} — by ${escapeHtml(record.requester.agent)} on ${escapeHtml(record.requester.device)}</h3>
<dl>
${row("Action", mono(record.action.type))}
${row("Targets", `<ul class="targets">${targets}</ul>`)}
${row("Sends data out", record.action.sends_external ? "yes" : "no")}
${row("Agent", `${mono(record.agent.id)} version ${mono(record.agent.version)}; artifact ${mono(record.agent.artifact_sha256)}`)}
${row("Device", mono(record.requester.device))}
${row("Held by policy", record.policy.reasons.map((reason) => mono(reason)).join(", "))}
${row("Bundle", mono(record.policy.digest))}
${row("Inputs (SHA-256)", mono(record.action.inputs_sha256))}
${row("Context (SHA-256)", mono(record.context_sha256))}
${row("Decision", mono(record.decision_id))}
${row("Review", mono(record.review_id))}
${row("Action hash", mono(record.action_hash))}
${row("Raised", `<time datetime="${escapeHtml(record.created_at)}">${escapeHtml(record.created_at)}</time>`)}
${row("Tier", escapeHtml(tier))}
${row("Deadline", `<time datetime="${escapeHtml(deadline)}">${escapeHtml(deadline)}</time> (${relative(hold.deadline, now)})`)}
${row("Approvals", `${hold.approvals.length} of ${approvers_required}${hold.approvals.length ? ": " + hold.approvals.map((a) => escapeHtml(a.reviewer)).join(", ") : ""}`)}
${row("Record digest", mono(hold.hold_sha256))}
${hold.tickets.length ? row("Tickets", hold.tickets.map((ticket) => `${escapeHtml(ticket.service)} <a href="${escapeHtml(ticket.url)}" rel="noreferrer">${escapeHtml(ticket.key)}</a>`).join(", ")) : ""}
</dl>
<div class="actions" role="group" aria-label="Verdict on this hold">
<button type="button" class="approve" data-action="verdict" data-verdict="approve" aria-describedby="${heading}">Approve</button>
<button type="button" class="reject" data-action="verdict" data-verdict="reject" aria-describedby="${heading}">Reject</button>
<button type="button" data-action="verdict" data-verdict="escalate" aria-describedby="${heading}">Escalate</button>
</div>
<p class="outcome" aria-live="polite"></p>
</article>`;
}

/** The queue for a signed-in reviewer: pending holds grouped by tier, soonest deadline first. */
export function reviewPage(nonce: string, reviewer: { id: string; display_name: string } | null, holds: HoldState[], now: number, notice = ""): string {
  const status = `<p id="status" role="status" aria-live="polite" tabindex="-1"></p>`;
  if (!reviewer) {
    return layout(
      nonce,
      "Warden review — sign in",
      `<h1>Warden review</h1>
${notice}
<p>Held agent actions wait here for a person. Sign in with the passkey you registered from your enrollment link.</p>
<button type="button" data-action="sign-in">Sign in with passkey</button>
${status}`,
    );
  }
  const tiers = new Map<string, HoldState[]>();
  for (const hold of holds) tiers.set(hold.shown.tier, [...(tiers.get(hold.shown.tier) ?? []), hold]);
  const sections = [...tiers.entries()]
    .sort(([, a], [, b]) => a[0]!.deadline - b[0]!.deadline)
    .map(([tier, list]) => `<section aria-labelledby="tier-${escapeHtml(tier)}"><h2 id="tier-${escapeHtml(tier)}">Tier ${escapeHtml(tier)} — ${list.length} pending</h2>${list.map((hold) => holdArticle(hold, now)).join("\n")}</section>`)
    .join("\n");
  return layout(
    nonce,
    `Warden review — ${holds.length} pending`,
    `<h1>Warden review</h1>
<p class="muted">Signed in as <strong>${escapeHtml(reviewer.display_name)}</strong> (${escapeHtml(reviewer.id)}). Each verdict asks your passkey to sign exactly the record shown.
<button type="button" data-action="sign-out">Sign out</button></p>
${status}
${holds.length === 0 ? "<p>No holds are waiting.</p>" : sections}`,
  );
}

/** The enrollment page behind a one-time link: registers one passkey. */
export function enrollPage(nonce: string, notice = ""): string {
  return layout(
    nonce,
    "Warden review — register a passkey",
    `<h1>Register your reviewer passkey</h1>
${notice}
<p>This one-time link registers a passkey for approving held agent actions. Your authenticator will ask you to verify yourself.</p>
<button type="button" id="enroll" data-action="enroll">Register passkey</button>
<p id="to-review" hidden><a href="/review">Go to the review queue and sign in</a></p>
<p id="status" role="status" aria-live="polite" tabindex="-1"></p>`,
  );
}
