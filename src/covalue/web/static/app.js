/* Shared helpers: the JSON API with the session's CSRF token, and bar widths from data attributes. */
"use strict";

window.covalue = (function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.getAttribute("content") : "";

  async function api(method, url, body) {
    const options = { method: method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (method !== "GET") options.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const error = new Error((data && data.detail && String(data.detail)) || response.statusText);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  }

  // Bars: widths are set from data-share (0..1); CSP forbids inline style attributes.
  for (const bar of document.querySelectorAll("[data-share]")) {
    const share = Math.max(0, Math.min(1, parseFloat(bar.getAttribute("data-share")) || 0));
    bar.style.width = (share * 100).toFixed(1) + "%";
  }
  for (const cell of document.querySelectorAll("[data-heat]")) {
    const heat = Math.max(0, Math.min(1, parseFloat(cell.getAttribute("data-heat")) || 0));
    cell.style.backgroundColor = "rgba(209, 73, 91, " + (0.08 + heat * 0.55).toFixed(3) + ")";
  }
  // Code colours (valence dots) from the codebook, as data attributes for the same reason.
  for (const dot of document.querySelectorAll("[data-colour]")) {
    const colour = dot.getAttribute("data-colour");
    if (/^#[0-9a-fA-F]{3,8}$/.test(colour)) dot.style.backgroundColor = colour;
  }
  // Buttons that ask before a destructive form post.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  }
  return { api: api, el: el, csrf: csrf };
})();
