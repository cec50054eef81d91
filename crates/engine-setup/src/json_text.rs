//! JSON as text with positions: a strict parser (RFC 8259, as Go's encoding/json reads
//! daemon.json: no comments, no trailing commas) that records where every value and
//! object member sits, and edits that insert or remove one member or replace one value
//! while leaving every other byte of the document as it was.

use crate::ParseError;

/// One parsed value and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Byte range of the value itself.
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Object(Vec<Member>),
    Array(Vec<Node>),
    /// The decoded string.
    String(String),
    /// Numbers, `true`, `false`, `null`.
    Scalar,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub key: String,
    /// Byte offset of the key's opening quote.
    pub key_start: usize,
    pub value: Node,
}

impl Node {
    pub fn members(&self) -> Option<&[Member]> {
        match &self.kind {
            Kind::Object(members) => Some(members),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    /// The member named `key`; an error when the key appears more than once (Go keeps
    /// the last one, a person reading the file may see the first).
    pub fn member(&self, text: &str, key: &str) -> Result<Option<&Member>, ParseError> {
        let Some(members) = self.members() else {
            return Ok(None);
        };
        let mut found = members.iter().filter(|m| m.key == key);
        let first = found.next();
        if let Some(second) = found.next() {
            return Err(ParseError::at(
                text,
                second.key_start,
                format!("duplicate key {key:?}"),
            ));
        }
        Ok(first)
    }
}

/// Parses a whole document: one value surrounded by whitespace.
pub fn parse(text: &str) -> Result<Node, ParseError> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    parser.skip_ws();
    let node = parser.value()?;
    parser.skip_ws();
    if parser.pos != parser.bytes.len() {
        return Err(parser.error("unexpected text after the JSON value"));
    }
    Ok(node)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 200;

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError::at(self.text, self.pos, message.into())
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), ParseError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected {what}")))
        }
    }

    fn value(&mut self) -> Result<Node, ParseError> {
        let start = self.pos;
        let kind = match self.peek() {
            Some(b'{') => self.object()?,
            Some(b'[') => self.array()?,
            Some(b'"') => Kind::String(self.string()?),
            Some(b't') => self.literal("true")?,
            Some(b'f') => self.literal("false")?,
            Some(b'n') => self.literal("null")?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(b'/') => return Err(self.error("comments are not allowed in JSON")),
            Some(_) => return Err(self.error("expected a JSON value")),
            None => return Err(self.error("unexpected end of file")),
        };
        Ok(Node {
            start,
            end: self.pos,
            kind,
        })
    }

    fn nest(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        Ok(())
    }

    fn object(&mut self) -> Result<Kind, ParseError> {
        self.nest()?;
        self.pos += 1;
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Kind::Object(members));
        }
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'"') => {}
                Some(b'}') => return Err(self.error("trailing comma before '}'")),
                Some(b'/') => return Err(self.error("comments are not allowed in JSON")),
                _ => return Err(self.error("expected a quoted key")),
            }
            let key_start = self.pos;
            let key = self.string()?;
            self.skip_ws();
            self.expect(b':', "':' after the key")?;
            self.skip_ws();
            let value = self.value()?;
            members.push(Member {
                key,
                key_start,
                value,
            });
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Kind::Object(members));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self) -> Result<Kind, ParseError> {
        self.nest()?;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Kind::Array(items));
        }
        loop {
            self.skip_ws();
            if self.peek() == Some(b']') {
                return Err(self.error("trailing comma before ']'"));
            }
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Kind::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn literal(&mut self, word: &str) -> Result<Kind, ParseError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(Kind::Scalar)
        } else {
            Err(self.error("expected a JSON value"))
        }
    }

    fn number(&mut self) -> Result<Kind, ParseError> {
        let digits = |p: &mut Self| {
            let from = p.pos;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.pos += 1;
            }
            p.pos > from
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        if self.peek() == Some(b'0') {
            self.pos += 1;
        } else if !digits(self) {
            return Err(self.error("malformed number"));
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !digits(self) {
                return Err(self.error("malformed number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return Err(self.error("malformed number"));
            }
        }
        Ok(Kind::Scalar)
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                None => {
                    self.pos = start;
                    return Err(self.error("unterminated string"));
                }
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1
                        }
                        Some(b'u') => {
                            let hex = self.bytes.get(self.pos + 1..self.pos + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return Err(self.error("malformed \\u escape"));
                            }
                            self.pos += 5;
                        }
                        _ => return Err(self.error("unknown escape in string")),
                    }
                }
                Some(0..=0x1f) => return Err(self.error("control character in string")),
                Some(_) => self.pos += 1,
            }
        }
        // serde_json decodes escapes (and surrogate pairs) exactly as JSON defines them.
        serde_json::from_str(&self.text[start..self.pos]).map_err(|e| {
            let mut error = self.error(format!("bad string: {e}"));
            error.reposition(self.text, start);
            error
        })
    }
}

