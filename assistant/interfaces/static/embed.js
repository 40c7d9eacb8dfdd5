"use strict";
// The script of /embed (assistant/static/embed.html): a file of its own so the page's CSP can forbid inline script.
// Everything from the server is inserted with textContent: document text can never become markup here.
const log = document.getElementById("log");
const form = document.getElementById("ask");
const input = document.getElementById("question");
const key = new URLSearchParams(location.hash.slice(1)).get("key");
const params = new URLSearchParams(location.search);
const collection = params.get("collection");  // null: the default collection
const history = [];
let turnCount = 0;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function safeUrl(url) {
  try { const u = new URL(url); return (u.protocol === "http:" || u.protocol === "https:") ? u.href : null; }
  catch { return null; }
}

function passage(turn, citation, contexts) {
  const box = el("div", "passage");
  box.id = `passage-${turn}-${citation.n}`;
  box.hidden = true;
  const ctx = contexts.find(c => c.chunk_id === citation.chunk_id);
  const text = ctx ? ctx.text : "";
  const at = text.indexOf(citation.quote);
  if (at < 0) { box.append(el("mark", "", citation.quote)); return box; }
  box.append(text.slice(0, at), el("mark", "", citation.quote), text.slice(at + citation.quote.length));
  return box;
}

function note(turn, citation, contexts) {
  const box = el("div", "note");
  const meta = el("div", "meta");
  meta.append(`[${citation.n}] ${citation.title} — ${citation.section}`);
  if (citation.page) meta.append(` · p. ${citation.page}`);
  if (citation.published) meta.append(` · ${citation.published}`);
  const url = safeUrl(citation.url);
  if (url) {
    const link = el("a", "", "source");
    link.href = url; link.target = "_blank"; link.rel = "noopener noreferrer";
    meta.append(" · ", link);
  }
  if (!key && citation.link && citation.link.startsWith("/api/sources/")) {  // a key in the URL cannot ride a link
    const open = el("a", "open", "open at the citation");
    open.href = new URL(citation.link, location.href).href; open.target = "_blank"; open.rel = "noopener";
    meta.append(" · ", open);
  }
  box.append(meta, el("div", "quote", `“${citation.quote}”`), passage(turn, citation, contexts));
  return box;
}

function renderAnswer(turn, answer) {
  const wrap = el("div");
  const text = el("div", answer.abstained ? "a abstained" : "a");
  const byN = new Map(answer.citations.map(c => [c.n, c]));
  const notes = el("div", "notes");
  answer.citations.forEach(c => notes.append(note(turn, c, answer.contexts)));
  for (const part of answer.answer.split(/(\[\d+\])/)) {
    const n = Number((part.match(/^\[(\d+)\]$/) || [])[1]);
    if (!byN.has(n)) { text.append(part); continue; }
    const button = el("button", "cite", `[${n}]`);
    button.type = "button";
    button.setAttribute("aria-controls", `passage-${turn}-${n}`);
    button.title = "Show the passage";
    button.addEventListener("click", () => {
      const target = document.getElementById(`passage-${turn}-${n}`);
      target.hidden = !target.hidden;
      button.setAttribute("aria-expanded", String(!target.hidden));
      if (!target.hidden) target.scrollIntoView({block: "nearest"});
    });
    text.append(button);
  }
  wrap.append(text);
  if (answer.abstained && answer.reason) wrap.append(el("div", "reason", `(${answer.reason})`));
  wrap.append(notes);
  return wrap;
}

function authHeaders() {
  const headers = {"Content-Type": "application/json"};
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

// The collection's title and example questions, fetched with the key: the public page itself names nothing.
async function openCollection() {
  const name = encodeURIComponent(collection || "default");
  try {
    const response = await fetch(new URL(`api/collections/${name}`, location.href), {headers: authHeaders()});
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
    if (!params.has("title")) { document.querySelector("h1").textContent = body.title; document.title = body.title; }
    if (!body.examples.length || turnCount) return;
    const box = el("div", "examples");
    box.id = "examples";
    box.append(el("div", "meta", "Try one of these:"));
    for (const example of body.examples) {
      const button = el("button", "example", example);
      button.type = "button";
      button.addEventListener("click", () => ask(example));
      box.append(button);
    }
    log.append(box);
  } catch (err) {
    if (collection) log.append(el("div", "error", `Cannot open the collection: ${err.message}`));
  }
}

async function ask(question) {
  const examples = document.getElementById("examples");
  if (examples) examples.remove();
  const turn = ++turnCount;
  const box = el("div", "turn");
  const pending = el("div", "a", "…");
  box.append(el("div", "q", question), pending);
  log.append(box);
  log.scrollTop = log.scrollHeight;
  try {
    const response = await fetch(new URL(form.dataset.endpoint, location.href), {
      method: "POST", headers: authHeaders(), body: JSON.stringify({question, history, collection}),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
    pending.replaceWith(renderAnswer(turn, body));
    history.push({role: "user", content: question}, {role: "assistant", content: body.answer});
  } catch (err) {
    pending.replaceWith(el("div", "error", `Could not answer: ${err.message}`));
  }
  log.scrollTop = log.scrollHeight;
}

form.addEventListener("submit", event => {
  event.preventDefault();
  const question = input.value.trim();
  if (!question) return;
  input.value = "";
  ask(question);
});
input.addEventListener("keydown", event => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
});
openCollection();
