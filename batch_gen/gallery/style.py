"""The gallery page's style sheet (data: CSS). Cards have a fixed height, which is what
lets the page's script place only the cards in view (see :mod:`.script`: ``CARD_H``)."""

from __future__ import annotations

STYLE = """
:root { color-scheme: light dark; --bg: #f6f6f4; --fg: #1d1d1b; --muted: #6b6b66;
  --card: #fff; --line: #deded8; --accent: #2f6fdf; --ok: #237a3b; --bad: #b3261e;
  --wait: #8a6d00; --run: #5b4bc4; --reject: #b3261e; }
@media (prefers-color-scheme: dark) { :root { --bg: #161615; --fg: #ecece8;
  --muted: #a3a39c; --card: #222220; --line: #3a3a36; --accent: #7aa7ff; --ok: #6fcf86;
  --bad: #ff8a80; --wait: #e0c050; --run: #b4a8ff; --reject: #ff8a80; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { padding: 14px 20px 4px; }
h1 { font-size: 20px; margin: 0 0 4px; }
.where, #keys { color: var(--muted); margin: 2px 0; font-size: 12px; }
.where code { font-size: 12px; }
#summary { margin: 6px 0 0; font-weight: 500; }
#keys { padding: 0 20px 6px; }
#toolbar { position: sticky; top: 0; z-index: 5; display: flex; flex-wrap: wrap; gap: 8px;
  align-items: center; padding: 8px 20px; background: var(--bg);
  border-bottom: 1px solid var(--line); }
#filters { display: flex; flex-wrap: wrap; gap: 4px; }
button, select, input { font: inherit; color: inherit; }
button { background: var(--card); border: 1px solid var(--line); border-radius: 6px;
  padding: 3px 9px; cursor: pointer; }
button:disabled { opacity: .5; cursor: default; }
button[aria-pressed="true"] { border-color: var(--accent); color: var(--accent);
  font-weight: 600; }
#search { min-width: 260px; flex: 1 1 260px; max-width: 460px; padding: 4px 8px;
  border: 1px solid var(--line); border-radius: 6px; background: var(--card); }
select { background: var(--card); border: 1px solid var(--line); border-radius: 6px; }
.spacer { flex: 1 1 auto; }
#shown { color: var(--muted); }
#grid { position: relative; margin: 10px 20px 40px; }
#empty { margin: 30px 20px; color: var(--muted); }
.card { position: absolute; overflow: hidden; display: flex; flex-direction: column;
  background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  outline: none; }
.card.current { box-shadow: 0 0 0 3px var(--accent); }
.card.rejected { border-color: var(--reject); box-shadow: inset 0 0 0 2px var(--reject); }
.card.rejected.current { box-shadow: 0 0 0 3px var(--accent), inset 0 0 0 2px var(--reject); }
.shots { display: flex; gap: 4px; height: 170px; padding: 5px; flex: none;
  background: var(--bg); border-radius: 8px 8px 0 0; }
.shot { position: relative; flex: 1 1 0; min-width: 0; margin: 0; display: flex;
  align-items: center; justify-content: center; cursor: zoom-in; }
.shot img { max-width: 100%; max-height: 100%; object-fit: contain; display: block;
  background: repeating-conic-gradient(#8883 0% 25%, transparent 0% 50%) 0 0 / 12px 12px; }
.shot figcaption { position: absolute; left: 3px; bottom: 3px; padding: 0 5px;
  font-size: 11px; border-radius: 4px; background: #000a; color: #fff; white-space: nowrap;
  max-width: calc(100% - 6px); overflow: hidden; text-overflow: ellipsis; }
.shot.prev { flex: 0 0 30%; opacity: .8; border-left: 2px dashed var(--line);
  padding-left: 4px; }
.shot.more { flex: 0 0 auto; color: var(--muted); cursor: zoom-in; }
.placeholder { flex: 1; display: flex; align-items: center; justify-content: center;
  color: var(--muted); text-align: center; padding: 8px; }
.meta { padding: 6px 9px 8px; display: flex; flex-direction: column; gap: 3px;
  min-height: 0; flex: 1; }
.top { display: flex; gap: 6px; align-items: baseline; min-width: 0; }
.id { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
  flex: 1 1 auto; min-width: 0; }
.cost { color: var(--muted); font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { font-size: 11px; padding: 0 6px; border-radius: 9px; border: 1px solid;
  white-space: nowrap; }
.st-succeeded .status { color: var(--ok); }
.st-failed .status { color: var(--bad); }
.st-pending .status { color: var(--wait); }
.st-running .status { color: var(--run); }
.warn { color: var(--bad); }
.prompt { margin: 0; display: -webkit-box; -webkit-line-clamp: 3; -webkit-box-orient: vertical;
  overflow: hidden; }
.facts { color: var(--muted); font-size: 12px; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.error, .note { margin: 0; font-size: 12px; overflow: hidden; display: -webkit-box;
  -webkit-line-clamp: 2; -webkit-box-orient: vertical; }
.error { color: var(--bad); }
.note { color: var(--muted); }
.actions { margin-top: auto; display: flex; gap: 6px; align-items: center; }
.reject[aria-pressed="true"] { background: var(--reject); color: #fff;
  border-color: var(--reject); }
#lightbox { position: fixed; inset: 0; z-index: 20; display: flex; background: #111;
  color: #eee; }
#lightbox[hidden] { display: none; }
#lb-images { flex: 1 1 auto; display: flex; flex-direction: column; gap: 8px;
  padding: 14px; min-width: 0; overflow: auto; }
#lb-images section { flex: 1 1 0; display: flex; flex-direction: column; min-height: 0; }
#lb-images h2 { font-size: 13px; margin: 0 0 4px; color: #bbb; font-weight: 500; }
.lb-row { flex: 1 1 auto; display: flex; gap: 10px; min-height: 0; justify-content: center; }
.lb-row figure { margin: 0; flex: 1 1 0; min-width: 0; display: flex; flex-direction: column;
  align-items: center; justify-content: center; }
.lb-row a { display: flex; min-height: 0; max-height: 100%; justify-content: center; }
.lb-row img { max-width: 100%; max-height: 100%; object-fit: contain;
  background: repeating-conic-gradient(#8884 0% 25%, transparent 0% 50%) 0 0 / 16px 16px; }
.lb-row figcaption { font-size: 12px; color: #bbb; margin-top: 4px; text-align: center; }
#lb-info { flex: 0 0 360px; overflow: auto; padding: 14px 16px; background: #1b1b1a;
  border-left: 1px solid #333; }
#lb-info h2 { font-size: 16px; margin: 10px 0 6px; word-break: break-all; }
#lb-info dl { display: grid; grid-template-columns: auto 1fr; gap: 3px 10px; margin: 8px 0; }
#lb-info dt { color: #999; }
#lb-info dd { margin: 0; overflow-wrap: anywhere; }
#lb-info .prompt-full { white-space: pre-wrap; margin: 6px 0; }
#lb-info pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 11px; }
#lightbox button { background: #2a2a28; color: #eee; border-color: #444; }
#lb-reject[aria-pressed="true"] { background: var(--reject); color: #fff; }
.lb-nav { display: flex; gap: 6px; flex-wrap: wrap; }
.missing { font-size: 12px; color: #f99; }
"""
