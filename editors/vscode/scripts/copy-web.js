// The session editor draws the conversation with the web view's own modules (one drawing of
// aside's conversation, not a second one): copied from crates/aside-web/src/assets at build
// time into media/web/.
const fs = require("fs");
const path = require("path");
const from = path.join(__dirname, "..", "..", "..", "crates", "aside-web", "src", "assets");
const to = path.join(__dirname, "..", "media", "web");
fs.mkdirSync(to, { recursive: true });
for (const file of ["dom.js", "markdown.js", "conversation.js", "app.css"]) {
  fs.copyFileSync(path.join(from, file), path.join(to, file));
}
