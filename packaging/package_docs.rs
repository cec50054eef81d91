//! Writes what the packages ship besides the binaries and can be generated, so that it
//! never drifts from the code: mcsctl's man pages (`mcsctl.8` and one per subcommand,
//! clap_mangen) and shell completions (bash, zsh, fish; clap_complete) from its clap
//! definition, and `mcsrun.toml.5` from the annotated `examples/config.toml`. Run by
//! scripts/package.sh as `cargo run --example package-docs -- OUTDIR`; not part of any
//! installed binary.

use clap_complete::Shell;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: package-docs OUTDIR");
        std::process::exit(2)
    }));
    if let Err(e) = run(&out) {
        eprintln!("package-docs: {e}");
        std::process::exit(1);
    }
}

fn run(out: &Path) -> std::io::Result<()> {
    let man8 = out.join("man/man8");
    let man5 = out.join("man/man5");
    let completions = out.join("completions");
    for dir in [&man8, &man5, &completions] {
        fs::create_dir_all(dir)?;
    }

    let version = env!("CARGO_PKG_VERSION");
    let mcsctl = mcsrun::mcsctl::command()
        .version(version)
        .after_help("See also: mcsrun(8), mcsrun.toml(5)");
    write_man(&man8.join("mcsctl.8"), &mcsctl, "8")?;
    for sub in mcsctl.get_subcommands() {
        // clap names are &'static str without its "string" feature; this process is short.
        let name: &'static str = String::leak(format!("mcsctl-{}", sub.get_name()));
        let usage: &'static str = String::leak(format!("mcsctl {}", sub.get_name()));
        let page = sub.clone().name(name).bin_name(usage).version(version);
        write_man(&man8.join(format!("{name}.8")), &page, "8")?;
    }

    for (shell, file) in [
        (Shell::Bash, "mcsctl"),
        (Shell::Zsh, "_mcsctl"),
        (Shell::Fish, "mcsctl.fish"),
    ] {
        let mut cmd = mcsrun::mcsctl::command();
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut cmd, "mcsctl", &mut text);
        fs::write(completions.join(file), text)?;
    }

    let config =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/config.toml"))?;
    fs::write(
        man5.join("mcsrun.toml.5"),
        config_man_page(&config, version),
    )?;
    Ok(())
}

fn write_man(path: &Path, cmd: &clap::Command, section: &str) -> std::io::Result<()> {
    let mut text = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .section(section)
        .manual("System Administration")
        .source(format!("mcsrun {}", env!("CARGO_PKG_VERSION")))
        .render(&mut text)?;
    fs::File::create(path)?.write_all(&text)
}

/// roff text for one line of prose.
fn roff(line: &str) -> String {
    let escaped = line.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// `mcsrun.toml(5)` from the annotated config: its first comment block is the
/// description, each further block the keys it shows (`#key = default`) and the comments
/// above them.
pub fn config_man_page(config: &str, version: &str) -> String {
    let blocks: Vec<Vec<&str>> = config
        .split("\n\n")
        .map(|b| {
            b.lines()
                .filter(|l| !l.trim().is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|b| !b.is_empty())
        .collect();
    let mut page = format!(
        ".TH MCSRUN.TOML 5 \"\" \"mcsrun {version}\" \"File Formats\"\n\
         .SH NAME\nmcsrun.toml \\- configuration of mcsrun (/etc/mcsrun/config.toml)\n\
         .SH SYNOPSIS\n/etc/mcsrun/config.toml\n.SH DESCRIPTION\n"
    );
    let (head, keys) = blocks
        .split_first()
        .expect("examples/config.toml has a header");
    for line in head {
        let text = line.trim_start_matches('#').trim();
        if !text.starts_with('/') {
            page.push_str(&roff(text));
            page.push('\n');
        }
    }
    page.push_str(
        "A key missing from the file takes the default shown; the package installs the \
         file with every key commented out.\n.SH KEYS\n",
    );
    for block in keys {
        let (settings, prose): (Vec<&str>, Vec<&str>) = block.iter().partition(|l| {
            let t = l.trim_start_matches('#');
            t.split_once(" = ")
                .is_some_and(|(k, _)| !k.contains(' ') && !k.is_empty())
                && !t.starts_with(' ')
        });
        if settings.is_empty() {
            continue;
        }
        page.push_str(".TP\n");
        let heads: Vec<String> = settings
            .iter()
            .map(|s| format!("\\fB{}\\fR", roff(s.trim_start_matches('#'))))
            .collect();
        page.push_str(&heads.join(", "));
        page.push('\n');
        // Tables in the comments (columns set apart by two spaces, continuation lines
        // indented) keep their layout; prose is filled.
        let mut in_table = false;
        for line in prose {
            let text = line.trim_start_matches('#');
            let text = text.strip_prefix(' ').unwrap_or(text);
            let tabular = text.starts_with(' ') || text.contains("  ");
            if tabular != in_table {
                page.push_str(if tabular { ".nf\n" } else { ".fi\n" });
                in_table = tabular;
            }
            page.push_str(&roff(if tabular { text } else { text.trim() }));
            page.push('\n');
        }
        if in_table {
            page.push_str(".fi\n");
        }
    }
    page.push_str(
        ".SH ENVIRONMENT\nMCSRUN_CONFIG names another file; MCSRUN_RUNTIME, MCSRUN_STATE_DIR and \
         MCSRUN_SELINUX override their keys, and the \\-\\-mcs\\-* flags of mcsrun(8) override \
         the environment.\n.SH SEE ALSO\nmcsrun(8), mcsctl(8)\n",
    );
    page
}
