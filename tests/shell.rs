//! How the binary fits the shell: completions, manual pages, version, colour and log times.

mod common;

use std::process::{Command, Stdio};

use common::*;
use sqlx::PgPool;

fn ascend(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ascend"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

#[test]
fn bash_completion_is_a_script_bash_accepts_and_knows_the_subcommands() {
    let o = ascend(&["completions", "bash"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let script = stdout(&o);
    for word in ["place-order", "crawl-stocks", "settle", "admin"] {
        assert!(script.contains(word), "{word} missing");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ascend.bash");
    std::fs::write(&path, &script).unwrap();
    let check = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(check.status.success(), "{}", stderr(&check));
    for shell in ["zsh", "fish", "powershell"] {
        let o = ascend(&["completions", shell]);
        assert_eq!(code(&o), 0);
        assert!(stdout(&o).contains("place-order"), "{shell}");
    }
    assert_eq!(code(&ascend(&["completions", "tcsh"])), 2);
}

#[test]
fn the_manual_pages_render_with_man() {
    let dir = tempfile::tempdir().unwrap();
    let o = ascend(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for page in [
        "ascend.1",
        "ascend-place-order.1",
        "ascend-admin-settings-set.1",
    ] {
        let r = Command::new("man")
            .arg("-l")
            .arg(dir.path().join(page))
            .env("MANPAGER", "cat")
            .env("COLUMNS", "80")
            .output()
            .unwrap();
        assert!(r.status.success(), "{page}: {}", stderr(&r));
        assert!(stdout(&r).contains("SYNOPSIS"), "{page}");
    }
    // On stdout, the program's own page, with the exit codes.
    let page = stdout(&ascend(&["man"]));
    assert!(
        page.contains("143") && page.contains(".TH ascend 1"),
        "{page}"
    );
    let o = ascend(&["man", "--dir", "/nonexistent/dir"]);
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).starts_with("error: dir: cannot write the pages into /nonexistent/dir"));
}

#[test]
fn version_names_the_commit_and_the_build_date() {
    let v = stdout(&ascend(&["--version"]));
    // ascend 0.1.0 (0123456789ab 2026-11-30), or "unknown commit" outside a git checkout.
    let re = v.trim();
    assert!(
        re.starts_with(concat!("ascend ", env!("CARGO_PKG_VERSION"), " (")),
        "{re}"
    );
    let inner = &re[re.find('(').unwrap() + 1..re.len() - 1];
    let (commit, date) = inner.rsplit_once(' ').unwrap();
    assert!(
        chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(),
        "{re}"
    );
    assert!(
        commit == "unknown commit"
            || commit
                .trim_end_matches("-modified")
                .chars()
                .all(|c| c.is_ascii_hexdigit()),
        "{re}"
    );
}

/// Runs `ascend ARGS` on a pseudo-terminal (util-linux `script`), with extra environment.
fn on_a_terminal(url: &str, env: &[(&str, &str)], args: &str) -> String {
    let mut cmd = Command::new("script");
    cmd.args(["-qec"])
        .arg(format!("{} {args}", env!("CARGO_BIN_EXE_ascend")))
        .arg("/dev/null")
        .env("DATABASE_URL", url)
        .env("ASCEND_LOG", "info")
        .env_remove("NO_COLOR")
        .env_remove("ASCEND_NOW")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[sqlx::test]
async fn log_lines_honour_no_color_and_color_and_carry_kst(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    // settle logs its summary at info level (a crawl on a terminal draws a progress bar instead).
    let job = "settle --format json";
    let coloured = on_a_terminal(&cli.url, &[], job);
    assert!(
        coloured.contains("\u{1b}["),
        "a terminal gets colour: {coloured}"
    );
    let plain = on_a_terminal(&cli.url, &[("NO_COLOR", "1")], job);
    assert!(plain.contains(" INFO "), "{plain}");
    assert!(!plain.contains("\u{1b}["), "NO_COLOR: {plain:?}");
    let never = on_a_terminal(&cli.url, &[], &format!("--color never {job}"));
    assert!(
        !never.contains("\u{1b}[") && never.contains(" INFO "),
        "{never:?}"
    );
    // Not a terminal: no colour unless asked for.
    let o = cli.run_env(
        None,
        &[("ASCEND_LOG", "info")],
        &job.split(' ').collect::<Vec<_>>(),
        None,
    );
    assert!(!stderr(&o).contains("\u{1b}["));
    let mut always: Vec<&str> = vec!["--color", "always"];
    always.extend(job.split(' '));
    let o = cli.run_env(
        None,
        &[("ASCEND_LOG", "info"), ("NO_COLOR", "1")],
        &always,
        None,
    );
    assert!(stderr(&o).contains("\u{1b}["), "--color always wins");
    // Times in KST with the offset, like the tables.
    let line = stderr(&cli.run_env(
        None,
        &[("ASCEND_LOG", "info")],
        &job.split(' ').collect::<Vec<_>>(),
        None,
    ));
    let first = line.lines().next().unwrap();
    assert!(first.get(23..29) == Some("+09:00"), "{first}");
}

#[sqlx::test]
async fn exit_codes_and_hints_a_script_can_act_on(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    seed_stocks(&app_at(&pool, SESSION)).await;
    // No match is exit 1, as grep says it.
    let o = cli.run(&["stock", "search", "samsung"], None);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(stderr(&o), "no stock matches \"samsung\"\n");
    assert_eq!(stdout(&o), "");
    assert_eq!(code(&cli.run(&["stock", "search", "삼성"], None)), 0);
    // A chart that cannot be written names its path: bad input, exit 3.
    let o = cli.run(
        &[
            "stock",
            "show",
            "005930",
            "--offline",
            "--chart",
            "/nonexistent/x.png",
        ],
        None,
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("error: chart: cannot write /nonexistent/x.png: "),
        "{}",
        stderr(&o)
    );
    // A schema older than the program says what to run.
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let o = cli.run(&["stock", "list"], None);
    assert_eq!(code(&o), 5);
    assert!(
        stderr(&o).starts_with(
            "error: database unavailable: the database schema is older than this program"
        ) && stderr(&o).ends_with("run \"ascend db migrate\"\n"),
        "{}",
        stderr(&o)
    );
    let o = cli.run(&["db", "status"], None);
    assert_eq!(code(&o), 1, "a pending migration: {}", stderr(&o));
}

#[sqlx::test(migrations = false)]
async fn an_unmigrated_database_says_to_migrate(pool: PgPool) {
    let cli = Cli::real(&pool).await;
    let o = cli.run_at(None, &["stock", "list"], None);
    assert_eq!(code(&o), 5);
    assert_eq!(
        stderr(&o),
        "error: database unavailable: the database is not migrated: run \"ascend db migrate\"\n"
    );
}