/// The JSON text of a string.
pub fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// The whitespace from the start of the line holding `pos` up to the first other byte.
fn line_indent(text: &str, pos: usize) -> &str {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let rest = &text[line_start..];
    let width = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    &rest[..width]
}

/// How a new member is written into `object`: on its own line (with the indentation of
/// the members already there, else one unit deeper than the object's line) or inline.
struct Style {
    multiline: bool,
    indent: String,
    unit: String,
}

fn style(text: &str, object: &Node, root_multiline: bool) -> Style {
    let members = object.members().unwrap_or_default();
    let own = line_indent(text, object.start).to_owned();
    let inner = &text[object.start..object.end];
    match members.last() {
        Some(last) => {
            let multiline = text[object.start..last.key_start].contains('\n');
            let indent = line_indent(text, last.key_start).to_owned();
            let unit = indent
                .strip_prefix(own.as_str())
                .filter(|u| !u.is_empty())
                .unwrap_or("  ")
                .to_owned();
            Style {
                multiline,
                indent,
                unit,
            }
        }
        None => {
            let unit = if own.contains('\t') { "\t" } else { "  " }.to_owned();
            Style {
                multiline: inner.contains('\n') || root_multiline,
                indent: format!("{own}{unit}"),
                unit,
            }
        }
    }
}

/// A value to insert: a string or an object of such values.
#[derive(Debug, Clone, PartialEq)]
pub enum NewValue {
    String(String),
    Object(Vec<(String, NewValue)>),
}

impl NewValue {
    fn render(&self, style: &Style) -> String {
        match self {
            NewValue::String(s) => quote(s),
            NewValue::Object(members) if members.is_empty() => "{}".to_owned(),
            NewValue::Object(members) => {
                if style.multiline {
                    let inner = Style {
                        multiline: true,
                        indent: format!("{}{}", style.indent, style.unit),
                        unit: style.unit.clone(),
                    };
                    let lines: Vec<String> = members
                        .iter()
                        .map(|(k, v)| format!("{}{}: {}", inner.indent, quote(k), v.render(&inner)))
                        .collect();
                    format!("{{\n{}\n{}}}", lines.join(",\n"), style.indent)
                } else {
                    let parts: Vec<String> = members
                        .iter()
                        .map(|(k, v)| format!("{}: {}", quote(k), v.render(style)))
                        .collect();
                    format!("{{{}}}", parts.join(", "))
                }
            }
        }
    }
}

/// `text` with `key: value` added as the last member of `object` (a node of `text`'s
/// parse). `root_multiline` says how to lay out members of an empty object.
pub fn insert_member(
    text: &str,
    object: &Node,
    key: &str,
    value: &NewValue,
    root_multiline: bool,
) -> String {
    let style = style(text, object, root_multiline);
    let member = format!("{}: {}", quote(key), value.render(&style));
    match object.members().and_then(<[Member]>::last) {
        Some(last) => {
            let at = last.value.end;
            let sep = if style.multiline {
                format!(",\n{}", style.indent)
            } else {
                ", ".to_owned()
            };
            format!("{}{sep}{member}{}", &text[..at], &text[at..])
        }
        None => {
            // Replace the inside of `{ ... }` (only whitespace) by the member.
            let (open, close) = (object.start + 1, object.end - 1);
            let body = if style.multiline {
                let own = line_indent(text, object.start);
                format!("\n{}{member}\n{own}", style.indent)
            } else {
                member
            };
            format!("{}{body}{}", &text[..open], &text[close..])
        }
    }
}

