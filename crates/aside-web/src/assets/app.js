// aside web view: the entry module; each page is a module of its own.

import { listPage } from "./list.js";
import { sessionPage } from "./session.js";

document.addEventListener("DOMContentLoaded", () => {
  if (document.body.dataset.page === "list") listPage();
  if (document.body.dataset.page === "session") sessionPage();
});
