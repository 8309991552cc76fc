"""Self-contained HTML pages: a markdown report with its plots inlined, and a sample browser.

One file, no server and no network: the plots are data URIs, the samples a JSON block in the
page, the script and styles inline. It opens from a shared filesystem as it is.

The sample browser shows one page of rows at a time (`PAGE` rows; nothing else is put in the
DOM), filtered by the values of the dataset's filter fields and a text search; a row opens its
detail: labelled texts, long ones folded. The page's state lives in the URL's fragment
(`#benchmark=hle&verdict=incorrect&page=2&open=0`; `only=samples` hides the report above
it), so a view can be linked, and a headless browser can load one (tests/test_html_report.py).

Model output is shown as text, never as markup: the script sets `textContent` only, and the
JSON block escapes `<`, so no sample can close it.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

PAGE = 50  # rows per page of the sample browser

# The texts every sample browser opens a sample to first (field, heading, folded); each page
# adds its own after them.
SAMPLE_TEXTS = [
    ("question", "Question", False),
    ("answer", "Reference answer", False),
    ("reasoning", "Reasoning", True),
    ("content", "Final content", False),
    ("extracted", "Extracted answer", False),
]


def markdown_html(text: str, images_dir: Path | None = None) -> str:
    """Markdown (CommonMark with tables) as HTML; `![x](plots/NAME.png)` images inlined as data
    URIs from `images_dir` (a missing file stays a link)."""
    from markdown_it import MarkdownIt

    out = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    if images_dir is None:
        return out

    def inline(m: re.Match) -> str:
        src = html.unescape(m.group(1))
        path = images_dir / Path(src).name
        if not path.is_file() or path.suffix.lower() != ".png":
            return m.group(0)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'src="data:image/png;base64,{data}"'

    return re.sub(r'src="([^"]+)"', inline, out)


def _json_block(element_id: str, obj: object) -> str:
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c")  # no `</script>` inside the block
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def dataset(
    rows: list[dict],
    *,
    filters: list[tuple[str, str]],
    columns: list[tuple[str, str]],
    detail: list[tuple[str, str, bool]],
) -> dict:
    """A browser dataset: `filters` and `columns` are (field, heading); `detail` is (field,
    heading, folded) for the texts a row opens to. Values are shown as text; long texts are
    shortened (`shorten`)."""
    fields = {f for f, _ in filters} | {f for f, _ in columns} | {f for f, _, _ in detail}
    return {
        "filters": [list(f) for f in filters],
        "columns": [list(c) for c in columns],
        "detail": [list(d) for d in detail],
        "rows": [
            {k: _plain(r.get(k)) for k in sorted(fields) if r.get(k) is not None} for r in rows
        ],
    }


def _plain(value: object) -> object:
    if isinstance(value, str):
        return shorten(value)
    if isinstance(value, int | float | bool):
        return value
    return shorten(json.dumps(value, ensure_ascii=False, sort_keys=True))


# A page holds every sample, so one long text must not make it unloadable: a reasoning model's
# thinking runs to tens of thousands of characters. Longer texts show their start and end and
# say how much was left out (the whole text stays in the stage's data.jsonl).
TEXT_HEAD, TEXT_TAIL = 3000, 5000


def shorten(text: str, head: int = TEXT_HEAD, tail: int = TEXT_TAIL) -> str:
    """`text`, or its first `head` and last `tail` characters with the cut said between them."""
    if len(text) <= head + tail + 200:
        return text
    cut = len(text) - head - tail
    return (
        f"{text[:head]}\n\n[... {cut:,} characters left out here; the whole text is in "
        f"data.jsonl ...]\n\n{text[-tail:]}"
    )


def page(title: str, body_html: str, data: dict | None = None, note: str = "") -> str:
    """The whole page: the report's HTML, then the sample browser over `data` (if any)."""
    browser = ""
    if data is not None:
        browser = (
            '<h2 id="samples">Samples</h2>'
            f"<p>{html.escape(note)}</p>"
            '<div id="filters"></div><div id="pager"></div>'
            '<table id="rows"><thead></thead><tbody></tbody></table>'
            + _json_block("samples-data", data)
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        '<div id="js-errors" hidden></div>'
        + (
            '<p><a href="#samples">Samples</a>: every sample, filtered and opened one by one '
            "(below the report).</p>"
            if data is not None
            else ""
        )
        + f'<div id="report">{body_html}</div>{browser}'
        + f"<script>const PAGE = {PAGE};\n{_JS}</script></body></html>\n"
    )