/// `text` with member `index` of `object` removed, with the separator that joined it to
/// its neighbour; an object left empty becomes `{}`.
pub fn remove_member(text: &str, object: &Node, index: usize) -> String {
    let members = object.members().unwrap_or_default();
    let (from, to) = if members.len() == 1 {
        (object.start + 1, object.end - 1)
    } else if index + 1 == members.len() {
        (members[index - 1].value.end, members[index].value.end)
    } else {
        (members[index].key_start, members[index + 1].key_start)
    };
    format!("{}{}", &text[..from], &text[to..])
}

/// `text` with `node` replaced by `replacement` (JSON text).
pub fn replace_value(text: &str, node: &Node, replacement: &str) -> String {
    format!("{}{replacement}{}", &text[..node.start], &text[node.end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_positions() {
        let text = r#"{ "a": [1, 2.5e3, true], "b": {"c": "x\"y"} }"#;
        let root = parse(text).unwrap();
        let members = root.members().unwrap();
        assert_eq!(members[0].key, "a");
        assert_eq!(
            &text[members[0].value.start..members[0].value.end],
            "[1, 2.5e3, true]"
        );
        let b = &members[1].value;
        assert_eq!(
            b.member(text, "c").unwrap().unwrap().value.as_str(),
            Some("x\"y")
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        for (text, line, column, message) in [
            ("{\n  \"a\": 1,\n}", 3, 1, "trailing comma"),
            ("{\n  \"a\": 1\n  \"b\": 2\n}", 3, 3, "expected ',' or '}'"),
            ("{\n  // note\n}", 2, 3, "comments are not allowed"),
            ("{\"a\": tru}", 1, 7, "expected a JSON value"),
            ("{\"a\": 1} x", 1, 10, "unexpected text"),
            ("{\"a\": \"open", 1, 7, "unterminated string"),
            ("", 1, 1, "unexpected end of file"),
        ] {
            let error = parse(text).unwrap_err();
            assert_eq!(
                (error.line, error.column),
                (line, column),
                "{text:?}: {error:?}"
            );
            assert!(error.message.contains(message), "{text:?}: {error:?}");
        }
    }

    #[test]
    fn insert_then_remove_is_identity() {
        for text in [
            "{\n  \"a\": 1\n}\n",
            "{\"a\": 1}",
            "{\n\t\"a\": {\n\t\t\"b\": 2\n\t}\n}",
            "{}",
            "  {  }  ",
        ] {
            let root = parse(text).unwrap();
            let value = NewValue::Object(vec![("path".into(), NewValue::String("/x".into()))]);
            let added = insert_member(text, &root, "k", &value, text.contains('\n'));
            let reparsed = parse(&added).unwrap();
            let index = reparsed.members().unwrap().len() - 1;
            let removed = remove_member(&added, &reparsed, index);
            let expected = if text.trim() == "{  }" {
                "  {}  "
            } else {
                text
            };
            assert_eq!(removed, expected, "{added}");
        }
    }

    #[test]
    fn inserted_members_follow_the_layout() {
        let text = "{\n    \"a\": 1\n}";
        let root = parse(text).unwrap();
        let value = NewValue::Object(vec![("p".into(), NewValue::String("v".into()))]);
        assert_eq!(
            insert_member(text, &root, "k", &value, true),
            "{\n    \"a\": 1,\n    \"k\": {\n        \"p\": \"v\"\n    }\n}"
        );
        let text = "{\"a\": 1}";
        let root = parse(text).unwrap();
        assert_eq!(
            insert_member(text, &root, "k", &value, false),
            "{\"a\": 1, \"k\": {\"p\": \"v\"}}"
        );
    }
}
