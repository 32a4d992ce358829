//! `aside config`: read and change the user's config file, keeping its comments and layout.

use anyhow::Context as _;
use toml_edit::{DocumentMut, Item, Table, Value};

/// Read or change the config file (`~/.config/aside/config.toml`): `path`, `list`, `get KEY`,
/// `set KEY VALUE`, `unset KEY`. Keys are dotted (`model.base_url`, `defaults.agent`,
/// `agents.goose.command`); a value is TOML when it reads as TOML (`4`, `true`, `["goose",
/// "acp"]`), else a string. A change that would make the file invalid is refused.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Print the config file's path.
    Path,
    /// Print every key set in the file, `key = value`.
    List,
    /// Print one key's value.
    Get { key: String },
    /// Set a key.
    Set { key: String, value: String },
    /// Remove a key.
    Unset { key: String },
}

pub(crate) fn load(path: &std::path::Path) -> anyhow::Result<DocumentMut> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    };
    text.parse::<DocumentMut>()
        .map_err(|e| anyhow::anyhow!("{} is not valid TOML: {e}", path.display()))
}

/// Every leaf of `table`, dotted.
fn leaves(prefix: &str, table: &Table, out: &mut Vec<(String, String)>) {
    for (key, item) in table.iter() {
        let name = if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        };
        match item {
            Item::Table(t) => leaves(&name, t, out),
            Item::Value(Value::InlineTable(t)) => leaves(&name, &t.clone().into_table(), out),
            Item::Value(v) => out.push((name, v.to_string().trim().to_string())),
            Item::ArrayOfTables(a) => out.push((name, format!("({} tables)", a.len()))),
            Item::None => {}
        }
    }
}

/// A value as the user would type it back: strings without their quotes.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.value().clone(),
        other => other.to_string().trim().to_string(),
    }
}

/// The item at dotted `key`, creating tables on the way when `create`.
fn at<'a>(doc: &'a mut DocumentMut, key: &str, create: bool) -> Option<&'a mut Item> {
    let parts: Vec<&str> = key.split('.').collect();
    let (last, tables) = parts.split_last()?;
    let mut table: &mut Table = doc.as_table_mut();
    for part in tables {
        if create && !table.contains_key(part) {
            let mut t = Table::new();
            t.set_implicit(true);
            table.insert(part, Item::Table(t));
        }
        table = table.get_mut(part)?.as_table_mut()?;
    }
    if create {
        return Some(table.entry(last).or_insert(Item::None));
    }
    table.get_mut(last)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let path = aside_core::paths::user_config_file();
    match args.action {
        Action::Path => println!("{}", path.display()),
        Action::List => {
            let doc = load(&path)?;
            let mut out = Vec::new();
            leaves("", doc.as_table(), &mut out);
            if out.is_empty() {
                eprintln!("nothing set in {}", path.display());
            }
            for (key, value) in out {
                println!("{key} = {value}");
            }
        }
        Action::Get { key } => {
            let mut doc = load(&path)?;
            match at(&mut doc, &key, false).and_then(|i| i.as_value()) {
                Some(value) => println!("{}", shown(value)),
                None => anyhow::bail!("{key} is not set in {}", path.display()),
            }
        }
        Action::Set { key, value } => {
            let mut doc = load(&path)?;
            let parsed: Value = value
                .parse::<Value>()
                .unwrap_or_else(|_| Value::from(value.as_str()));
            let slot = at(&mut doc, &key, true)
                .ok_or_else(|| anyhow::anyhow!("{key}: a part of it is a value, not a table"))?;
            *slot = Item::Value(parsed);
            save(&path, &doc)?;
            eprintln!("set {key} in {}", path.display());
        }
        Action::Unset { key } => {
            let mut doc = load(&path)?;
            let parts: Vec<&str> = key.split('.').collect();
            let (last, tables) = parts.split_last().context("an empty key")?;
            let mut table = doc.as_table_mut();
            for part in tables {
                table = table
                    .get_mut(part)
                    .and_then(Item::as_table_mut)
                    .ok_or_else(|| anyhow::anyhow!("{key} is not set in {}", path.display()))?;
            }
            if table.remove(last).is_none() {
                anyhow::bail!("{key} is not set in {}", path.display());
            }
            save(&path, &doc)?;
            eprintln!("removed {key} from {}", path.display());
        }
    }
    Ok(())
}

/// Writes `doc` to `path` (through a temporary file) if aside can read it back; else says what
/// is wrong and leaves the file as it was.
pub(crate) fn save(path: &std::path::Path, doc: &DocumentMut) -> anyhow::Result<()> {
    let text = doc.to_string();
    let config = toml::from_str::<aside_core::Config>(&text).map_err(|e| {
        anyhow::anyhow!(
            "not changed: the config would not read: {}",
            e.to_string().trim().replace('\n', " ")
        )
    })?;
    if let Err(why) = config.check() {
        anyhow::bail!("not changed: {why}");
    }
    // It may hold an API key: readable by the user only, in a directory only the user can list.
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::PermissionsExt as _;
        aside_core::paths::create_private_dir(dir)
            .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    aside_core::paths::write_private(path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
