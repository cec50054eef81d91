//! JSON text in and out: checks a document's bytes (non-empty, UTF-8, valid JSON, an
//! object at the top) and writes a value back in the layout the original used.

use std::path::Path;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, PrettyFormatter, Serializer};
use serde_json::Value;

use crate::BundleError;

/// How a document was laid out, so that a rewrite looks like the original.
///
/// A document whose text (ignoring trailing whitespace) has no newline is written
/// compact, as engines such as dockerd and containerd write it; otherwise it is written
/// pretty-printed with the indentation unit of its first indented line (a tab for
/// `runc spec`, two or four spaces elsewhere; two spaces when none is found). A final
/// newline is kept if the original had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextLayout {
    /// `None` for compact output, otherwise the indentation unit.
    pub indent: Option<Vec<u8>>,
    pub trailing_newline: bool,
}

impl TextLayout {
    /// Infers the layout of `text`.
    pub fn detect(text: &[u8]) -> TextLayout {
        let trimmed_len = text
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        let body = &text[..trimmed_len];
        let trailing_newline = text[trimmed_len..].contains(&b'\n');
        if !body.contains(&b'\n') {
            return TextLayout {
                indent: None,
                trailing_newline,
            };
        }
        let indent = body
            .split(|&b| b == b'\n')
            .skip(1)
            .map(|line| {
                let width = line
                    .iter()
                    .take_while(|&&b| b == b' ' || b == b'\t')
                    .count();
                (&line[..width], line.len() > width)
            })
            .find(|(lead, has_content)| !lead.is_empty() && *has_content)
            .map_or_else(|| b"  ".to_vec(), |(lead, _)| lead.to_vec());
        TextLayout {
            indent: Some(indent),
            trailing_newline,
        }
    }

    /// Serialises `value` in this layout.
    pub fn render(&self, value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        let result = match &self.indent {
            None => value.serialize(&mut Serializer::with_formatter(&mut out, CompactFormatter)),
            Some(indent) => value.serialize(&mut Serializer::with_formatter(
                &mut out,
                PrettyFormatter::with_indent(indent),
            )),
        };
        // Serialising a Value into memory cannot fail: its keys are strings and its
        // numbers are finite by construction.
        result.expect("serialising a serde_json::Value into a Vec cannot fail");
        if self.trailing_newline {
            out.push(b'\n');
        }
        out
    }
}

/// What a JSON value is, phrased for an error message.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses `bytes` as a JSON document whose top level is an object. serde_json's
/// recursion limit (128 levels) turns pathological nesting into an error, not a stack
/// overflow. `shown` is the path used in errors.
pub(crate) fn parse_object(bytes: &[u8], shown: &Path) -> Result<Value, BundleError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(BundleError::Empty {
            path: shown.to_owned(),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| BundleError::NotUtf8 {
        path: shown.to_owned(),
        offset: e.valid_up_to(),
    })?;
    let value: Value = serde_json::from_str(text).map_err(|e| BundleError::Syntax {
        path: shown.to_owned(),
        line: e.line(),
        column: e.column(),
        detail: e.to_string(),
    })?;
    if !value.is_object() {
        return Err(BundleError::NotObject {
            path: shown.to_owned(),
            found: describe(&value),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_text_stays_compact() {
        let layout = TextLayout::detect(br#"{"a":1,"b":[1,2]}"#);
        assert_eq!(layout.indent, None);
        assert!(!layout.trailing_newline);
        let value: Value = serde_json::from_str(r#"{"a":1,"b":[1,2]}"#).unwrap();
        assert_eq!(layout.render(&value), br#"{"a":1,"b":[1,2]}"#);
    }

    #[test]
    fn compact_text_with_final_newline_keeps_it() {
        let layout = TextLayout::detect(b"{\"a\":1}\n");
        assert_eq!(layout.indent, None);
        assert!(layout.trailing_newline);
    }

    #[test]
    fn tab_indented_text_is_rewritten_with_tabs() {
        let original = b"{\n\t\"a\": {\n\t\t\"b\": 1\n\t}\n}";
        let layout = TextLayout::detect(original);
        assert_eq!(layout.indent.as_deref(), Some(&b"\t"[..]));
        let value: Value = serde_json::from_slice(original).unwrap();
        assert_eq!(layout.render(&value), original);
    }

    #[test]
    fn four_space_indent_is_detected() {
        let layout = TextLayout::detect(b"{\n    \"a\": 1\n}\n");
        assert_eq!(layout.indent.as_deref(), Some(&b"    "[..]));
        assert!(layout.trailing_newline);
    }

    #[test]
    fn multi_line_text_without_indentation_uses_two_spaces() {
        let layout = TextLayout::detect(b"{\n\"a\": 1\n}");
        assert_eq!(layout.indent.as_deref(), Some(&b"  "[..]));
    }

    #[test]
    fn parse_reports_what_the_top_level_is() {
        let err = parse_object(b"[1]", Path::new("/b/config.json")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/b/config.json: expected a JSON object at the top level, found an array"
        );
    }

    #[test]
    fn whitespace_only_is_empty() {
        let err = parse_object(b" \n\t", Path::new("/b/config.json")).unwrap_err();
        assert!(matches!(err, BundleError::Empty { .. }), "{err}");
    }
}
