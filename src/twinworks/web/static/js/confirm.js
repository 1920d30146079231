// Asking before an action that changes what the plant runs with (activating a model
// version, rolling back). A native modal <dialog>: focus stays inside it, Escape
// cancels, and focus returns to where it was.

import { h } from "./dom.js";

/** Resolves true when the user confirms, false when they cancel. */
export function confirmAction({ title, text, confirm = "Confirm" }) {
  return new Promise((resolve) => {
    const back = document.activeElement;
    const cancelButton = h("button", { type: "button", value: "cancel" }, "Cancel");
    const okButton = h("button", { type: "button", value: "ok", class: "primary" }, confirm);
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-text" },
      h("h2", { id: "confirm-title" }, title),
      h("p", { id: "confirm-text" }, text),
      h("div", { class: "dialog-actions" }, cancelButton, okButton),
    );
    let answer = false;
    cancelButton.addEventListener("click", () => dialog.close());
    okButton.addEventListener("click", () => {
      answer = true;
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (back && back.focus) back.focus();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancelButton.focus(); // the safe choice is the default
  });
}
