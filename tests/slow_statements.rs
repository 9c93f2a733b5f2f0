//! sqlx's slow-statement event is debug output, not a warning among a command's messages. Its
//! own test binary: tracing caches whether a callsite is wanted by the subscriber of the thread
//! that first reaches it, so a test capturing events must not share the process with tests
//! running queries on other threads.

mod common;

use common::*;
use sqlx::PgPool;

/// Collects what a tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[sqlx::test]
async fn a_slow_statement_is_logged_at_debug_level_not_as_a_warning(pool: PgPool) {
    let url = url_of(&pool).await;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test runs on one thread, so the statement's events reach this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let db = ascend::store::connect(&url, 1).await.unwrap();
    sqlx::query("SELECT pg_sleep(1.1)")
        .execute(&db)
        .await
        .unwrap();
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let slow: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("slow statement"))
        .collect();
    assert_eq!(slow.len(), 1, "{log}");
    assert!(slow[0].contains("DEBUG sqlx::query"), "{log}");
}
