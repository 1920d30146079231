// Building DOM nodes without innerHTML: text is always text, never markup.

/**
 * h("a", {href: "#/", class: "x", onclick: fn}, "text", child, [more])
 * Attributes starting with "on" become listeners; null/false attributes are left out.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace all children of el. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * Re-render inside container without losing the keyboard focus: the focused element is
 * found again by its first data-* attribute after render() and focused.
 */
export function keepFocus(container, render) {
  const el = document.activeElement;
  let selector = null;
  if (el && el !== container && container.contains(el)) {
    const attr = el.getAttributeNames().find((a) => a.startsWith("data-"));
    if (attr) selector = `${el.tagName.toLowerCase()}[${attr}="${CSS.escape(el.getAttribute(attr))}"]`;
  }
  render();
  if (selector) container.querySelector(selector)?.focus();
}
