//! Security contexts `user:role:type[:level]`, e.g. `system_u:system_r:container_t:s0:c1,c2`.
//!
//! The level may itself contain `:` (`s0:c1,c2`), so a context splits into at most four
//! fields at its first three colons. A context without a level (`u:r:t`) is allowed: it
//! is what lxc_contexts-style defaults look like once their level is dropped. Names are
//! SELinux identifiers: ASCII letters, digits, `_`, `-` and `.`.

use std::fmt;
use std::str::FromStr;

use crate::error::{reject, LabelError, LabelKind, Problem};
use crate::level::{parse_level, Level};

/// A security context; every field is validated on construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Context {
    user: String,
    role: String,
    type_: String,
    level: Option<Level>,
}

impl Context {
    /// Build a context from parts, validating the names.
    pub fn new(
        user: &str,
        role: &str,
        type_: &str,
        level: Option<Level>,
    ) -> Result<Context, LabelError> {
        let shown = match &level {
            Some(level) => format!("{user}:{role}:{type_}:{level}"),
            None => format!("{user}:{role}:{type_}"),
        };
        let checked = check_name("user", user)
            .and_then(|()| check_name("role", role))
            .and_then(|()| check_name("type", type_));
        reject(LabelKind::Context, &shown, checked)?;
        Ok(Context {
            user: user.to_string(),
            role: role.to_string(),
            type_: type_.to_string(),
            level,
        })
    }

    /// Parse `user:role:type` or `user:role:type:level`.
    pub fn parse(text: &str) -> Result<Context, LabelError> {
        reject(LabelKind::Context, text, parse_context(text))
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn role(&self) -> &str {
        &self.role
    }

    pub fn type_(&self) -> &str {
        &self.type_
    }

    pub fn level(&self) -> Option<&Level> {
        self.level.as_ref()
    }

    /// The same context at `level`.
    pub fn with_level(&self, level: Level) -> Context {
        Context {
            level: Some(level),
            ..self.clone()
        }
    }

    /// The same context without a level.
    pub fn without_level(&self) -> Context {
        Context {
            level: None,
            ..self.clone()
        }
    }

    /// The same context with another type; fails if `type_` is not a valid name.
    pub fn with_type(&self, type_: &str) -> Result<Context, LabelError> {
        Context::new(&self.user, &self.role, type_, self.level)
    }

    /// The same context with another user; fails if `user` is not a valid name.
    pub fn with_user(&self, user: &str) -> Result<Context, LabelError> {
        Context::new(user, &self.role, &self.type_, self.level)
    }

    /// The same context with another role; fails if `role` is not a valid name.
    pub fn with_role(&self, role: &str) -> Result<Context, LabelError> {
        Context::new(&self.user, role, &self.type_, self.level)
    }
}

fn check_name(field: &'static str, value: &str) -> Result<(), Problem> {
    if value.is_empty() {
        return Err(Problem::EmptyName { field });
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    if !value.bytes().all(allowed) {
        return Err(Problem::BadName {
            field,
            value: value.to_string(),
        });
    }
    Ok(())
}

fn parse_context(text: &str) -> Result<Context, Problem> {
    if text.is_empty() {
        return Err(Problem::Empty);
    }
    let mut fields = text.splitn(4, ':');
    let mut next =
        |field: &'static str| fields.next().ok_or(Problem::MissingContextField { field });
    let user = next("user")?;
    let role = next("role")?;
    let type_ = next("type")?;
    let level = next("level").ok();
    check_name("user", user)?;
    check_name("role", role)?;
    check_name("type", type_)?;
    let level = level.map(parse_level).transpose()?;
    Ok(Context {
        user: user.to_string(),
        role: role.to_string(),
        type_: type_.to_string(),
        level,
    })
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.user, self.role, self.type_)?;
        if let Some(level) = &self.level {
            write!(f, ":{level}")?;
        }
        Ok(())
    }
}

impl FromStr for Context {
    type Err = LabelError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Context::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> Problem {
        Context::parse(text).unwrap_err().problem().clone()
    }

    #[test]
    fn parses_with_and_without_level() {
        let ctx = Context::parse("system_u:system_r:container_t:s0:c1,c2").unwrap();
        assert_eq!(ctx.user(), "system_u");
        assert_eq!(ctx.role(), "system_r");
        assert_eq!(ctx.type_(), "container_t");
        assert_eq!(ctx.level().unwrap().to_string(), "s0:c1,c2");
        assert_eq!(ctx.to_string(), "system_u:system_r:container_t:s0:c1,c2");

        let bare = Context::parse("u:r:t").unwrap();
        assert_eq!(bare.level(), None);
        assert_eq!(bare.to_string(), "u:r:t");

        let ranged =
            Context::parse("unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023").unwrap();
        assert_eq!(ranged.level().unwrap().high().categories.len(), 1024);
    }

    #[test]
    fn builders_replace_one_field() {
        let ctx = Context::parse("system_u:system_r:container_t").unwrap();
        let level = Level::parse("s0:c7,c9").unwrap();
        let labelled = ctx.with_level(level);
        assert_eq!(
            labelled.to_string(),
            "system_u:system_r:container_t:s0:c7,c9"
        );
        assert_eq!(labelled.without_level(), ctx);
        assert_eq!(
            labelled.with_type("spc_t").unwrap().to_string(),
            "system_u:system_r:spc_t:s0:c7,c9"
        );
        assert_eq!(
            labelled.with_role("object_r").unwrap().to_string(),
            "system_u:object_r:container_t:s0:c7,c9"
        );
        assert_eq!(
            ctx.with_type("bad type").unwrap_err().to_string(),
            "invalid security context `system_u:system_r:bad type`: type `bad type` may only contain letters, digits, `_`, `-` and `.`"
        );
    }

    #[test]
    fn rejects_bad_contexts() {
        assert_eq!(problem(""), Problem::Empty);
        assert_eq!(problem("u"), Problem::MissingContextField { field: "role" });
        assert_eq!(
            problem("u:r"),
            Problem::MissingContextField { field: "type" }
        );
        assert_eq!(problem("u::t"), Problem::EmptyName { field: "role" });
        assert_eq!(problem("u:r:t:"), Problem::Empty);
        assert_eq!(
            problem("u:r:t:s0:c5,c2"),
            Problem::CategoriesOutOfOrder {
                previous: 5,
                next: 2
            }
        );
        assert!(matches!(
            problem("u:r:t x"),
            Problem::BadName { field: "type", .. }
        ));
        assert!(matches!(
            problem("u:r:t\n"),
            Problem::BadName { field: "type", .. }
        ));
        assert_eq!(
            Context::parse("system_u:system_r:container_t:s0:c1024").unwrap_err().to_string(),
            "invalid security context `system_u:system_r:container_t:s0:c1024`: category c1024 is out of range (c0..c1023)"
        );
    }
}
