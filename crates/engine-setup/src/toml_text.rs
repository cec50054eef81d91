//! TOML documents for the edits of containerd's and podman's configs: parse errors as
//! line and column, walking and creating tables by key path (standard, implicit, dotted
//! or inline tables alike), and new keys and tables laid out like their neighbours
//! (`containerd config default` indents each nested table).

use crate::ParseError;
use toml_edit::{DocumentMut, ImDocument, InlineTable, Item, Table, TableLike, Value};

/// Parses `text`; a syntax error carries the line and column it starts at.
pub fn parse(text: &str) -> Result<DocumentMut, ParseError> {
    text.parse::<DocumentMut>().map_err(|e| {
        let message = e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        ParseError::at(
            text,
            e.span().map_or(0, |s| s.start),
            format!("invalid TOML: {message}"),
        )
    })
}

/// `a.b."c.d"` for messages.
pub fn dotted(path: &[&str]) -> String {
    path.iter()
        .map(|k| {
            if !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                (*k).to_owned()
            } else {
                format!("{k:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// An error about the item at `path` of `text`, at its position when it can be found.
pub fn error_at(text: &str, path: &[&str], message: String) -> ParseError {
    let position = ImDocument::parse(text).ok().and_then(|doc| {
        let mut item = doc.as_item();
        let mut span = None;
        for key in path {
            let table = item.as_table_like()?;
            let (k, next) = table.get_key_value(key)?;
            span = k.span().or(span);
            item = next;
        }
        span.map(|s| s.start)
    });
    ParseError::at(text, position.unwrap_or(0), message)
}

/// The item at `path`, if every step is a table; `Err(prefix)` names the first step that
/// exists but is not a table.
pub fn get<'a>(root: &'a Item, path: &[&'a str]) -> Result<Option<&'a Item>, usize> {
    let mut item = root;
    for (depth, key) in path.iter().enumerate() {
        let Some(table) = item.as_table_like() else {
            return Err(depth);
        };
        match table.get(key) {
            Some(next) => item = next,
            None => return Ok(None),
        }
    }
    Ok(Some(item))
}

pub fn get_mut<'a>(root: &'a mut Item, path: &[&str]) -> Option<&'a mut Item> {
    let mut item = root;
    for key in path {
        item = item.as_table_like_mut()?.get_mut(key)?;
    }
    Some(item)
}

/// Checks that every prefix of `path` that exists is a table; the error names it.
pub fn check_tables(text: &str, root: &Item, path: &[&str]) -> Result<(), ParseError> {
    match get(root, path) {
        Err(depth) => Err(not_a_table(text, &path[..depth])),
        Ok(Some(item)) if item.as_table_like().is_none() => Err(not_a_table(text, path)),
        Ok(_) => Ok(()),
    }
}

fn not_a_table(text: &str, path: &[&str]) -> ParseError {
    error_at(text, path, format!("{} must be a table", dotted(path)))
}

/// The table at `path`, created (as implicit tables, and the last as a standard table
/// laid out like its siblings) where missing. Every existing step must be a table
/// ([`check_tables`] first).
pub fn ensure_table<'a>(root: &'a mut Item, path: &[&str]) -> &'a mut Item {
    let mut item = root;
    for (depth, key) in path.iter().enumerate() {
        let last = depth + 1 == path.len();
        let item_now = item;
        let is_inline = matches!(item_now, Item::Value(_));
        let header_prefix = item_now
            .as_table()
            .map(|t| sibling_header_prefix(t, depth))
            .unwrap_or_default();
        let table = item_now.as_table_like_mut().expect("checked to be a table");
        if !table.contains_key(key) {
            let child = if is_inline {
                Item::Value(Value::InlineTable(InlineTable::new()))
            } else {
                let mut t = Table::new();
                t.set_implicit(!last);
                t.decor_mut().set_prefix(header_prefix);
                Item::Table(t)
            };
            table.insert(key, child);
        }
        item = table.get_mut(key).expect("just ensured");
    }
    item
}

/// The table at `path` (created where missing, see [`ensure_table`]) and the indentation
/// for new keys in it.
pub fn table_at<'a>(root: &'a mut Item, path: &[&str]) -> (&'a mut dyn TableLike, String) {
    ensure_table(root, path);
    let indent = key_indent(root, path);
    let table = get_mut(root, path)
        .and_then(Item::as_table_like_mut)
        .expect("ensured to be a table");
    (table, indent)
}

/// The decor before a new subtable header of `parent`: a blank line and the indentation
/// of an existing subtable of it, else one step deeper than `parent`'s own header.
fn sibling_header_prefix(parent: &Table, depth: usize) -> String {
    let sibling = parent
        .iter()
        .filter_map(|(_, item)| item.as_table())
        .filter(|t| !t.is_implicit() && !t.is_dotted())
        .find_map(|t| {
            t.decor()
                .prefix()
                .and_then(|p| p.as_str())
                .map(str::to_owned)
        });
    match sibling {
        Some(prefix) => {
            let indent = prefix.rsplit('\n').next().unwrap_or("");
            format!("\n{indent}")
        }
        None if depth == 0 => "\n".to_owned(),
        None => {
            let own = parent
                .decor()
                .prefix()
                .and_then(|p| p.as_str())
                .and_then(|p| p.rsplit('\n').next())
                .unwrap_or("");
            // Indented documents indent one level per table; flat ones stay flat.
            if own.is_empty() {
                "\n".to_owned()
            } else {
                format!("\n{own}  ")
            }
        }
    }
}

