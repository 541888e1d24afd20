// carwatch console: renders the bot's chat from server-sent events.
// Every text is put in with textContent or createTextNode, never innerHTML:
// the server sends the bot's HTML already parsed into a tree of known tags.
const chat = $("chat");
const messages = new Map();
let toastTimer = null;
let typingTimer = null;

const TAGS = { b: "b", i: "i", u: "u", s: "s", code: "code", pre: "pre", blockquote: "blockquote" };

function renderNodes(parent, nodes) {
  for (const n of nodes) {
    if (typeof n === "string") {
      parent.appendChild(document.createTextNode(n));
      continue;
    }
    let el;
    if (n.tag === "a") {
      el = document.createElement("a");
      if (n.href) {
        el.href = n.href;
        el.target = "_blank";
        el.rel = "noopener noreferrer";
      }
    } else if (n.tag === "spoiler") {
      el = document.createElement("span");
      el.className = "spoiler";
      el.addEventListener("click", () => el.classList.add("shown"));
    } else {
      el = document.createElement(TAGS[n.tag] || "span");
    }
    renderNodes(el, n.children);
    parent.appendChild(el);
  }
}

function time(date) {
  return new Date(date * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function nearBottom() {
  return chat.scrollHeight - chat.scrollTop - chat.clientHeight < 120;
}

function renderMessage(m) {
  const el = document.createElement("div");
  el.className = `msg ${m.from}`;
  el.dataset.id = String(m.id);
  if (m.photo) {
    const img = document.createElement("img");
    img.className = "photo";
    img.src = `/console/${m.photo.url}`;
    img.alt = m.photo.name;
    el.appendChild(img);
  }
  if (m.document) {
    const a = document.createElement("a");
    a.className = "document";
    a.href = `/console/${m.document.url}`;
    a.download = m.document.name;
    a.textContent = `📎 ${m.document.name} (${Math.max(1, Math.round(m.document.size / 1024))} KB)`;
    el.appendChild(a);
    if (m.nodes.length) el.appendChild(document.createElement("br"));
  }
  const body = document.createElement("span");
  body.className = "text";
  renderNodes(body, m.nodes);
  el.appendChild(body);
  if (m.buttons.length) {
    const kb = document.createElement("div");
    kb.className = "inline";
    for (const row of m.buttons) {
      const r = document.createElement("div");
      r.className = "row";
      for (const b of row) {
        if (b.url) {
          const a = document.createElement("a");
          a.className = "url";
          a.href = b.url;
          a.target = "_blank";
          a.rel = "noopener noreferrer";
          a.textContent = `${b.text} ↗`;
          r.appendChild(a);
          continue;
        }
        const btn = document.createElement("button");
        btn.type = "button";
        btn.textContent = b.text;
        btn.dataset.data = b.data || "";
        btn.addEventListener("click", () => press(m.id, b.data, btn));
        r.appendChild(btn);
      }
      kb.appendChild(r);
    }
    el.appendChild(kb);
  }
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = `${m.edited ? "edited " : ""}${time(m.date)}`;
  el.appendChild(meta);
  return el;
}

function upsert(m) {
  const stick = nearBottom();
  const el = renderMessage(m);
  const old = messages.get(m.id);
  if (old) old.replaceWith(el);
  else chat.appendChild(el);
  messages.set(m.id, el);
  if (m.from === "bot") setTyping(false);
  if (stick || m.from === "user") chat.scrollTop = chat.scrollHeight;
}

function setKeyboard(rows) {
  const kb = $("keyboard");
  kb.replaceChildren();
  kb.hidden = !rows || rows.length === 0;
  for (const row of rows || []) {
    const r = document.createElement("div");
    r.className = "row";
    for (const text of row) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = text;
      b.addEventListener("click", () => send(text));
      r.appendChild(b);
    }
    kb.appendChild(r);
  }
}

function setCommands(commands) {
  const list = $("commands");
  const menu = $("command-list");
  list.replaceChildren();
  menu.replaceChildren();
  for (const c of commands) {
    const o = document.createElement("option");
    o.value = `/${c.command}`;
    o.label = c.description;
    list.appendChild(o);
    const b = document.createElement("button");
    b.type = "button";
    const name = document.createElement("b");
    name.textContent = `/${c.command}`;
    b.append(name, ` — ${c.description}`);
    b.addEventListener("click", () => {
      menu.hidden = true;
      $("input").value = `/${c.command} `;
      $("input").focus();
    });
    menu.appendChild(b);
  }
}

function setTyping(on) {
  clearTimeout(typingTimer);
  $("typing").hidden = !on;
  if (on) typingTimer = setTimeout(() => ($("typing").hidden = true), 5500);
}

function toast(text, alert) {
  const t = $("toast");
  t.textContent = text;
  t.className = alert ? "toast alert" : "toast";
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), alert ? 6000 : 2500);
}

async function post(path, body) {
  const r = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), credentials: "same-origin" });
  if (!r.ok) {
    const e = await r.json().catch(() => ({ error: r.statusText }));
    toast(e.error || `HTTP ${r.status}`, false);
  }
  return r.ok;
}

function send(text) {
  if (!text.trim()) return;
  void post("/console/send", { text });
}

function press(messageId, data, btn) {
  btn.disabled = true;
  setTimeout(() => (btn.disabled = false), 1500);
  void post("/console/press", { messageId, data });
}

function connect() {
  const status = $("status");
  const es = new EventSource("/console/events");
  showLiveStatus(es, status);
  es.addEventListener("snapshot", (e) => {
    const s = JSON.parse(e.data);
    chat.replaceChildren();
    messages.clear();
    for (const m of s.messages) upsert(m);
    setKeyboard(s.keyboard);
    setCommands(s.commands);
    $("who").textContent = `${s.user.name} · admin · local operator`;
    chat.scrollTop = chat.scrollHeight;
    document.body.dataset.ready = "1";
  });
  es.addEventListener("message", (e) => upsert(JSON.parse(e.data).message));
  es.addEventListener("delete", (e) => {
    const id = JSON.parse(e.data).id;
    messages.get(id)?.remove();
    messages.delete(id);
  });
  es.addEventListener("keyboard", (e) => setKeyboard(JSON.parse(e.data).keyboard));
  es.addEventListener("commands", (e) => setCommands(JSON.parse(e.data).commands));
  es.addEventListener("action", () => setTyping(true));
  es.addEventListener("toast", (e) => {
    const t = JSON.parse(e.data);
    toast(t.text, t.alert);
  });
}

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("input");
  const text = input.value;
  input.value = "";
  $("command-list").hidden = true;
  send(text);
});
// A file goes with a caption, as on Telegram: what is typed, or /fleet import.
$("attach").addEventListener("click", () => $("file").click());
$("file").addEventListener("change", () => {
  const f = $("file").files[0];
  if (!f) return;
  const caption = $("input").value.trim() || "/fleet import";
  $("input").value = "";
  const reader = new FileReader();
  reader.onload = () => {
    const content = String(reader.result).slice(String(reader.result).indexOf(",") + 1);
    void post("/console/upload", { name: f.name, mime: f.type || "application/octet-stream", caption, content });
    $("file").value = "";
  };
  reader.readAsDataURL(f);
});
$("menu").addEventListener("click", () => {
  const menu = $("command-list");
  menu.hidden = !menu.hidden;
});
connect();
