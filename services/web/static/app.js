// The reference dashboard: plain JavaScript over the HTTP layer (which calls the gRPC API).
// No build step and nothing fetched from elsewhere: the chart library is served by the web service
// itself. Hovering a metric shows what it counts (ListWidgets' definitions).
"use strict";

const COLORS = ["#2680eb", "#e68619", "#2d9d78", "#9256d9", "#d7373f", "#6e6e6e", "#0fb5ae", "#f68511"];
const UI = {
  en: { custom: "Custom dates", last7: "Last 7 days", last30: "Last 30 days", lifetime: "Campaign lifetime",
        add: "Add a widget", left: "Move left", right: "Move right", up: "Move up", down: "Move down", narrower: "Narrower", wider: "Wider", shorter: "Shorter", taller: "Taller", remove: "Remove", view: "View", views: { graph: "Graph", table: "Table", donut: "Donut", funnel: "Funnel" },
        buckets: "Buckets", period: "Period", from: "From", to: "To", zone: "Time zone", granularity: "Buckets", minute: "1 min", "5min": "5 min", "15min": "15 min", onehour: "1 h", hour: "Hour", day: "Day", week: "Week", month: "Month", of: "of",
        campaign: "Campaign", window: "Window", live: "Live (last 24 h)", global: "Global", language: "Language",
        machine: "Count machine opens and clicks", edit: "Modify dashboard", done: "Done", save: "Save",
        reset: "Reset to default", export: "Export tab (CSV)", csv: "CSV",
        who: "Who?", whoTitle: "The profiles behind this row (CSV)",
        campaigns: "Campaigns", compare: "Compare", more: "More", pick: "Compare this campaign", saved: "Layout saved", conflict:
        "Someone saved this dashboard meanwhile: reloaded", heading: "Campaign report", updated: "Updated",
        tabs: { campaign: "Campaign", email: "Email", sms: "SMS", push: "Push", in_app: "In-app", web: "Web",
                direct_mail: "Direct mail", experiment: "Experiment", conversions: "Conversions" } },
  fr: { custom: "Dates choisies", last7: "7 derniers jours", last30: "30 derniers jours", lifetime: "Toute la campagne",
        add: "Ajouter un widget", left: "Déplacer à gauche", right: "Déplacer à droite", up: "Déplacer vers le haut", down: "Déplacer vers le bas", narrower: "Plus étroit", wider: "Plus large", shorter: "Moins haut", taller: "Plus haut", remove: "Retirer", view: "Affichage", views: { graph: "Graphique", table: "Tableau", donut: "Anneau", funnel: "Entonnoir" },
        buckets: "Intervalles", period: "Période prédéfinie", from: "Du", to: "Au", zone: "Fuseau horaire", granularity: "Intervalles", minute: "1 min", "5min": "5 min", "15min": "15 min", onehour: "1 h", hour: "Heure", day: "Jour", week: "Semaine", month: "Mois", of: "de",
        campaign: "Campagne", window: "Période", live: "En direct (24 h)", global: "Global", language: "Langue",
        machine: "Compter les ouvertures et clics automatiques", edit: "Modifier le tableau de bord", done: "Terminé",
        save: "Enregistrer", reset: "Rétablir par défaut", export: "Exporter l'onglet (CSV)", csv: "CSV",
        who: "Qui ?", whoTitle: "Les profils derrière cette ligne (CSV)",
        campaigns: "Campagnes", compare: "Comparer", more: "Plus", pick: "Comparer cette campagne",
        saved: "Disposition enregistrée", conflict: "Tableau de bord modifié entre-temps : rechargé",
        heading: "Rapport de campagne", updated: "Mis à jour",
        tabs: { campaign: "Campagne", email: "Email", sms: "SMS", push: "Push", in_app: "In-app", web: "Web",
                direct_mail: "Courrier", experiment: "Expérience", conversions: "Conversions" } },
  sv: { custom: "Egna datum", last7: "Senaste 7 dagarna", last30: "Senaste 30 dagarna", lifetime: "Hela kampanjen",
        add: "Lägg till en widget", left: "Flytta åt vänster", right: "Flytta åt höger", up: "Flytta upp", down: "Flytta ned", narrower: "Smalare", wider: "Bredare", shorter: "Lägre", taller: "Högre", remove: "Ta bort", view: "Visning", views: { graph: "Diagram", table: "Tabell", donut: "Ring", funnel: "Tratt" },
        buckets: "Intervall", period: "Förval", from: "Från", to: "Till", zone: "Tidszon", granularity: "Intervall", minute: "1 min", "5min": "5 min", "15min": "15 min", onehour: "1 tim", hour: "Timme", day: "Dag", week: "Vecka", month: "Månad", of: "av",
        campaign: "Kampanj", window: "Period", live: "Live (senaste 24 h)", global: "Global", language: "Språk",
        machine: "Räkna maskinöppningar och maskinklick", edit: "Ändra instrumentpanel", done: "Klar", save: "Spara",
        reset: "Återställ standard", export: "Exportera flik (CSV)", csv: "CSV",
        who: "Vilka?", whoTitle: "Profilerna bakom raden (CSV)",
        campaigns: "Kampanjer", compare: "Jämför", more: "Fler", pick: "Jämför den här kampanjen", saved: "Layouten sparad",
        conflict: "Någon sparade under tiden: laddades om", heading: "Kampanjrapport", updated: "Uppdaterad",
        tabs: { campaign: "Kampanj", email: "E-post", sms: "SMS", push: "Push", in_app: "In-app", web: "Webb",
                direct_mail: "Direktreklam", experiment: "Experiment", conversions: "Konverteringar" } },
  nl: { custom: "Eigen data", last7: "Laatste 7 dagen", last30: "Laatste 30 dagen", lifetime: "Hele campagne",
        add: "Widget toevoegen", left: "Naar links", right: "Naar rechts", up: "Omhoog", down: "Omlaag", narrower: "Smaller", wider: "Breder", shorter: "Lager", taller: "Hoger", remove: "Verwijderen", view: "Weergave", views: { graph: "Grafiek", table: "Tabel", donut: "Ring", funnel: "Trechter" },
        buckets: "Intervallen", period: "Vooraf ingestelde periode", from: "Van", to: "Tot", zone: "Tijdzone", granularity: "Intervallen", minute: "1 min", "5min": "5 min", "15min": "15 min", onehour: "1 u", hour: "Uur", day: "Dag", week: "Week", month: "Maand", of: "van",
        campaign: "Campagne", window: "Periode", live: "Live (laatste 24 u)", global: "Globaal", language: "Taal",
        machine: "Machine-opens en -kliks meetellen", edit: "Dashboard aanpassen", done: "Klaar", save: "Opslaan",
        reset: "Standaard herstellen", export: "Tabblad exporteren (CSV)", csv: "CSV",
        who: "Wie?", whoTitle: "De profielen achter deze rij (CSV)",
        campaigns: "Campagnes", compare: "Vergelijken", more: "Meer", pick: "Deze campagne vergelijken", saved: "Indeling opgeslagen",
        conflict: "Iemand sloeg intussen op: opnieuw geladen", heading: "Campagnerapport", updated: "Bijgewerkt",
        tabs: { campaign: "Campagne", email: "E-mail", sms: "Sms", push: "Push", in_app: "In-app", web: "Web",
                direct_mail: "Direct mail", experiment: "Experiment", conversions: "Conversies" } },
};

