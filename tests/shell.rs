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

#[sqlx::test]
async fn config_files_flags_and_environment_take_precedence_in_that_order(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    seed_stocks(&app_at(&pool, SESSION)).await;
    let dir = tempfile::tempdir().unwrap();
    let system = dir.path().join("system.toml");
    std::fs::write(
        &system,
        format!(
            "database_url = \"{}\"\nsource = \"sim:1\"\nformat = \"csv\"\n",
            cli.url
        ),
    )
    .unwrap();
    let user_dir = dir.path().join("user");
    std::fs::create_dir(&user_dir).unwrap();
    let show = |env: &[(&str, &str)], args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ascend"));
        cmd.args(args)
            .env_remove("DATABASE_URL")
            .env_remove("ASCEND_SOURCE")
            .env_remove("ASCEND_FORMAT")
            .env_remove("ASCEND_NOW")
            .env("ASCEND_SYSTEM_CONFIG", &system)
            .env("ASCEND_CONFIG_DIR", &user_dir);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let origins = |o: &std::process::Output| -> Vec<(String, String)> {
        assert_eq!(code(o), 0, "{}", stderr(o));
        let v: serde_json::Value = serde_json::from_str(&stdout(o)).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["value"].as_str().unwrap().to_string(),
                    r["origin"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let sys = system.display().to_string();
    // The system file alone: it names the database, so a command needs nothing else.
    let o = show(&[], &["config", "show", "-f", "json"]);
    assert_eq!(
        origins(&o),
        [
            (cli.url.clone(), sys.clone()),
            ("sim:1".into(), sys.clone()),
            ("json".into(), "flag --format".into()),
        ]
    );
    let o = show(&[], &["stock", "list"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("code,"),
        "csv from the system file: {}",
        stdout(&o)
    );
    // The user file overrides it.
    let user = user_dir.join("config.toml");
    std::fs::write(&user, "source = \"sim:7\"\nformat = \"json\"\n").unwrap();
    let o = show(&[], &["stock", "list"]);
    assert!(
        stdout(&o).starts_with('['),
        "json from the user file: {}",
        stdout(&o)
    );
    // The environment overrides both; a flag overrides the environment.
    let o = show(
        &[("ASCEND_SOURCE", "sim:9"), ("ASCEND_FORMAT", "json")],
        &["config", "show"],
    );
    assert_eq!(
        origins(&o),
        [
            (cli.url.clone(), sys.clone()),
            ("sim:9".into(), "environment ASCEND_SOURCE".into()),
            ("json".into(), "environment ASCEND_FORMAT".into()),
        ]
    );
    let o = show(
        &[("ASCEND_FORMAT", "json")],
        &["stock", "list", "-f", "csv"],
    );
    assert!(stdout(&o).starts_with("code,"), "{}", stdout(&o));
    let o = show(&[], &["config", "show", "-f", "json"]);
    assert_eq!(origins(&o)[1], ("sim:7".into(), user.display().to_string()));
    // A key the program does not know is refused, naming the file and the line.
    std::fs::write(&user, "source = \"sim:7\"\nfromat = \"json\"\n").unwrap();
    let o = show(&[], &["config", "show"]);
    assert_eq!(code(&o), 3);
    assert!(
        stderr(&o).starts_with(&format!(
            "error: config: {} (line 2): unknown field `fromat`",
            user.display()
        )),
        "{}",
        stderr(&o)
    );
}
