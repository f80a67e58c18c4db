/* The coding workbench: text with highlighted spans, the codebook tree, keyboard coding,
   suggestions with evidence. Incident text and every code or memo is inserted with
   textContent (never innerHTML): incidents are untrusted input. Offsets sent to the server
   are Unicode code points, as the store keeps them; JavaScript strings count UTF-16 units. */
"use strict";

(function () {
  const { api, el } = window.covalue;
  const state = JSON.parse(document.getElementById("state").textContent);
  const text = state.incident.text;
  const pid = state.project;
  const incidentUrl = "/api/projects/" + pid + "/incidents/" + encodeURIComponent(state.incident.external_id);
  const textEl = document.getElementById("text");
  const codingsEl = document.getElementById("codings");
  const suggestionsEl = document.getElementById("suggestions");
  const codebookEl = document.getElementById("codebook");
  const statusEl = document.getElementById("status");
  const helpEl = document.getElementById("help");
  const dims = state.codebook.dimensions;
  const rejectedKey = "covalue:rejected:" + pid + ":" + state.incident.external_id;

  let focusDim = 0;
  let pendingGroup = null;   // index of an opened group in a grouped dimension
  let selection = null;      // [start, end) in code points of the current text selection
  let suggestions = [];
  let hoverSuggestion = null;
  let rejected = new Set(JSON.parse(window.localStorage.getItem(rejectedKey) || "[]"));

  // -- offsets ---------------------------------------------------------------------------------
  function unitsToPoints(units) { return Array.from(text.slice(0, units)).length; }
  function pointsToUnits(points) { return Array.from(text).slice(0, points).join("").length; }

  function codeInfo(dimId, codeId) {
    const dim = dims.find(d => d.id === dimId);
    const code = dim && dim.codes.find(c => c.id === codeId);
    return { dim: dim, code: code, name: code ? code.name : codeId, dimName: dim ? dim.name : dimId };
  }
  function colourOf(dimId) {
    const index = dims.findIndex(d => d.id === dimId);
    return "dim-" + (index % 9);
  }

  function say(message, isError) {
    statusEl.textContent = message;
    statusEl.className = "status" + (isError ? " error" : " ok");
  }

  // -- text with highlights ----------------------------------------------------------------------
  function renderText() {
    const marks = [];
    for (const c of state.codings) {
      if (c.start !== null && c.start !== undefined) marks.push({ start: c.start, end: c.end, cls: "mark " + colourOf(c.dimension) + (c.mine ? " mine" : " theirs"), label: codeInfo(c.dimension, c.code_id).name + " (" + c.coder + ")" });
    }
    const shown = hoverSuggestion || currentSuggestion();
    if (shown) for (const [s, e] of shown.evidence) marks.push({ start: s, end: e, cls: "evidence", label: "evidence for " + codeInfo(shown.dimension, shown.code_id).name });
    const cuts = new Set([0, Array.from(text).length]);
    for (const m of marks) { cuts.add(m.start); cuts.add(m.end); }
    const points = Array.from(cuts).sort((a, b) => a - b);
    textEl.textContent = "";
    for (let i = 0; i < points.length - 1; i++) {
      const s = points[i], e = points[i + 1];
      const piece = text.slice(pointsToUnits(s), pointsToUnits(e));
      const covering = marks.filter(m => m.start <= s && m.end >= e);
      if (!covering.length) { textEl.appendChild(document.createTextNode(piece)); continue; }
      const span = el("span", { className: covering.map(m => m.cls).join(" "), title: covering.map(m => m.label).join("\n"), text: piece });
      textEl.appendChild(span);
    }
    if (selection) restoreSelection();
  }

  // Re-rendering replaces the text nodes, which would drop the reader's selection: put it back.
  function locate(points) {
    const units = pointsToUnits(points);
    const walker = document.createTreeWalker(textEl, NodeFilter.SHOW_TEXT);
    let seen = 0, last = null;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (units <= seen + node.length) return [node, units - seen];
      seen += node.length; last = node;
    }
    return last ? [last, last.length] : [textEl, 0];
  }
  function restoreSelection() {
    const [startNode, startOffset] = locate(selection[0]);
    const [endNode, endOffset] = locate(selection[1]);
    const range = document.createRange();
    range.setStart(startNode, startOffset);
    range.setEnd(endNode, endOffset);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  document.addEventListener("selectionchange", function () {
    const sel = window.getSelection();
    if (!sel.rangeCount) return;
    const range = sel.getRangeAt(0);
    if (!textEl.contains(range.startContainer) || !textEl.contains(range.endContainer)) return;
    if (sel.isCollapsed) { selection = null; renderCodebook(); return; }
    const before = document.createRange();
    before.selectNodeContents(textEl);
    before.setEnd(range.startContainer, range.startOffset);
    const startUnits = before.toString().length;
    let start = unitsToPoints(startUnits);
    let end = unitsToPoints(startUnits + range.toString().length);
    // Trim surrounding white space so spans start and end on words.
    const chars = Array.from(text);
    while (start < end && /\s/.test(chars[start])) start++;
    while (end > start && /\s/.test(chars[end - 1])) end--;
    selection = end > start ? [start, end] : null;
    renderCodebook();
  });

  // -- codebook panel ---------------------------------------------------------------------------
  function groupsOf(dim) {
    // Codable codes under non-codable parents form numbered groups (aggregate -> themes).
    const tops = dim.codes.filter(c => c.depth === 0);
    const grouped = tops.some(c => !c.codable);
    if (!grouped) return null;
    return tops.map(top => ({ top: top, children: dim.codes.filter(c => c.parent === top.id && c.codable) }));
  }
  function numberedCodes(dim) {
    const groups = groupsOf(dim);
    if (!groups) return dim.codes.filter(c => c.codable);
    if (pendingGroup !== null && groups[pendingGroup]) return groups[pendingGroup].children;
    return [];
  }
  function mineIncidentLevel(dimId, codeId) {
    return state.codings.find(c => c.mine && c.dimension === dimId && c.code_id === codeId && c.start === null);
  }
  function keyLabel(i) { return i < 9 ? String(i + 1) : (i === 9 ? "0" : ""); }

  function renderCodebook() {
    codebookEl.textContent = "";
    const header = el("div", { className: "codebook-head" }, [
      el("h2", { text: "Codebook" }),
      el("p", { className: "muted small", text: selection ? "Applying to the selected span: \u201c" + Array.from(text).slice(selection[0], selection[1]).join("").slice(0, 60) + "\u201d" : "Applying to the whole incident" }),
    ]);
    codebookEl.appendChild(header);
    dims.forEach(function (dim, di) {
      const focused = di === focusDim;
      const groups = groupsOf(dim);
      const box = el("section", { className: "dimension" + (focused ? " focused" : ""), "data-dimension": dim.id });
      const title = el("button", { type: "button", className: "dim-title " + colourOf(dim.id), onclick: () => { focusDim = di; pendingGroup = null; renderCodebook(); } }, [
        el("span", { text: dim.name }),
        el("span", { className: "muted small", text: dim.multi ? " any number" : " pick one" }),
      ]);
      box.appendChild(title);
      const list = el("ul", { className: "codes" });
      const numbered = focused ? numberedCodes(dim) : [];
      dim.codes.forEach(function (code) {
        const applied = code.codable && mineIncidentLevel(dim.id, code.id);
        let key = "";
        if (focused && groups && code.depth === 0) {
          const gi = groups.findIndex(g => g.top.id === code.id);
          key = keyLabel(gi);
        } else if (focused) {
          const ni = numbered.indexOf(code);
          if (ni >= 0) key = keyLabel(ni);
        }
        const open = groups && pendingGroup !== null && focused && groups[pendingGroup] && groups[pendingGroup].top.id === code.id;
        const item = el("li", { className: "code depth-" + code.depth + (code.codable ? "" : " group") + (applied ? " applied" : "") + (open ? " open" : "") }, [
          key ? el("kbd", { text: key }) : el("span", { className: "nokey" }),
          code.codable
            ? el("button", { type: "button", className: "code-button", title: code.definition || code.name, "data-code": code.id, disabled: !state.can_code, onclick: () => applyCode(dim.id, code.id) }, [el("span", { text: code.name }), el("span", { className: "code-id", text: code.id })])
            : el("span", { className: "group-name", title: code.definition || code.name, text: code.name }),
        ]);
        list.appendChild(item);
      });
      box.appendChild(list);
      codebookEl.appendChild(box);
    });
  }

  // -- codings ----------------------------------------------------------------------------------
  function renderCodings() {
    codingsEl.textContent = "";
    if (!state.codings.length) { codingsEl.appendChild(el("li", { className: "muted", text: "No codes yet." })); return; }
    const ordered = state.codings.slice().sort((a, b) => (b.mine - a.mine) || a.coder.localeCompare(b.coder) || dims.findIndex(d => d.id === a.dimension) - dims.findIndex(d => d.id === b.dimension));
    for (const c of ordered) {
      const info = codeInfo(c.dimension, c.code_id);
      const spanText = c.start !== null ? Array.from(text).slice(c.start, c.end).join("") : null;
      const children = [
        el("span", { className: "swatch " + colourOf(c.dimension) }),
        el("span", { className: "dim-name", text: info.dimName }),
        el("strong", { text: info.name }),
        spanText !== null ? el("q", { className: "span-text", text: spanText.length > 80 ? spanText.slice(0, 79) + "\u2026" : spanText }) : el("span", { className: "muted small", text: "whole incident" }),
        c.confidence !== null ? el("span", { className: "muted small", text: Math.round(c.confidence * 100) + "%" }) : null,
        el("span", { className: "coder" + (c.mine ? " me" : ""), text: c.mine ? "you" : c.coder }),
      ];
      const item = el("li", { className: "coding" + (c.mine ? " mine" : ""), "data-coding": String(c.id) }, children);
      if (c.mine && state.can_code) {
        const memo = el("input", { className: "memo", placeholder: "memo", value: c.memo || "", "aria-label": "Memo" });
        memo.addEventListener("keydown", function (event) { if (event.key === "Enter") { event.preventDefault(); memo.blur(); } if (event.key === "Escape") { memo.value = c.memo || ""; memo.blur(); } event.stopPropagation(); });
        memo.addEventListener("change", () => saveMemo(c, memo.value));
        item.appendChild(memo);
        item.appendChild(el("button", { type: "button", className: "link danger remove", title: "Remove this code", text: "remove", onclick: () => removeCoding(c) }));
      } else if (c.memo) {
        item.appendChild(el("span", { className: "memo-text", text: c.memo }));
      }
      codingsEl.appendChild(item);
    }
  }

  async function refresh() {
    state.codings = await api("GET", incidentUrl + "/codings");
    renderAll();
  }

  function renderAll() { renderText(); renderCodings(); renderCodebook(); renderSuggestions(); }

  async function applyCode(dimId, codeId, fromSuggestion) {
    if (!state.can_code) { say("Your role cannot code in this project.", true); return; }
    const body = { dimension: dimId, code_id: codeId };
    const existing = !selection && !fromSuggestion && mineIncidentLevel(dimId, codeId);
    try {
      if (existing) {
        await api("DELETE", "/api/projects/" + pid + "/codings/" + existing.id + "?version=" + encodeURIComponent(existing.version));
        say("Removed " + codeInfo(dimId, codeId).name + ".");
      } else {
        if (selection) { body.start = selection[0]; body.end = selection[1]; }
        if (fromSuggestion) body.from_suggestion = true;
        await api("POST", incidentUrl + "/codings", body);
        say("Applied " + codeInfo(dimId, codeId).name + (selection ? " to the selected span." : "."));
      }
      selection = null;
      window.getSelection().removeAllRanges();
      await refresh();
    } catch (error) {
      say(error.message, true);
      if (error.status === 409) await refresh();
    }
  }

  async function saveMemo(coding, memo) {
    try {
      await api("PATCH", "/api/projects/" + pid + "/codings/" + coding.id, { version: coding.version, memo: memo, set_memo: true });
      say("Memo saved.");
      await refresh();
    } catch (error) { say(error.message, true); if (error.status === 409) await refresh(); }
  }

  async function removeCoding(coding) {
    try {
      await api("DELETE", "/api/projects/" + pid + "/codings/" + coding.id + "?version=" + encodeURIComponent(coding.version));
      say("Removed " + codeInfo(coding.dimension, coding.code_id).name + ".");
      await refresh();
    } catch (error) { say(error.message, true); if (error.status === 409) await refresh(); }
  }

  // -- suggestions ------------------------------------------------------------------------------
  function suggestionKey(s) { return s.dimension + ":" + s.code_id; }
  function pending() { return suggestions.filter(s => !rejected.has(suggestionKey(s)) && !mineIncidentLevel(s.dimension, s.code_id)); }
  function currentSuggestion() { return state.can_code ? pending()[0] || null : null; }

  function renderSuggestions() {
    suggestionsEl.textContent = "";
    if (!suggestions.length) { suggestionsEl.appendChild(el("li", { className: "muted", text: "No suggestions for this incident." })); return; }
    const current = currentSuggestion();
    for (const s of suggestions) {
      const info = codeInfo(s.dimension, s.code_id);
      const accepted = !!mineIncidentLevel(s.dimension, s.code_id);
      const isRejected = rejected.has(suggestionKey(s));
      const item = el("li", { className: "suggestion" + (s === current ? " current" : "") + (accepted ? " accepted" : "") + (isRejected ? " rejected" : ""), "data-suggestion": suggestionKey(s) }, [
        el("span", { className: "swatch " + colourOf(s.dimension) }),
        el("span", { className: "dim-name", text: info.dimName }),
        el("strong", { text: info.name }),
        s.confidence !== null ? el("span", { className: "confidence", text: Math.round(s.confidence * 100) + "%" }) : null,
        accepted ? el("span", { className: "muted small", text: "accepted" }) : null,
        isRejected ? el("span", { className: "muted small", text: "rejected" }) : null,
      ]);
      if (state.can_code && !accepted && !isRejected) {
        item.appendChild(el("button", { type: "button", className: "small-button accept", text: s === current ? "accept (a)" : "accept", onclick: () => acceptSuggestion(s) }));
        item.appendChild(el("button", { type: "button", className: "small-button reject", text: s === current ? "reject (x)" : "reject", onclick: () => rejectSuggestion(s) }));
      }
      item.addEventListener("mouseenter", () => { hoverSuggestion = s; renderText(); });
      item.addEventListener("mouseleave", () => { hoverSuggestion = null; renderText(); });
      suggestionsEl.appendChild(item);
    }
  }

  async function acceptSuggestion(s) {
    const saved = selection; selection = null;
    await applyCode(s.dimension, s.code_id, true);
    selection = saved;
  }
  function rejectSuggestion(s) {
    rejected.add(suggestionKey(s));
    window.localStorage.setItem(rejectedKey, JSON.stringify(Array.from(rejected)));
    say("Rejected the suggestion " + codeInfo(s.dimension, s.code_id).name + ".");
    renderAll();
  }

  async function loadSuggestions() {
    try {
      suggestions = await api("GET", incidentUrl + "/suggestions");
      if (suggestions.length) document.getElementById("suggestion-source").textContent = "from " + suggestions[0].source;
    } catch (error) { suggestions = []; }
    renderAll();
  }

  // -- keyboard ---------------------------------------------------------------------------------
  function digit(key) {
    const n = key === "0" ? 9 : parseInt(key, 10) - 1;
    const dim = dims[focusDim];
    const groups = groupsOf(dim);
    if (groups && pendingGroup === null) {
      if (groups[n]) { pendingGroup = n; renderCodebook(); say("Group " + groups[n].top.name + ": press the number of a code."); }
      return;
    }
    const codes = numberedCodes(dim);
    pendingGroup = null;
    if (codes[n]) applyCode(dim.id, codes[n].id); else renderCodebook();
  }

  function toggleHelp(show) { helpEl.hidden = !show; if (show) document.getElementById("help-close").focus(); }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) return;
    const key = event.key;
    if (!helpEl.hidden) { if (key === "Escape" || key === "?") { toggleHelp(false); event.preventDefault(); } return; }
    if (/^[0-9]$/.test(key)) { event.preventDefault(); digit(key); return; }
    switch (key) {
      case "]": focusDim = (focusDim + 1) % dims.length; pendingGroup = null; renderCodebook(); scrollFocused(); break;
      case "[": focusDim = (focusDim - 1 + dims.length) % dims.length; pendingGroup = null; renderCodebook(); scrollFocused(); break;
      case "j": if (state.next) window.location.href = state.next; else say("This is the last incident."); break;
      case "k": if (state.previous) window.location.href = state.previous; else say("This is the first incident."); break;
      case "a": { const s = currentSuggestion(); if (s) acceptSuggestion(s); else say("No suggestion to accept."); break; }
      case "x": { const s = currentSuggestion(); if (s) rejectSuggestion(s); else say("No suggestion to reject."); break; }
      case "m": { const memos = codingsEl.querySelectorAll("li.mine input.memo"); if (memos.length) { event.preventDefault(); memos[0].focus(); } break; }
      case "?": toggleHelp(true); break;
      case "Escape": pendingGroup = null; selection = null; window.getSelection().removeAllRanges(); renderCodebook(); break;
      default: return;
    }
  });

  function scrollFocused() {
    const node = codebookEl.querySelector(".dimension.focused");
    if (node) node.scrollIntoView({ block: "nearest" });
  }

  document.getElementById("help-button").addEventListener("click", () => toggleHelp(true));
  document.getElementById("help-close").addEventListener("click", () => toggleHelp(false));

  renderAll();
  loadSuggestions();
})();
