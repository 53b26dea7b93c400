// Label each body cell of the dashboard's tables with its column's heading (data-label) and mark
// the table .stacks, so that on a narrow screen dashboard.css can show each row as a card with
// every value under its name. Tables htmx swaps in later are labelled too.
(() => {
  "use strict";

  const label = (table) => {
    const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    if (!heads.length) return;
    for (const row of table.querySelectorAll("tbody tr")) {
      [...row.children].forEach((cell, index) => {
        if (heads[index] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", heads[index]);
      });
    }
    table.classList.add("stacks");
  };

  const labelWithin = (root) => {
    if (root.matches && root.matches(".table-scroll table")) label(root);
    if (root.querySelectorAll) root.querySelectorAll(".table-scroll table").forEach(label);
  };

  const start = () => {
    labelWithin(document);
    new MutationObserver((changes) => {
      for (const change of changes) {
        for (const node of change.addedNodes) {
          if (node.nodeType === Node.ELEMENT_NODE) labelWithin(node.closest("table") || node);
        }
      }
    }).observe(document.body, { childList: true, subtree: true });
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