_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
img { max-width: 100%; }
code { background: #f5f5f5; padding: 0 3px; }
#filters label { margin-right: 1em; display: inline-block; margin-bottom: .4em; }
#rows tbody tr.row { cursor: pointer; }
#rows tbody tr.row:hover { background: #eef5ff; }
#rows tbody tr.open-row { background: #e4efff; }
.detail dt { font-weight: 600; margin-top: .6em; }
.detail dd { margin: .2em 0 0 0; }
.detail pre { white-space: pre-wrap; word-break: break-word; background: #fafafa; border: 1px solid #eee; padding: .5em; margin: 0; max-height: 30em; overflow: auto; }
#js-errors { color: #b00; font-weight: 600; }
"""

_JS = r"""
window.addEventListener("error", (e) => {
  const box = document.getElementById("js-errors");
  box.hidden = false;
  box.textContent += "JavaScript error: " + e.message + "\n";
});
(function () {
  const block = document.getElementById("samples-data");
  if (!block) return;
  const data = JSON.parse(block.textContent);
  const state = { page: 0, open: -1, q: "", f: {} };
  const fromHash = () => {
    const p = new URLSearchParams(location.hash.slice(1));
    state.f = {};
    for (const [field] of data.filters) if (p.has(field)) state.f[field] = p.get(field);
    state.q = p.get("q") || "";
    state.page = Math.max(0, parseInt(p.get("page") || "1", 10) - 1);
    state.open = p.has("open") ? parseInt(p.get("open"), 10) : -1;
  };
  const toHash = () => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(state.f)) if (v !== "") p.set(k, v);
    if (state.q) p.set("q", state.q);
    if (state.page) p.set("page", String(state.page + 1));
    if (state.open >= 0) p.set("open", String(state.open));
    if (new URLSearchParams(location.hash.slice(1)).get("only")) p.set("only", "samples");
    history.replaceState(null, "", "#" + p.toString());
  };
  const text = (v) => (v === undefined || v === null ? "" : String(v));
  const el = (tag, props, kids) => {
    const e = document.createElement(tag);
    Object.assign(e, props || {});
    for (const k of kids || []) e.append(k);
    return e;
  };
  const filtersBox = document.getElementById("filters");
  const controls = {};
  for (const [field, heading] of data.filters) {
    const values = [...new Set(data.rows.map((r) => text(r[field])))].sort();
    const select = el("select", { id: "filter-" + field });
    select.append(el("option", { value: "", textContent: "(all)" }));
    for (const v of values) select.append(el("option", { value: v, textContent: v === "" ? "(none)" : v }));
    select.addEventListener("change", () => { state.f[field] = select.value; state.page = 0; state.open = -1; render(); });
    controls[field] = select;
    filtersBox.append(el("label", {}, [heading + " ", select]));
  }
  const search = el("input", { id: "filter-q", type: "search", placeholder: "text in question or answer" });
  search.addEventListener("input", () => { state.q = search.value; state.page = 0; state.open = -1; render(); });
  filtersBox.append(el("label", {}, ["search ", search]));
  const head = document.querySelector("#rows thead");
  head.append(el("tr", {}, data.columns.map(([, h]) => el("th", { textContent: h }))));
  const body = document.querySelector("#rows tbody");
  const pager = document.getElementById("pager");
  const matches = (r) => {
    for (const [k, v] of Object.entries(state.f)) if (v !== "" && text(r[k]) !== v) return false;
    if (!state.q) return true;
    const q = state.q.toLowerCase();
    return data.detail.some(([k]) => text(r[k]).toLowerCase().includes(q));
  };
  const detail = (r) => {
    const dl = el("dl", { className: "detail" });
    for (const [field, heading, folded] of data.detail) {
      if (r[field] === undefined) continue;
      const pre = el("pre", { textContent: text(r[field]) });
      dl.append(el("dt", { textContent: heading }));
      dl.append(el("dd", {}, [folded ? el("details", {}, [el("summary", { textContent: "show (" + text(r[field]).length + " characters)" }), pre]) : pre]));
    }
    return dl;
  };
  function render() {
    for (const [field] of data.filters) controls[field].value = state.f[field] || "";
    search.value = state.q;
    const shown = data.rows.filter(matches);
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * PAGE;
    const slice = shown.slice(start, start + PAGE);
    body.replaceChildren();
    slice.forEach((r, i) => {
      const tr = el("tr", { className: "row" + (i === state.open ? " open-row" : "") },
        data.columns.map(([f]) => el("td", { textContent: text(r[f]) })));
      tr.dataset.index = String(i);
      tr.addEventListener("click", () => { state.open = state.open === i ? -1 : i; render(); });
      body.append(tr);
      if (i === state.open) {
        body.append(el("tr", { className: "detail-row" }, [el("td", { colSpan: data.columns.length }, [detail(r)])]));
      }
    });
    const prev = el("button", { textContent: "previous", disabled: state.page === 0 });
    prev.addEventListener("click", () => { state.page -= 1; state.open = -1; render(); });
    const next = el("button", { textContent: "next", disabled: state.page >= pages - 1 });
    next.addEventListener("click", () => { state.page += 1; state.open = -1; render(); });
    pager.replaceChildren(el("span", { id: "count", textContent: shown.length + " of " + data.rows.length + " samples; page " + (state.page + 1) + " of " + pages + " " }), prev, next);
    toHash();
  }
  fromHash();
  window.addEventListener("hashchange", () => { fromHash(); render(); });
  render();
  // `only=samples`: the browser alone; any other view (a link with a fragment) scrolls to it
  if (new URLSearchParams(location.hash.slice(1)).get("only") === "samples") {
    document.getElementById("report").hidden = true;
  } else if (location.hash.length > 1) {
    document.getElementById("samples").scrollIntoView();
  }
})();
"""
