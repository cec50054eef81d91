//! `--security-opt label=…` as engines record it, turned into an [`EngineLabelRequest`].
//!
//! docker stores the user's options verbatim in `hostconfig.json` `SecurityOpt`:
//! `label=disable`, `label=user:U`, `label=role:R`, `label=type:T`, `label=level:L`,
//! `label=filetype:T` (`label:` with a colon is the deprecated spelling; `nested` asks
//! go-selinux for nested containers and has no meaning for the level). Other options
//! (`seccomp=`, `apparmor=`, `no-new-privileges`, …) are not about labels and are skipped.

use crate::EngineLabelRequest;

/// The label request in `options`, `None` when they hold no label option. `origin` says
/// where they were read, for messages. An unknown label key is an error (docker itself
/// refuses it, so a record holding one is not docker's doing).
pub fn parse(options: &[String], origin: &str) -> Result<Option<EngineLabelRequest>, String> {
    let mut request = EngineLabelRequest {
        origin: origin.to_string(),
        ..Default::default()
    };
    let mut any = false;
    for option in options {
        let value = if option == "disable" {
            "disable"
        } else if let Some(v) = option
            .strip_prefix("label=")
            .or_else(|| option.strip_prefix("label:"))
        {
            v
        } else {
            continue;
        };
        any = true;
        match value {
            "disable" => request.disable = true,
            "nested" => {}
            _ => {
                let Some((key, v)) = value.split_once(':') else {
                    return Err(format!(
                        "security option {option:?}: expected disable or KEY:VALUE with KEY one of user, role, type, level, filetype"
                    ));
                };
                let slot = match key {
                    "user" => &mut request.user,
                    "role" => &mut request.role,
                    "type" => &mut request.process_type,
                    "level" => &mut request.level,
                    "filetype" => &mut request.file_type,
                    other => {
                        return Err(format!(
                            "security option {option:?}: unknown label key {other:?} (expected user, role, type, level or filetype)"
                        ))
                    }
                };
                *slot = Some(v.to_string());
            }
        }
    }
    Ok(any.then_some(request))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_label_option_is_no_request() {
        assert_eq!(parse(&[], "o").unwrap(), None);
        assert_eq!(
            parse(&opts(&["seccomp=unconfined", "no-new-privileges"]), "o").unwrap(),
            None
        );
    }

    #[test]
    fn every_key_and_both_spellings() {
        let r = parse(
            &opts(&[
                "label=user:staff_u",
                "label:role:staff_r",
                "label=type:container_init_t",
                "label=level:s0:c1,c2",
                "label=filetype:container_var_lib_t",
                "apparmor=unconfined",
            ]),
            "docker",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            r,
            EngineLabelRequest {
                origin: "docker".into(),
                disable: false,
                user: Some("staff_u".into()),
                role: Some("staff_r".into()),
                process_type: Some("container_init_t".into()),
                file_type: Some("container_var_lib_t".into()),
                level: Some("s0:c1,c2".into()),
            }
        );
    }

    #[test]
    fn disable_in_each_form() {
        for form in ["label=disable", "label:disable", "disable"] {
            assert!(
                parse(&opts(&[form]), "o").unwrap().unwrap().disable,
                "{form}"
            );
        }
        let nested = parse(&opts(&["label=nested"]), "o").unwrap().unwrap();
        assert!(!nested.disable && nested.level.is_none());
    }

    #[test]
    fn malformed_options_are_named() {
        let e = parse(&opts(&["label=levels0"]), "o").unwrap_err();
        assert!(e.contains("\"label=levels0\""), "{e}");
        let e = parse(&opts(&["label=colour:red"]), "o").unwrap_err();
        assert!(e.contains("unknown label key \"colour\""), "{e}");
    }
}