const state = {
  tab: "email", locale: "en", info: {}, labels: {}, layout: null, report: null, source: null, editing: false,
  campaigns: [],
  // "report" (a campaign's tab), "overview" (every campaign: the landing page) or "compare".
  view: "report", sort: { by: "sent", ascending: false }, compared: [],
};
const $ = (id) => document.getElementById(id);

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) {
    const error = new Error(body.error || response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

function status(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function query(extra) {
  const params = new URLSearchParams({
    campaign: $("campaign").value, tab: state.tab, locale: state.locale, window: $("window").value,
    machine: $("machine").checked ? "1" : "0", ...extra,
  });
  // One message or run of the campaign, when the page's address names it (`?message_id=`).
  for (const name of ["message_id", "currency"]) {  // passed on from the page's own address
    const value = new URLSearchParams(location.search).get(name);
    if (value) params.set(name, value);
  }
  if ($("window").value === "live") params.set("granularity", $("live-granularity").value);
  else {
    params.set("start", $("start").value);
    params.set("end", $("end").value);
    params.set("timezone", $("timezone").value);
    params.set("granularity", $("granularity").value);
  }
  return params.toString();
}

function number(value) {
  return new Intl.NumberFormat(state.locale, { maximumFractionDigits: 2 }).format(value);
}

function shown(metric) {
  if (metric.unit === "fraction") return percent(metric.value);
  if (metric.unit === "flag") return metric.value ? "✓" : "";
  if (metric.unit === "probability") return metric.value.toPrecision(2);
  if (metric.unit === "seconds") return duration(metric.value);
  if (metric.unit === "currency" && metric.currency) {
    return new Intl.NumberFormat(state.locale, { style: "currency", currency: metric.currency }).format(metric.value);
  }
  return number(metric.value);
}

// A duration in the two largest units that matter: "45 s", "3 min 20 s", "2 h 5 min", "3 d 4 h".
function duration(seconds) {
  const units = [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]];
  const parts = [];
  let rest = Math.round(seconds);
  for (const [name, size] of units) {
    if (rest >= size || (name === "s" && !parts.length)) {
      parts.push(`${Math.floor(rest / size)} ${name}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

function percent(rate) {
  return new Intl.NumberFormat(state.locale, { style: "percent", maximumFractionDigits: 1 }).format(rate);
}

function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  // Styles go through the CSSOM: the page's Content-Security-Policy refuses style attributes.
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === "style") node.style.cssText = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// What a metric of a widget counts, from ListWidgets' definitions, with its formula: shown on hover.
function definition(info, metricId) {
  const metric = (info.metrics || []).find((m) => m.id === metricId);
  if (!metric) return "";
  const own = Object.fromEntries(info.metrics.map((m) => [m.id, m.label]));
  const label = (id) => own[id] || state.labels[id] || id;
  const formula = metric.numeratorId ? ` = ${label(metric.numeratorId)} / ${label(metric.baseId)}` : "";
  const rate = metric.rateBaseId ? ` (% : ${label(metric.rateBaseId)})` : "";
  return `${metric.definition}${formula}${rate}`;
}

function heading(info, metric) {
  return element("span", { title: definition(info, metric.id), "data-metric": metric.id }, metric.label);
}

function tiles(metrics, info) {
  return element("div", { class: "tiles" }, ...metrics.map((m) => element("div",
    { class: "tile", "data-metric": m.id, "data-value": String(m.value), title: definition(info, m.id) },
    element("div", { class: "value" }, shown(m)),
    element("div", { class: "label" }, m.label),
    element("div", { class: "rate" }, m.rate === undefined ? "" : percent(m.rate)))));
}

function table(headers, rows) {
  return element("table", {},
    element("thead", {}, element("tr", {}, ...headers.map((h) => element("th", {}, h)))),
    element("tbody", {}, ...rows.map((cells) => element("tr", {}, ...cells.map((c) => element("td", {}, c))))));
}

// Charts are Apache ECharts (static/vendor/echarts.min.js, installed by `make`), drawn on a
// canvas, with an element-built tooltip and the chart's name for screen readers. A chart lives across renders (a new report updates it in
// place): `chart` gives its node, `drawCharts` draws every chart of the render once the nodes are
// in the page, and disposes of the charts the render no longer shows.
const charts = new Map();  // key (widget and view) -> { node, instance, option }
let drawn = new Set();

function chart(key, label, option) {
  let entry = charts.get(key);
  if (!entry) {
    entry = { node: element("div", { class: "chart", role: "img" }), instance: null };
    charts.set(key, entry);
  }
  entry.node.setAttribute("aria-label", label);
  entry.option = option;
  drawn.add(key);
  return entry.node;
}

function drawCharts() {
  for (const [key, entry] of charts) {
    if (!drawn.has(key)) {
      if (entry.instance) entry.instance.dispose();
      charts.delete(key);
      continue;
    }
    if (!entry.instance) entry.instance = echarts.init(entry.node, null, { renderer: "canvas" });
    else if (entry.instance.getWidth() !== entry.node.clientWidth || entry.instance.getHeight() !== entry.node.clientHeight) {
      entry.instance.resize();
    }
    // A chart whose data, language and zone are those it shows is not drawn again.
    const signature = JSON.stringify([entry.option, state.locale, windowZone()]);
    if (signature === entry.signature) continue;
    entry.signature = signature;
    // Drawn on the next frame: the tiles and tables of a new report show at once.
    entry.instance.setOption({
      animation: false, color: COLORS, textStyle: { fontFamily: "inherit" }, ...entry.option,
    }, { notMerge: true, lazyUpdate: true });
  }
  drawn = new Set();
}

// A tooltip built as elements: ECharts' own is HTML with style attributes, which the page's
// Content-Security-Policy refuses (styles set through the CSSOM are allowed).
function tooltip(params) {
  const list = Array.isArray(params) ? params : [params];
  const first = list[0];
  const head = typeof first.axisValue === "number"
    ? new Intl.DateTimeFormat(state.locale, { timeZone: windowZone(), dateStyle: "medium", timeStyle: "short" })
      .format(first.axisValue)
    : first.axisValueLabel || first.seriesName || "";
  return element("div", { class: "tooltip" }, element("div", { class: "tooltip-head" }, head),
    ...list.map((p) => {
      const value = Array.isArray(p.value) ? p.value[1] : p.value;
      const name = p.componentSubType === "pie" || !Array.isArray(p.value) && p.name && list.length === 1
        ? p.name : p.seriesName;
      const share = p.componentSubType === "pie" ? ` (${percent(p.percent / 100)})` : "";
      return element("div", { class: "tooltip-row" }, element("i", { style: `background:${p.color}` }),
        element("span", {}, name), element("b", {}, `${number(value)}${share}`));
    }));
}

function donut(key, label, parts) {
  return chart(key, label, {
    tooltip: { trigger: "item", formatter: tooltip },
    legend: { type: "scroll", bottom: 0 },
    series: [{
      type: "pie", radius: ["42%", "68%"], center: ["50%", "45%"], avoidLabelOverlap: true,
      label: { formatter: (p) => `${p.name}: ${percent(p.percent / 100)}` },
      data: parts.map(([name, value]) => ({ name, value })),
    }],
  });
}

function bars(key, label, parts) {
  return chart(key, label, {
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, formatter: tooltip },
    grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
    xAxis: { type: "value", axisLabel: { formatter: number } },
    yAxis: { type: "category", inverse: true, data: parts.map(([name]) => name),
             axisLabel: { width: 160, overflow: "truncate" } },
    series: [{ type: "bar", data: parts.map(([, value]) => value) }],
  });
}

// A funnel: each step drawn as wide as its value, labelled with its value and its rate against
// the step before (the API's rate and rate base).
function funnel(key, label, metrics) {
  const words = UI[state.locale];
  const names = Object.fromEntries(metrics.map((m) => [m.id, m.label]));
  const step = (m) => `${m.label}: ${number(m.value)}`
    + (m.rate === undefined ? "" : ` · ${percent(m.rate)} ${words.of} ${names[m.rateBaseId] || m.rateBaseId}`);
  return chart(key, label, {
    tooltip: { trigger: "item", formatter: tooltip },
    series: [{
      type: "funnel", sort: "none", left: 8, right: "45%", top: 8, bottom: 8, minSize: "6%", gap: 3,
      label: { position: "right", formatter: (p) => step(metrics[p.dataIndex]) },
      labelLine: { show: true },
      data: metrics.map((m) => ({ name: m.label, value: m.value })),
    }],
  });
}

// The zone a window's buckets are read in: the range's, or the viewer's for the live window.
function windowZone() {
  return $("window").value === "range" ? $("timezone").value : Intl.DateTimeFormat().resolvedOptions().timeZone;
}

// Counts per date read as stacked bars: what became of the messages (delivered, bounced, failed)
// stacked under a line of the first series (sent).
function timeSeries(widget, stacked) {
  const zone = windowZone();
  const day = new Intl.DateTimeFormat(state.locale, { timeZone: zone, month: "short", day: "numeric" });
  const hour = new Intl.DateTimeFormat(state.locale, { timeZone: zone, hour: "2-digit", minute: "2-digit" });
  const tick = (value) => ($("window").value === "range" && $("granularity").value !== "hour"
    ? day.format(value) : `${hour.format(value)}\n${day.format(value)}`);
  return chart(`${widget.id}:graph`, widget.title, {
    tooltip: { trigger: "axis", formatter: tooltip },
    legend: { type: "scroll", top: 0 },
    grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
    xAxis: { type: "time", axisLabel: { formatter: tick, hideOverlap: true, lineHeight: 14 } },
    yAxis: { type: "value", minInterval: 1, axisLabel: { formatter: number } },
    series: widget.series.map((s, index) => ({
      name: s.label, type: stacked && index > 0 ? "bar" : "line", stack: stacked && index > 0 ? "outcomes" : undefined,
      showSymbol: false, emphasis: { focus: "series" }, data: s.at.map((at, i) => [at * 1000, s.values[i]]),
    })),
  });
}

// A breakdown row's recipients (ListRecipients as CSV): the link ListWidgets describes, filled
// with the row's key and the page's window.
function whoLink(link, row) {
  const key = (name, prefix) => name.replace(prefix, "").toLowerCase();
  const extra = { type: key(link.eventType, "EVENT_TYPE_"), [link.keyField]: row.key };
  if (link.channel !== "CHANNEL_UNSPECIFIED") extra.channel = key(link.channel, "CHANNEL_");
  const words = UI[state.locale];
  return element("a", { href: `/api/recipients.csv?${query(extra)}`, download: "", "data-action": "who",
                        title: words.whoTitle }, words.who);
}

function body(widget, info, view) {
  if (info.kind === "WIDGET_KIND_KPI") {
    if (view === "funnel") return funnel(`${widget.id}:funnel`, widget.title, widget.metrics);
    if (view === "donut") return donut(`${widget.id}:donut`, widget.title, widget.metrics.map((m) => [m.label, m.value]));
    return tiles(widget.metrics, info);
  }
  if (info.kind === "WIDGET_KIND_ROWS") {
    const first = (row) => (row.metrics[0] ? row.metrics[0].value : 0);
    const parts = widget.rows.map((r) => [r.label, first(r)]);
    if (view === "donut") return donut(`${widget.id}:donut`, widget.title, parts);
    if (view === "graph") return bars(`${widget.id}:graph`, widget.title, parts);
    const headers = ["", ...(widget.rows[0] ? widget.rows[0].metrics.map((m) => heading(info, m)) : [])];
    const who = info.recipients ? (r) => [whoLink(info.recipients, r)] : () => [];
    return table(info.recipients ? [...headers, ""] : headers, widget.rows.map((r) => [r.label, ...r.metrics.map((m) =>
      m.rate === undefined ? shown(m) : `${shown(m)} (${percent(m.rate)})`), ...who(r)]));
  }
  if (view === "table") {  // the buckets where something happened
    const at = widget.series[0] ? widget.series[0].at : [];
    const busy = at.map((_, i) => i).filter((i) => widget.series.some((s) => s.values[i]));
    return table(["", ...widget.series.map((s) => s.label)],
      busy.map((i) => [new Date(at[i] * 1000).toLocaleString(state.locale),
        ...widget.series.map((s) => number(s.values[i]))]));
  }
  if (view === "donut") {
    const totals = widget.series.map((s) => [s.label, s.values.reduce((sum, v) => sum + v, 0)]);
    return donut(`${widget.id}:donut`, widget.title, totals);
  }
  return timeSeries(widget, widget.id.endsWith("_by_date"));
}

// The views a widget offers: a funnel only draws a widget's own metrics in order (KPI widgets).
function viewsOf(info) {
  return info.kind === "WIDGET_KIND_KPI" ? ["table", "donut", "funnel"] : ["graph", "table", "donut"];
}

function placementOf(id) {
  return state.layout.placements.find((p) => p.widgetId === id);
}

// Where a widget goes when it is added: below every other one, in its kind's default size.
const ADDED_SIZE = { WIDGET_KIND_KPI: [6, 3], WIDGET_KIND_ROWS: [6, 4], WIDGET_KIND_SERIES: [12, 4] };

function addPlacement(widgetId) {
  const info = state.info[widgetId];
  const bottom = Math.max(0, ...state.layout.placements.map((p) => p.y + p.height));
  const [width, height] = ADDED_SIZE[info.kind];
  const view = info.kind === "WIDGET_KIND_SERIES" ? "graph" : "table";
  state.layout.placements.push({ widgetId, x: 0, y: bottom, width, height, view });
}

// Moving a widget onto another (by dragging) swaps their places.
function swap(first, second) {
  for (const field of ["x", "y", "width", "height"]) [first[field], second[field]] = [second[field], first[field]];
}

function card(placement) {
  const info = state.info[placement.widgetId];
  const widget = (state.report.widgets || []).find((w) => w.id === placement.widgetId);
  if (!info || !widget) return null;
  const words = UI[state.locale];
  const edit = element("div", { class: "edit" });
  const views = element("select", { "aria-label": words.view, "data-action": "view" },
    ...viewsOf(info).map((v) => {
      const option = element("option", { value: v }, words.views[v]);
      if (v === placement.view) option.selected = true;
      return option;
    }));
  views.onchange = () => { placement.view = views.value; render(); };
  // Buttons are reached with Tab and pressed with Enter or Space: every change works by keyboard.
  const button = (label, action, change) => {
    const b = element("button", { "data-action": action, title: words[action], "aria-label": words[action] }, label);
    b.onclick = () => { change(); render(); document.querySelector(`[data-widget="${widget.id}"] [data-action="${action}"]`)?.focus(); };
    return b;
  };
  edit.append(views,
    button("←", "left", () => { placement.x = Math.max(0, placement.x - 1); }),
    button("→", "right", () => { placement.x = Math.min(12 - placement.width, placement.x + 1); }),
    button("↑", "up", () => { placement.y = Math.max(0, placement.y - 1); }),
    button("↓", "down", () => { placement.y += 1; }),
    button("↔−", "narrower", () => { placement.width = Math.max(1, placement.width - 1); }),
    button("↔+", "wider", () => { placement.width = Math.min(12 - placement.x, placement.width + 1); }),
    button("↕−", "shorter", () => { placement.height = Math.max(1, placement.height - 1); }),
    button("↕+", "taller", () => { placement.height = Math.min(48, placement.height + 1); }),
    button("✕", "remove", () => {
      state.layout.placements = state.layout.placements.filter((p) => p !== placement);
    }));
  const csv = element("a", { href: `/api/export.csv?${query({ widget: widget.id })}`, download: "",
                             "data-action": "csv" }, UI[state.locale].csv);
  const node = element("section", {
    class: `widget kind-${info.kind.replace("WIDGET_KIND_", "").toLowerCase()}`, "data-widget": widget.id,
    "data-view": placement.view, "data-width": placement.width, "data-height": placement.height,
    "data-x": placement.x, "data-y": placement.y, "data-window-start": widget.windowStart || "",
    "aria-label": widget.title,
    style: `grid-column: ${placement.x + 1} / span ${placement.width}; grid-row: ${placement.y + 1} / span ${placement.height}`,
  }, edit, element("h2", {}, widget.title), element("div", { class: "description" }, widget.description),
     body(widget, info, placement.view), element("footer", {}, csv));
  if (state.editing) {
    node.draggable = true;
    node.ondragstart = (event) => event.dataTransfer.setData("text/plain", widget.id);
    node.ondragover = (event) => event.preventDefault();
    node.ondrop = (event) => {
      event.preventDefault();
      const dragged = placementOf(event.dataTransfer.getData("text/plain"));
      if (dragged && dragged !== placement) { swap(dragged, placement); render(); }
    };
  }
  return node;
}

// The tab's widgets the layout does not show, to add in "Modify dashboard".
function renderAddable() {
  const words = UI[state.locale];
  const shown = new Set(state.layout.placements.map((p) => p.widgetId));
  const addable = Object.values(state.info).filter((w) => w.tab === state.tab && !shown.has(w.id));
  const select = $("add-widget");
  select.replaceChildren(element("option", { value: "" }, words.add),
    ...addable.map((w) => element("option", { value: w.id }, w.title)));
  select.hidden = !state.editing || addable.length === 0;
}

function render() {
  const grid = $("grid");
  grid.replaceChildren(...state.layout.placements.map(card).filter(Boolean));
  drawCharts();
  renderAddable();
  $("export-tab").href = `/api/export.csv?${query({})}`;
  $("export-tab").setAttribute("download", "");
}

function translateChrome() {
  const words = UI[state.locale];
  document.documentElement.lang = state.locale;
  for (const node of document.querySelectorAll("[data-text]")) node.textContent = words[node.dataset.text];
  for (const node of document.querySelectorAll("[data-aria]")) node.setAttribute("aria-label", words[node.dataset.aria]);
  $("edit").textContent = state.editing ? words.done : words.edit;
  $("tabs").replaceChildren(...Object.keys(words.tabs).map((tab) => {
    const b = element("button", { "data-tab": tab, class: tab === state.tab ? "active" : "" }, words.tabs[tab]);
    b.onclick = () => { state.tab = tab; load(); };
    return b;
  }));
}

function watch() {
  if (state.source) state.source.close();
  state.source = null;
  if ($("window").value !== "live") return;
  const source = new EventSource(`/api/watch?${query({})}`);
  source.onmessage = (event) => {
    const report = JSON.parse(event.data);
    // The stream's first report is usually the one just loaded: drawing it again would only
    // close an open tooltip.
    const changed = JSON.stringify(report.widgets) !== JSON.stringify(state.report && state.report.widgets);
    state.report = report;
    if (changed) render();
    status(`${UI[state.locale].updated} ${new Date(state.report.asOf).toLocaleTimeString(state.locale)}`);
  };
  source.addEventListener("failure", (event) => status(JSON.parse(event.data).error, true));
  state.source = source;
}

// The tenant's campaigns with their headline figures (GetTenantOverview), sortable by any column;
// a campaign opens its report, and up to three can be compared.
async function loadOverview(pageToken) {
  const words = UI[state.locale];
  const overview = await api(`/api/overview?${query({ sort_by: state.sort.by, ascending: state.sort.ascending ? "1" : "0",
                                                       page_token: pageToken || "" })}`);
  const first = overview.campaigns[0];
  const sortButton = (id, label) => {
    const b = element("button", { "data-sort": id, class: state.sort.by === id ? "active" : "" }, label);
    b.onclick = () => {
      state.sort = { by: id, ascending: state.sort.by === id ? !state.sort.ascending : id === "campaign_id" };
      load();
    };
    return b;
  };
  const headers = [sortButton("campaign_id", words.campaign),
                   ...(first ? first.metrics.map((m) => sortButton(m.id, m.label)) : []), words.compare];
  const rows = overview.campaigns.map((c) => {
    const open = element("button", { "data-campaign": c.campaignId, class: "link" }, c.campaignId);
    open.onclick = () => { $("campaign").value = c.campaignId; state.view = "report"; load(); };
    const pick = element("input", { type: "checkbox", "data-compare": c.campaignId, "aria-label": words.pick });
    pick.checked = state.compared.includes(c.campaignId);
    pick.onchange = () => {
      state.compared = pick.checked ? [...state.compared, c.campaignId].slice(-3)
        : state.compared.filter((id) => id !== c.campaignId);
      for (const box of document.querySelectorAll("[data-compare]")) box.checked = state.compared.includes(box.dataset.compare);
      $("compare").disabled = state.compared.length === 0;
    };
    const cell = (m) => element("span", { "data-metric": m.id, "data-value": String(m.value) },
      m.rate === undefined ? shown(m) : `${shown(m)} (${percent(m.rate)})`);
    return [open, ...c.metrics.map(cell), pick];
  });
  const list = table(headers, rows);
  list.id = "overview";
  const more = element("button", { id: "more" }, words.more);
  more.hidden = !overview.nextPageToken;
  more.onclick = async () => { more.remove(); await loadOverview(overview.nextPageToken); };
  if (pageToken) $("overview").querySelector("tbody").append(...list.querySelectorAll("tbody tr"));
  else $("grid").replaceChildren(element("section", { class: "widget overview" }, list));
  $("grid").firstChild.append(more);
  $("compare").disabled = state.compared.length === 0;
  status(`${overview.totalCampaigns} ${words.campaigns.toLowerCase()}`);
}

// The tab's KPI widgets of the compared campaigns side by side (CompareCampaigns).
async function loadCompare() {
  const comparison = await api(`/api/compare?${query({ campaigns: state.compared.join(",") })}`);
  $("grid").replaceChildren(...comparison.campaigns.map((c) => element("section", { class: "widget compared", "data-compared": c.campaignId },
    element("h2", {}, c.campaignId),
    ...c.widgets.map((w) => element("div", { "data-widget": w.id }, element("h3", {}, w.title), tiles(w.metrics, state.info[w.id] || {}))))));
  status("");
}

function showView() {
  const report = state.view === "report";
  $("tabs").hidden = state.view === "overview";
  for (const id of ["edit", "export-tab"]) $(id).hidden = !report;
  $("campaign").disabled = !report;
  $("overview-button").classList.toggle("active", state.view === "overview");
}

async function load() {
  state.locale = $("locale").value;
  translateChrome();
  showView();
  if (state.view !== "report") {
    if (state.source) state.source.close();
    state.source = null;
    $("range-controls").hidden = $("window").value !== "range";
    $("live-granularity").hidden = $("window").value !== "live";
    try {
      const widgets = await api(`/api/widgets?locale=${state.locale}`);
      state.info = Object.fromEntries(widgets.widgets.map((w) => [w.id, w]));
      await (state.view === "overview" ? loadOverview() : loadCompare());
    } catch (error) {
      status(error.message, true);
    }
    return;
  }
  $("range-controls").hidden = $("window").value !== "range";
  $("live-granularity").hidden = $("window").value !== "live";
  // Who the user is, the server decides (its identity setting); `user` in the page's address is
  // passed on and only honoured where a development setting allows it.
  const user = new URLSearchParams(location.search).get("user") || "";
  try {
    const [widgets, layout, report] = await Promise.all([
      api(`/api/widgets?locale=${state.locale}`),
      api(`/api/dashboard?tab=${state.tab}&user=${encodeURIComponent(user)}`),
      api(`/api/report?${query({})}`),
    ]);
    state.info = Object.fromEntries(widgets.widgets.map((w) => [w.id, w]));
    state.labels = Object.fromEntries(widgets.widgets.flatMap((w) => (w.metrics || []).map((m) => [m.id, m.label])));
    state.layout = layout;
    state.report = report;
    state.user = user;
    render();
    status("");
    watch();
  } catch (error) {
    status(error.message, true);
  }
}

async function save() {
  try {
    state.layout = await api(`/api/dashboard?tab=${state.tab}&user=${encodeURIComponent(state.user)}`, {
      method: "PUT", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ placements: state.layout.placements, revision: Number(state.layout.revision || 0) }),
    });
    status(UI[state.locale].saved);
  } catch (error) {
    if (error.status === 409) {
      status(UI[state.locale].conflict, true);
      return load();
    }
    status(error.message, true);
  }
}

async function reset() {
  state.layout = await api(`/api/dashboard?tab=${state.tab}&user=${encodeURIComponent(state.user)}`,
                           { method: "DELETE" });
  render();
}

// A date (YYYY-MM-DD) as the calendar reads it in `zone`.
function dateIn(zone, moment) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" })
    .format(moment);
}

// Period presets set the dates (in the chosen zone); editing a date makes the period custom.
function applyPreset() {
  const preset = $("preset").value;
  const zone = $("timezone").value;
  const day = 86400000;
  const now = new Date();
  if (preset === "last7" || preset === "last30") {
    $("start").value = dateIn(zone, new Date(now.getTime() - (preset === "last7" ? 6 : 29) * day));
    $("end").value = dateIn(zone, new Date(now.getTime() + day));
  } else if (preset === "lifetime") {
    const campaign = state.campaigns.find((c) => c.campaignId === $("campaign").value);
    if (campaign) {
      $("start").value = dateIn(zone, new Date(campaign.firstEventAt));
      $("end").value = dateIn(zone, new Date(new Date(campaign.lastEventAt).getTime() + day));
    }
  }
}

async function init() {
  const config = await api("/api/config");
  const campaigns = (await api("/api/campaigns")).campaigns;
  state.campaigns = campaigns;
  const params = new URLSearchParams(location.search);
  $("campaign").replaceChildren(...campaigns.map((c) => element("option", { value: c.campaignId }, c.campaignId)));
  if (params.get("campaign")) $("campaign").value = params.get("campaign");
  // The page opens in the browser's language when it is one of the four (or in `?locale=`).
  const languages = [params.get("locale") || "", ...(navigator.languages || [navigator.language])];
  $("locale").value = languages.map((l) => l.slice(0, 2).toLowerCase()).find((l) => UI[l]) || "en";
  $("heading").dataset.tenant = config.tenant;
  const zones = ["UTC", Intl.DateTimeFormat().resolvedOptions().timeZone, "Europe/Paris", "America/New_York",
                 "Asia/Kolkata", "Asia/Kathmandu", "Australia/Sydney"];
  $("timezone").replaceChildren(...[...new Set(zones)].map((z) => element("option", { value: z }, z)));
  const today = new Date();
  $("end").value = new Date(today.getTime() + 86400000).toISOString().slice(0, 10);
  $("start").value = new Date(today.getTime() - 29 * 86400000).toISOString().slice(0, 10);
  const controls = ["campaign", "window", "live-granularity", "start", "end", "timezone", "granularity", "locale",
                    "machine"];
  for (const id of controls) {
    $(id).onchange = load;
  }
  $("edit").onclick = () => {
    state.editing = !state.editing;
    document.body.classList.toggle("editing", state.editing);
    $("save").hidden = $("reset").hidden = !state.editing;
    translateChrome();
    render();
  };
  $("preset").onchange = () => { applyPreset(); load(); };
  for (const id of ["start", "end"]) $(id).addEventListener("change", () => { $("preset").value = "custom"; });
  $("add-widget").onchange = () => {
    if ($("add-widget").value) addPlacement($("add-widget").value);
    render();
  };
  $("save").onclick = save;
  $("reset").onclick = reset;
  $("overview-button").onclick = () => { state.view = "overview"; load(); };
  $("compare").onclick = () => { state.view = "compare"; load(); };
  // Without a campaign in its address, the page opens on the list of every campaign.
  state.view = params.get("campaign") ? "report" : "overview";
  await load();
}

init();