/// Sets `key = value` in `table`, keeping an existing value's decor; a new key gets the
/// indentation of the table's other keys, else `fallback_indent` ([`key_indent`]).
pub fn set_value(table: &mut dyn TableLike, fallback_indent: &str, key: &str, value: Value) {
    if let Some(existing) = table.get_mut(key).and_then(Item::as_value_mut) {
        // Keep the value's own decor (spacing, trailing comment).
        let decor = existing.decor().clone();
        *existing = value;
        *existing.decor_mut() = decor;
        return;
    }
    let indent = value_key_indent(table).unwrap_or_else(|| fallback_indent.to_owned());
    table.insert(key, Item::Value(value));
    if let Some(mut k) = table.key_mut(key) {
        k.leaf_decor_mut().set_prefix(indent);
    }
}

/// The indentation of the last plain `key = value` line of `table`.
fn value_key_indent(table: &dyn TableLike) -> Option<String> {
    table
        .iter()
        .filter(|(_, item)| item.is_value())
        .filter_map(|(k, _)| table.key(k))
        .filter_map(|k| k.leaf_decor().prefix().and_then(|p| p.as_str()))
        .map(|p| p.rsplit('\n').next().unwrap_or("").to_owned())
        .last()
}

/// The indentation for keys of the table at `path`: that of keys in a sibling table; else
/// that of the parent's keys, shifted by how much deeper this header is indented than the
/// parent's; else two spaces deeper than an indented header, else none.
pub fn key_indent(root: &Item, path: &[&str]) -> String {
    let Some((last, parent_path)) = path.split_last() else {
        return String::new();
    };
    let header = get(root, path)
        .ok()
        .flatten()
        .map(header_indent)
        .unwrap_or_default();
    let parent = get(root, parent_path).ok().flatten();
    let sibling = parent.and_then(Item::as_table_like).and_then(|parent| {
        parent
            .iter()
            .filter(|(k, _)| k != last)
            .filter_map(|(_, item)| item.as_table_like())
            .find_map(value_key_indent)
    });
    if let Some(indent) = sibling {
        return indent;
    }
    let from_parent = parent.and_then(|p| {
        let keys = value_key_indent(p.as_table_like()?)?;
        let deeper = header.strip_prefix(header_indent(p).as_str())?;
        Some(format!("{keys}{deeper}"))
    });
    from_parent.unwrap_or_else(|| {
        if header.is_empty() {
            header
        } else {
            format!("{header}  ")
        }
    })
}

/// The indentation of the header of the table at `item` (empty for flat documents).
pub fn header_indent(item: &Item) -> String {
    item.as_table()
        .and_then(|t| t.decor().prefix())
        .and_then(|p| p.as_str())
        .and_then(|p| p.rsplit('\n').next())
        .unwrap_or("")
        .to_owned()
}

/// Tidies up after a removal from the table at `path`: each table from `path` upwards
/// that now holds nothing is removed, up to the first that holds something or whose
/// header carries a comment (a person wrote that one). When a value was removed
/// (`removed_value`) and the table at `path` is left with subtables only, it loses its
/// header again (becomes implicit), as before setup gave it that value.
pub fn prune_empty(root: &mut Item, path: &[&str], removed_value: bool) {
    for depth in (1..=path.len()).rev() {
        let (parent_path, key) = (&path[..depth - 1], path[depth - 1]);
        let Some(parent) = get_mut(root, parent_path).and_then(Item::as_table_like_mut) else {
            return;
        };
        match parent.get_mut(key) {
            Some(Item::Table(t)) => {
                let commented = t
                    .decor()
                    .prefix()
                    .and_then(|p| p.as_str())
                    .is_some_and(|p| p.contains('#'));
                if commented || t.iter().any(|(_, item)| item.is_value()) {
                    return;
                }
                if t.is_empty() {
                    parent.remove(key);
                } else {
                    if removed_value && depth == path.len() {
                        t.set_implicit(true);
                    }
                    return;
                }
            }
            Some(Item::Value(Value::InlineTable(t))) if t.is_empty() => {
                parent.remove(key);
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_have_a_line() {
        let error = parse("a = 1\n[b\nc = 2\n").unwrap_err();
        assert_eq!(error.line, 2, "{error}");
        assert!(error.message.starts_with("invalid TOML: "), "{error}");
        assert!(!error.message.contains('\n'));
    }

    #[test]
    fn new_tables_follow_the_indentation_of_siblings() {
        let text = "[a]\n\n  [a.b]\n    x = 1\n";
        let mut doc = parse(text).unwrap();
        ensure_table(doc.as_item_mut(), &["a", "c"]);
        let indent = key_indent(doc.as_item(), &["a", "c"]);
        let item = get_mut(doc.as_item_mut(), &["a", "c"]).unwrap();
        set_value(
            item.as_table_like_mut().unwrap(),
            &indent,
            "y",
            Value::from("z"),
        );
        assert_eq!(
            doc.to_string(),
            "[a]\n\n  [a.b]\n    x = 1\n\n  [a.c]\n    y = \"z\"\n"
        );
    }

    #[test]
    fn errors_point_at_the_key() {
        let text = "[a]\nb = 3\n";
        let error = error_at(text, &["a", "b"], "no".into());
        assert_eq!(error.line, 2);
    }

    #[test]
    fn dotted_quotes_only_where_needed() {
        assert_eq!(
            dotted(&["plugins", "io.containerd.grpc.v1.cri", "x_y"]),
            "plugins.\"io.containerd.grpc.v1.cri\".x_y"
        );
    }
}
