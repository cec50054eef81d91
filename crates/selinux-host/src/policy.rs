//! Asking the loaded policy whether a context is valid: write it to
//! `<selinuxfs>/context`; the kernel answers EINVAL when the policy cannot represent it.
//! When it is refused, a few narrower questions find out why, so the error can name the
//! missing type (e.g. Debian's policy names `container_t` in lxc_contexts but ships no
//! container module) rather than just echo the context.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use mcs_label::{Context, Level, SensitivityLevel};

/// Source of the kernel's verdict on a context string.
pub trait PolicyOracle {
    /// Ok(true) when the loaded policy accepts `context`, Ok(false) when it rejects it.
    fn context_valid(&self, selinuxfs: &Path, context: &str) -> io::Result<bool>;
}

/// The kernel: writes to `<selinuxfs>/context`.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelPolicy;

impl PolicyOracle for KernelPolicy {
    fn context_valid(&self, selinuxfs: &Path, context: &str) -> io::Result<bool> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(selinuxfs.join("context"))?;
        match file.write(context.as_bytes()) {
            Ok(_) => Ok(true),
            Err(error) if error.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }
}

/// Why a context cannot be used on this host.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(
        "cannot check `{context}` against the SELinux policy: no read-write selinuxfs is mounted"
    )]
    NoSelinuxfs { context: String },
    #[error(
        "the loaded SELinux policy has no type `{type_}` (it rejected `{context}`): \
         install a policy module that defines it, such as the container module of \
         container-selinux or of selinux-policy-src"
    )]
    MissingType { type_: String, context: String },
    #[error("the loaded SELinux policy has no user `{user}` (it rejected `{context}`)")]
    MissingUser { user: String, context: String },
    #[error(
        "the loaded SELinux policy rejects `{context}`: role `{role}` may not hold type \
         `{type_}`, or user `{user}` may not take role `{role}`"
    )]
    RoleNotAllowed {
        user: String,
        role: String,
        type_: String,
        context: String,
    },
    #[error(
        "the loaded SELinux policy rejects level `{level}` of `{context}`: it lies outside \
         the policy's sensitivities and categories or the user's range"
    )]
    LevelNotAllowed { level: String, context: String },
    #[error("cannot ask the kernel about `{context}` through {path}: {source}")]
    Io {
        context: String,
        path: PathBuf,
        source: io::Error,
    },
}

/// Check `context` with the policy behind `selinuxfs`; on refusal, say which part is
/// missing.
pub fn validate_context(
    oracle: &dyn PolicyOracle,
    selinuxfs: &Path,
    context: &Context,
) -> Result<(), PolicyError> {
    let shown = context.to_string();
    let ask = |candidate: &Context| {
        oracle
            .context_valid(selinuxfs, &candidate.to_string())
            .map_err(|source| PolicyError::Io {
                context: shown.clone(),
                path: selinuxfs.join("context"),
                source,
            })
    };
    if ask(context)? {
        return Ok(());
    }
    // object_r skips the role/type and user/role checks, and the bare sensitivity of the
    // low level skips the category checks: what remains is whether the names exist.
    let bare_level = context.level().map(|level| {
        Level::single(SensitivityLevel::new(
            level.low().sensitivity,
            Default::default(),
        ))
    });
    let as_object = |user: &str| {
        Context::new(user, "object_r", context.type_(), bare_level)
            .expect("parts of a valid context form a valid context")
    };
    if !ask(&as_object(context.user()))? {
        let user_is_the_problem = context.user() != "system_u" && ask(&as_object("system_u"))?;
        return Err(if user_is_the_problem {
            PolicyError::MissingUser {
                user: context.user().to_string(),
                context: shown,
            }
        } else {
            PolicyError::MissingType {
                type_: context.type_().to_string(),
                context: shown,
            }
        });
    }
    if let (Some(level), Some(bare)) = (context.level(), bare_level) {
        if ask(&context.with_level(bare))? {
            return Err(PolicyError::LevelNotAllowed {
                level: level.to_string(),
                context: shown,
            });
        }
    }
    Err(PolicyError::RoleNotAllowed {
        user: context.user().to_string(),
        role: context.role().to_string(),
        type_: context.type_().to_string(),
        context: shown,
    })
}
