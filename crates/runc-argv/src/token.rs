//! How Go's `flag` package (which runc's CLI library drives) reads one argument: a positional,
//! the `--` terminator, or a flag `-name` / `--name` with an optional `=value`.

/// One argument as Go's `flag` package sees it, borrowing the argument's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// Not a flag: anything not starting with `-`, the empty string, and `-` alone.
    Positional,
    /// `--`: flags end here.
    EndOfFlags,
    /// `-name`, `--name`, `-name=value`, `--name=value`. Malformed spellings Go rejects
    /// (`---x`, `-=x`) come out with a name no table knows, so they are passed on untouched.
    Flag {
        name: &'a [u8],
        inline_value: Option<&'a [u8]>,
    },
}

/// Classifies `arg` exactly as Go's `flag.FlagSet.parseOne` does.
pub(crate) fn classify(arg: &[u8]) -> Token<'_> {
    if arg.len() < 2 || arg[0] != b'-' {
        return Token::Positional;
    }
    let body = if arg[1] == b'-' {
        if arg.len() == 2 {
            return Token::EndOfFlags;
        }
        &arg[2..]
    } else {
        &arg[1..]
    };
    // Go looks for '=' from the second byte of the name on, so `-=x` is a name, not a value.
    match body.iter().skip(1).position(|&b| b == b'=') {
        Some(offset) => {
            let eq = offset + 1;
            Token::Flag {
                name: &body[..eq],
                inline_value: Some(&body[eq + 1..]),
            }
        }
        None => Token::Flag {
            name: body,
            inline_value: None,
        },
    }
}

/// The value of a switch written `-name` (true) or `-name=VALUE` (Go's `strconv.ParseBool`);
/// `None` for a value Go rejects, which makes the runtime fail the call itself.
pub(crate) fn switch_value(inline_value: Option<&[u8]>) -> Option<bool> {
    match inline_value {
        None => Some(true),
        Some(b"1" | b"t" | b"T" | b"true" | b"TRUE" | b"True") => Some(true),
        Some(b"0" | b"f" | b"F" | b"false" | b"FALSE" | b"False") => Some(false),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag<'a>(name: &'a [u8], inline_value: Option<&'a [u8]>) -> Token<'a> {
        Token::Flag { name, inline_value }
    }

    #[test]
    fn positionals_include_empty_and_lone_dash() {
        assert_eq!(classify(b""), Token::Positional);
        assert_eq!(classify(b"-"), Token::Positional);
        assert_eq!(classify(b"create"), Token::Positional);
        assert_eq!(classify(b"a-b=c"), Token::Positional);
    }

    #[test]
    fn double_dash_alone_ends_flags() {
        assert_eq!(classify(b"--"), Token::EndOfFlags);
    }

    #[test]
    fn one_and_two_dashes_name_the_same_flag() {
        assert_eq!(classify(b"-root"), flag(b"root", None));
        assert_eq!(classify(b"--root"), flag(b"root", None));
        assert_eq!(classify(b"-b"), flag(b"b", None));
    }

    #[test]
    fn inline_value_splits_at_the_first_equals_sign() {
        assert_eq!(classify(b"--root=/x"), flag(b"root", Some(b"/x")));
        assert_eq!(classify(b"-root=/x=y"), flag(b"root", Some(b"/x=y")));
        assert_eq!(classify(b"--log="), flag(b"log", Some(b"")));
    }

    #[test]
    fn malformed_spellings_keep_a_name_no_table_knows() {
        assert_eq!(classify(b"---root"), flag(b"-root", None));
        assert_eq!(classify(b"-=x"), flag(b"=x", None));
        assert_eq!(classify(b"--=x"), flag(b"=x", None));
    }

    #[test]
    fn switch_values_follow_go_parse_bool() {
        assert_eq!(switch_value(None), Some(true));
        assert_eq!(switch_value(Some(b"true")), Some(true));
        assert_eq!(switch_value(Some(b"1")), Some(true));
        assert_eq!(switch_value(Some(b"False")), Some(false));
        assert_eq!(switch_value(Some(b"0")), Some(false));
        assert_eq!(switch_value(Some(b"yes")), None);
        assert_eq!(switch_value(Some(b"")), None);
    }
}
