//! The settings documentation follows src/config.rs: README.md's settings table is generated from
//! the clap definition, and .env.example names every environment variable.
//!
//! Regenerate the table after changing a setting:
//!     UPDATE_README=1 cargo test --test it settings_doc::

use std::path::PathBuf;

use clap::CommandFactory;
use letta_rs::config::Config;

const BEGIN: &str =
    "<!-- BEGIN settings: generated from src/config.rs by tests/it/settings_doc.rs -->";
const END: &str = "<!-- END settings -->";

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (flag, environment variable, default, help) of every setting.
fn settings() -> Vec<(String, Option<String>, Option<String>, String)> {
    Config::command()
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            if long == "help" || long == "version" {
                return None;
            }
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let default = (!defaults.is_empty()).then(|| defaults.join(", "));
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            Some((format!("--{long}"), env, default, help))
        })
        .collect()
}

fn settings_table() -> String {
    let mut out =
        String::from("| Flag | Environment variable | Default | Meaning |\n|---|---|---|---|\n");
    for (flag, env, default, help) in settings() {
        let env = env.map_or_else(|| "—".to_owned(), |e| format!("`{e}`"));
        let default = default.map_or_else(|| "unset".to_owned(), |d| format!("`{d}`"));
        out.push_str(&format!(
            "| `{flag}` | {env} | {default} | {} |\n",
            help.replace('|', "\\|")
        ));
    }
    out
}

#[test]
fn readme_settings_table_is_current() {
    let path = crate_dir().join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let (Some(begin), Some(end)) = (readme.find(BEGIN), readme.find(END)) else {
        panic!("README.md lacks the settings markers:\n{BEGIN}\n{END}");
    };
    let body_start = begin + BEGIN.len() + 1;
    let current = &readme[body_start.min(end)..end];
    let wanted = settings_table();
    if current == wanted {
        return;
    }
    if std::env::var("UPDATE_README").as_deref() == Ok("1") {
        let updated = format!("{}{}{}", &readme[..body_start], wanted, &readme[end..]);
        std::fs::write(&path, updated).expect("write README.md");
        eprintln!("updated the settings table in {}", path.display());
        return;
    }
    panic!(
        "README.md's settings table does not match src/config.rs.\nExpected:\n{wanted}\n\
         Regenerate it with\n    UPDATE_README=1 cargo test --test it settings_doc::\nand commit the result."
    );
}

#[test]
fn env_example_names_every_variable() {
    let example = std::fs::read_to_string(crate_dir().join(".env.example")).expect(".env.example");
    let missing: Vec<String> = settings()
        .into_iter()
        .filter_map(|(_, env, _, _)| env)
        .filter(|env| {
            !example.lines().any(|line| {
                let line = line.trim_start_matches('#').trim_start();
                line.strip_prefix(env.as_str())
                    .is_some_and(|rest| rest.starts_with('='))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        ".env.example lacks {missing:?} (one `NAME=` line, commented or not, per setting)"
    );
}
