//! Sessions and passwords against a real PostgreSQL: expiry by the app's clock, a password
//! change ending the other sessions, and an account deletion leaving no trace of the email in
//! the audit log.

mod common;

use ascend::app::users::{self, Changes, SESSION_DAYS};
use ascend::app::{resolve, Actor, App};
use ascend::domain::{DisplayName, Password};
use ascend::Error;
use chrono::Duration;
use common::*;
use sqlx::PgPool;

async fn login(app: &App, email: &str, password: &str) -> String {
    users::login(app, email, password).await.unwrap().1
}

async fn valid(app: &App, token: &str) -> bool {
    match resolve(app, &Actor::Session(token.to_string())).await {
        Ok(_) => true,
        Err(Error::Auth(_)) => false,
        Err(e) => panic!("{e}"),
    }
}

#[sqlx::test]
async fn a_session_expires_by_the_app_clock(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    user(&app, "clock@example.com", 1_000).await;
    let (_, token, expires) = users::login(&app, "clock@example.com", "password123")
        .await
        .unwrap();
    // The expiry is set from the app's clock, not the machine's.
    assert_eq!(expires, app.clock.now() + Duration::days(SESSION_DAYS));
    let stored: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT expires_at FROM sessions")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(stored, expires);
    // And judged by it: valid a second before, expired at the instant.
    let before = app_at(&pool, &(expires - Duration::seconds(1)).to_rfc3339());
    assert!(valid(&before, &token).await);
    let at = app_at(&pool, &expires.to_rfc3339());
    let e = resolve(&at, &Actor::Session(token.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "session: the session expired at 2026-12-01 01:00 UTC; run `ascend login`"
    );
}

#[sqlx::test]
async fn a_password_change_ends_the_other_sessions(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    user(&app, "pw@example.com", 1_000).await;
    user(&app, "other@example.com", 1_000).await;
    let laptop = login(&app, "pw@example.com", "password123").await;
    let phone = login(&app, "pw@example.com", "password123").await;
    let tablet = login(&app, "pw@example.com", "password123").await;
    let someone_else = login(&app, "other@example.com", "password123").await;

    // A name change ends nothing.
    let rename = Changes {
        name: Some(DisplayName::parse("새 이름").unwrap()),
        ..Default::default()
    };
    users::update(
        &app,
        &Actor::Session(laptop.clone()),
        "password123",
        &rename,
    )
    .await
    .unwrap();
    assert!(valid(&app, &phone).await && valid(&app, &tablet).await);

    // A new password through the laptop's session: the laptop stays, the others end.
    let change = |p: &str| Changes {
        new_password: Some(Password::parse(p).unwrap()),
        ..Default::default()
    };
    users::update(
        &app,
        &Actor::Session(laptop.clone()),
        "password123",
        &change("new-password-1"),
    )
    .await
    .unwrap();
    assert!(valid(&app, &laptop).await);
    assert!(!valid(&app, &phone).await);
    assert!(!valid(&app, &tablet).await);
    assert!(valid(&app, &someone_else).await, "another user's session");
    let ended: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT detail->'ended_sessions' FROM audit_log WHERE action = 'user.update' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(ended, [serde_json::json!(0), serde_json::json!(2)]);

    // An operator's change (--user) ends every session, the laptop's too.
    let phone = login(&app, "pw@example.com", "new-password-1").await;
    users::update(
        &app,
        &Actor::Operator("pw@example.com".into()),
        "new-password-1",
        &change("new-password-2"),
    )
    .await
    .unwrap();
    assert!(!valid(&app, &laptop).await);
    assert!(!valid(&app, &phone).await);
    assert!(valid(&app, &someone_else).await);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 1);
}

/// Audit rows that mention `email` anywhere, in any case.
async fn mentions(pool: &PgPool, email: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM audit_log
         WHERE actor ILIKE '%' || $1 || '%' OR detail::text ILIKE '%' || $1 || '%'",
    )
    .bind(email)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn deleting_an_account_scrubs_its_email_from_the_audit_log(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    let id = user(&app, "Alice.Kim+x@Example.com", 1_000).await;
    let other = user(&app, "bob@example.com", 1_000).await;
    let me = Actor::Operator("alice.kim+x@example.com".into());
    // New rows name the user by id, never by email.
    let rename = Changes {
        name: Some(DisplayName::parse("앨리스").unwrap()),
        ..Default::default()
    };
    users::update(&app, &me, "password123", &rename)
        .await
        .unwrap();
    let actor: String =
        sqlx::query_scalar("SELECT actor FROM audit_log WHERE action = 'user.update'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(actor, format!("operator for user #{id}"));
    // Rows written before that named the email, in the actor (with an earlier email too) and
    // in a detail; one names it on another user's row.
    for (actor, user_id, detail) in [
        ("operator for alice.kim+x@example.com", id, "{}"),
        ("operator for old-alice@example.com", id, "{}"),
        (
            "operator",
            other,
            r#"{"note": "referred by ALICE.KIM+X@EXAMPLE.COM"}"#,
        ),
    ] {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, user_id, detail)
             VALUES (now(), $1, 'legacy', $2, $3::jsonb)",
        )
        .bind(actor)
        .bind(user_id)
        .bind(detail)
        .execute(&pool)
        .await
        .unwrap();
    }
    assert_eq!(mentions(&pool, "alice.kim+x@example.com").await, 2);
    let rows_before: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&pool)
        .await
        .unwrap();

    users::delete(&app, &me, None).await.unwrap();

    assert_eq!(mentions(&pool, "alice.kim+x@example.com").await, 0);
    assert_eq!(mentions(&pool, "old-alice@example.com").await, 0);
    let legacy: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT actor, detail FROM audit_log WHERE action = 'legacy' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let deleted = format!("user #{id} (deleted)");
    assert_eq!(
        legacy,
        [
            (format!("operator for {deleted}"), serde_json::json!({})),
            (format!("operator for {deleted}"), serde_json::json!({})),
            (
                "operator".to_string(),
                serde_json::json!({ "note": format!("referred by {deleted}") })
            ),
        ]
    );
    // Kept for audit: every row is still there, the deletion's own one added.
    let rows_after: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows_after, rows_before + 1);
    assert_eq!(mentions(&pool, "bob@example.com").await, 0);
}
