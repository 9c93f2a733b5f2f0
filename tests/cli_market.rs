//! The market, portfolio and asset commands through the built binary, on the simulator.

mod common;

use common::*;
use sqlx::PgPool;

fn json(o: &std::process::Output) -> serde_json::Value {
    assert_eq!(code(o), 0, "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

#[sqlx::test]
async fn crawl_trade_snapshot_and_read_back_through_the_binary(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    let at = |t: &str, args: &[&str]| {
        let mut a = vec!["--now", t];
        a.extend_from_slice(args);
        cli.run(&a, None)
    };
    let v = json(&cli.run(
        &[
            "crawl-stocks",
            "--source",
            "sim:5",
            "--history",
            "10",
            "--format",
            "json",
        ],
        None,
    ));
    assert_eq!(v["rows"], 107);
    assert_eq!(v["etfs"], 3);
    assert!(v["bars"].as_u64().unwrap() > 1000);
    assert!(
        stderr(&cli.run(&["crawl-stocks", "--source", "sim:5"], None))
            .contains("crawl-stocks: 3 pages, 107 rows")
    );
    // Weekends are skipped unless --any-day.
    let o = at("2026-11-28 10:00", &["crawl-stocks", "--source", "sim:5"]);
    assert_eq!(code(&o), 0);
    assert!(
        stderr(&o).contains("is not a trading day"),
        "{}",
        stderr(&o)
    );
    // A market outside the closed set is a usage error naming the values.
    let o = cli.run(&["crawl-stocks", "--market", "nyse"], None);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("[possible values: kospi, kosdaq, all]"),
        "{}",
        stderr(&o)
    );
    // A source that is none of the forms is a usage error naming them.
    for bad in ["yahoo", "sim:x", "replay:"] {
        let o = cli.run(&["crawl-stocks", "--source", bad], None);
        assert_eq!(code(&o), 2, "{bad}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("error: source: "), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("(use naver, replay:DIR or sim[:SEED])"),
            "{}",
            stderr(&o)
        );
    }
    let o = cli.run(&["crawl-stocks", "--concurrency", "0"], None);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("error: concurrency:"),
        "{}",
        stderr(&o)
    );
    // An unreachable Naver host is an infrastructure failure (exit 5) naming the URL.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ascend"));
    let o = cmd
        .args(["crawl-stocks", "--deadline", "5"])
        .env("DATABASE_URL", &cli.url)
        .env("ASCEND_NOW", SESSION)
        .env("ASCEND_NAVER_STOCK_URL", "http://127.0.0.1:1")
        .env("ASCEND_NAVER_MSTOCK_URL", "http://127.0.0.1:1")
        .env("ASCEND_NAVER_POLLING_URL", "http://127.0.0.1:1")
        .env("ASCEND_NAVER_CHART_URL", "http://127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    // The listings and indices are asked for at once: whichever fails first is named.
    assert!(
        stderr(&o).contains("http://127.0.0.1:1/api/") && stderr(&o).contains("connection refused"),
        "{}",
        stderr(&o)
    );

    let search = json(&cli.run(&["stock", "search", "삼성", "--format", "json"], None));
    assert_eq!(search[0]["code"], "005930", "largest market cap first");
    let exact = json(&cli.run(&["stock", "search", "000660", "--format", "json"], None));
    assert_eq!(exact[0]["code"], "000660");
    assert_eq!(code(&cli.run(&["stock", "search", "  "], None)), 3);
    assert_eq!(
        code(&cli.run(&["stock", "search", "없는회사"], None)),
        1,
        "no match, as grep"
    );
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("s.svg");
    let show = json(&cli.run(
        &[
            "stock",
            "show",
            "005930",
            "--chart",
            svg.to_str().unwrap(),
            "--format",
            "json",
        ],
        None,
    ));
    assert_eq!(show["bars"].as_array().unwrap().len(), 10);
    assert!(show["band"]["upper"].is_string());
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let table = stdout(&cli.run(&["stock", "show", "005930", "--source", "sim:5"], None));
    assert!(
        table.contains("band") && table.contains("sell qty"),
        "{table}"
    );
    let offline = json(&cli.run(
        &["stock", "show", "005930", "--offline", "--format", "json"],
        None,
    ));
    assert!(offline["order_book"].is_null() && offline["order_book_error"].is_null());
    // An unreachable order-book source still shows the stored data, with the reason.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ascend"))
        .args(["stock", "show", "005930", "--format", "json"])
        .env("DATABASE_URL", &cli.url)
        .env("ASCEND_NOW", SESSION)
        .env("ASCEND_NAVER_MSTOCK_URL", "http://127.0.0.1:1")
        .output()
        .unwrap();
    let v = json(&o);
    assert!(
        v["order_book_error"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:1/api/stock/005930/askingPrice"),
        "{v}"
    );
    assert_eq!(code(&cli.run(&["stock", "show", "123456"], None)), 3);
    let idx = json(&cli.run(&["index", "--format", "json"], None));
    assert_eq!(idx.as_array().unwrap().len(), 2);
    assert!(stdout(&cli.run(&["index"], None)).contains("KOSPI"));
    let cal = json(&cli.run(
        &["calendar", "--month", "2026-09", "--format", "json"],
        None,
    ));
    let closed: Vec<&str> = cal
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["trading"] == false)
        .map(|d| d["date"].as_str().unwrap())
        .collect();
    assert!(closed.contains(&"2026-09-24") && closed.contains(&"2026-09-25"));
    assert!(
        stdout(&cli.run(&["calendar", "--month", "2026-01"], None)).contains("2*"),
        "first trading day opens at 10:00"
    );
    assert_eq!(code(&cli.run(&["calendar", "--month", "2026-13"], None)), 3);

    // Trade, then read the portfolio live, offline and as CSV.
    let o = cli.run(
        &[
            "user",
            "register",
            "--email",
            "m@example.com",
            "--name",
            "M",
            "--password-stdin",
        ],
        Some("password123\n"),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let me = |args: &[&str]| {
        let mut a = vec!["--user", "m@example.com"];
        a.extend_from_slice(args);
        cli.run(&a, None)
    };
    assert_eq!(
        code(&me(&["place-order", "005930", "buy", "10", "--market"])),
        0
    );
    assert_eq!(
        code(&me(&["place-order", "000660", "buy", "2", "--market"])),
        0
    );
    let p = json(&me(&["portfolio", "--source", "sim:5", "--format", "json"]));
    assert_eq!(p["prices"], "live");
    assert_eq!(p["holdings"].as_array().unwrap().len(), 2);
    let p = json(&me(&["portfolio", "--offline", "--format", "json"]));
    assert_eq!(p["prices"], "stored");
    assert_eq!(p["holdings"][0]["stale"], true);
    let table = stdout(&me(&["portfolio", "--offline"]));
    assert!(
        table.contains("total assets") && table.contains("stale"),
        "{table}"
    );
    let csv = stdout(&me(&["portfolio", "--offline", "--format", "csv"]));
    // For programs the whole account: each holding, then cash and totals.
    assert!(csv.starts_with("line,code,name,quantity"), "{csv}");
    let lines: Vec<&str> = csv.lines().map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(
        lines[lines.len() - 3..],
        ["cash_available", "cash_reserved", "total"],
        "{csv}"
    );
    // A quote source that cannot be reached falls back to stored prices with a message.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ascend"))
        .args([
            "--user",
            "m@example.com",
            "portfolio",
            "--timeout-ms",
            "300",
            "--format",
            "json",
        ])
        .env("DATABASE_URL", &cli.url)
        .env("ASCEND_NOW", SESSION)
        .env("ASCEND_NAVER_POLLING_URL", "http://127.0.0.1:1")
        .output()
        .unwrap();
    let p = json(&o);
    assert!(
        p["prices"]
            .as_str()
            .unwrap()
            .starts_with("stored: live quotes failed"),
        "{p}"
    );
    assert!(stderr(&o).starts_with("portfolio: stored: live quotes failed"));

    // Snapshots: before the close up to the previous trading day (nothing: the user signed up
    // today), after it today, weekends skipped, bad dates refused.
    let o = me(&["snapshot"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).starts_with("snapshot: nothing missing up to 2026-11-23"));
    let v = json(&at("2026-11-24 16:00", &["snapshot", "--format", "json"]));
    assert_eq!(v[0]["users"], 1);
    let o = at(
        "2026-11-24 16:00",
        &["snapshot", "--from", "2026-11-21", "--to", "2026-11-24"],
    );
    assert_eq!(code(&o), 0);
    assert!(stderr(&o).contains("2026-11-22: not a trading day: skipped"));
    for (args, field) in [
        (vec!["snapshot", "--date", "2026-13-01"], "error: date:"),
        (
            vec!["snapshot", "--from", "2026-11-24", "--to", "2026-11-20"],
            "error: from:",
        ),
        (vec!["snapshot", "--date", "2026-12-01"], "error: date:"),
    ] {
        let o = at("2026-11-24 16:00", &args);
        assert_eq!(code(&o), 3, "{args:?}");
        assert!(stderr(&o).starts_with(field), "{}", stderr(&o));
    }
    let png = dir.path().join("a.png");
    let o = at(
        "2026-11-24 16:00",
        &[
            "--user",
            "m@example.com",
            "assets",
            "--history",
            "--chart",
            png.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("total assets"));
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
    let a = json(&at(
        "2026-11-24 16:00",
        &["--user", "m@example.com", "assets", "--format", "json"],
    ));
    assert!(!a["snapshots"].as_array().unwrap().is_empty());
    assert_eq!(
        code(&at(
            "2026-11-24 16:00",
            &["--user", "m@example.com", "assets", "--format", "csv"]
        )),
        0
    );
}

#[sqlx::test]
async fn the_calendar_says_where_each_answer_came_from(pool: PgPool) {
    let cli = Cli::new(&pool).await;
    // 2027 from the table: New Year's Day closed, 01-04 the first trading day at 10:00.
    let v = json(&cli.run(
        &["calendar", "--month", "2027-01", "--format", "json"],
        None,
    ));
    let day = |v: &serde_json::Value, date: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|d| d["date"] == date)
            .unwrap_or_else(|| panic!("{date} in {v}"))
            .clone()
    };
    let first = day(&v, "2027-01-04");
    assert_eq!(
        (&first["trading"], &first["opens"], &first["source"]),
        (&true.into(), &"10:00".into(), &"table".into())
    );
    assert_eq!(day(&v, "2027-01-05")["opens"], "09:00");
    let new_year = day(&v, "2027-01-01");
    assert_eq!(
        (&new_year["trading"], &new_year["opens"]),
        (&false.into(), &serde_json::Value::Null)
    );
    let o = cli.run(&["calendar", "--month", "2027-01"], None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let table = stdout(&o);
    assert!(table.contains("  4* "), "{table}");
    assert!(
        table.contains("01-04 opens 10:00 and closes 15:30"),
        "{table}"
    );
    assert!(table.contains("source: table"), "{table}");
    assert!(table.contains("20 trading days"), "{table}");

    // 2028 is past the table: without bars, an error naming the year (exit 3), nothing shown.
    let o = cli.run(&["calendar", "--month", "2028-03"], None);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(
        stderr(&o).trim_end(),
        "error: calendar: 2028 is past the KRX holiday table (2024–2027) and no crawled index \
         bars cover 2028-03-01; crawl with --history or update the table"
    );
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));

    // Crawling learns the days from the KOSPI bars; the calendar then answers from them.
    let o = cli.run(
        &[
            "--now",
            "2028-03-31 16:00",
            "crawl-stocks",
            "--source",
            "sim:5",
            "--history",
            "60",
        ],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("calendar: 2028 is past"),
        "{}",
        stderr(&o)
    );
    let v = json(&cli.run(
        &["calendar", "--month", "2028-03", "--format", "json"],
        None,
    ));
    let d = day(&v, "2028-03-02");
    assert_eq!(
        (&d["trading"], &d["opens"], &d["source"]),
        (&true.into(), &"09:00".into(), &"bars".into())
    );
    assert!(
        v.as_array().unwrap().iter().all(|d| d["source"] == "bars"),
        "{v}"
    );
    assert!(stdout(&cli.run(&["calendar", "--month", "2028-03"], None)).contains("source: bars"));
}
