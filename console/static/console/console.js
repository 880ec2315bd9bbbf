// Copy buttons: <button class="copy" data-copy="text">. Works on content htmx swaps in later (one listener on the
// document). Without the Clipboard API (plain http on another host) the text is selected for Ctrl-C instead.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const text = button.dataset.copy;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (error) {
    const code = button.parentElement.querySelector("code");
    if (code) window.getSelection().selectAllChildren(code);
    button.textContent = "Press Ctrl-C";
  }
  button.dataset.copied = "true";
  setTimeout(() => { button.textContent = "Copy"; delete button.dataset.copied; }, 2000);
});
