// carwatch dashboards: the list, or one dashboard's panels pushed over SSE.
// Charts arrive as SVG and are shown through <img> data URLs (no script runs in them);
// tables are built with textContent.
const main = $("main");
const status = $("status");
const id = decodeURIComponent(location.pathname.replace(/^\/dashboards\/?/, "").replace(/\/$/, ""));

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

async function showList() {
  main.className = "list";
  $("title").textContent = "All dashboards";
  const r = await fetch("/dashboards/api/list", { credentials: "same-origin" });
  const data = await r.json();
  status.dataset.state = "live";
  status.textContent = "ready";
  for (const d of data.dashboards) {
    const a = el("a", "card");
    a.href = d.source === "builtin" ? `/dashboards/${encodeURIComponent(d.id)}` : d.url;
    if (d.source !== "builtin") {
      a.target = "_blank";
      a.rel = "noopener noreferrer";
    }
    a.append(el("div", "source", d.source === "builtin" ? "built-in · live" : "Superset"), el("h2", "", d.title), el("div", "note", d.description));
    main.appendChild(a);
  }
  if (data.superset.configured && !data.superset.ok) main.appendChild(el("div", "card error", data.superset.error));
  if (!data.superset.configured)
    main.appendChild(el("div", "updated", "Set SUPERSET_URL (with SUPERSET_USER and SUPERSET_PASSWORD) to list Superset's dashboards here too."));
  document.body.dataset.ready = "1";
}

function renderTable(t) {
  const table = el("table");
  const head = el("tr");
  for (const c of t.columns) head.appendChild(el("th", "", c));
  table.appendChild(head);
  for (const row of t.rows) {
    const tr = el("tr");
    for (const v of row) tr.appendChild(el("td", typeof v === "number" ? "num" : "", String(v)));
    table.appendChild(tr);
  }
  return table;
}

function renderPanels(data) {
  $("title").textContent = data.title;
  document.title = `${data.title} · carwatch`;
  const cards = data.panels.map((p) => {
    const card = el("section", "card");
    card.dataset.panel = p.id;
    card.appendChild(el("h2", "", p.title));
    if (p.error) card.appendChild(el("div", "error", p.error));
    if (p.svg) {
      const img = el("img", "chart");
      img.alt = p.title;
      img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(p.svg)}`;
      card.appendChild(img);
    }
    if (p.table) card.appendChild(renderTable(p.table));
    if (p.note) card.appendChild(el("div", "note", p.note));
    return card;
  });
  main.replaceChildren(...cards, el("div", "updated", `updated ${new Date(data.at).toLocaleTimeString()} · refreshes live`));
  document.body.dataset.ready = "1";
  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
}

function showDashboard() {
  main.className = "board";
  const es = new EventSource(`/dashboards/api/${encodeURIComponent(id)}/events`);
  showLiveStatus(es, status);
  es.addEventListener("panels", (e) => renderPanels(JSON.parse(e.data)));
}

if (id) showDashboard();
else void showList();
