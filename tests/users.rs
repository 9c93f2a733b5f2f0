//! Users and sessions against a real PostgreSQL.

mod common;

use ascend::app::users::{self, Changes, Registration};
use ascend::app::{resolve, Actor};
use ascend::domain::{DisplayName, Email, Password};
use ascend::Error;
use common::*;
use sqlx::PgPool;

#[sqlx::test]
async fn register_grants_cash_through_the_ledger_and_refuses_duplicate_emails(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    let r = Registration::parse("Kim@Example.com", "김민준", "password123", None).unwrap();
    let u = users::register(&app, &r, "test").await.unwrap();
    assert_eq!(u.initial_cash, dec(10_000_000));
    assert_eq!(cash(&app, u.id).await, (dec(10_000_000), dec(0)));
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(u.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let dup = Registration::parse("kim@EXAMPLE.com", "other", "password123", None).unwrap();
    let e = users::register(&app, &dup, "test").await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "email: kim@EXAMPLE.com is already registered"
    );
    assert!(Registration::parse("kim", "x", "password123", None).is_err());
    assert!(Registration::parse("a@b.kr", "x", "short", None).is_err());
    assert!(Registration::parse("a@b.kr", "x", "password123", Some(dec(-1))).is_err());
    assert_audit_clean(&app).await;
}

#[sqlx::test]
async fn sessions_log_in_expire_and_reject_forgeries(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    let id = user(&app, "s@example.com", 1_000).await;
    let e = users::login(&app, "s@example.com", "wrong-password")
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "login: email or password is wrong");
    let e = users::login(&app, "nobody@example.com", "password123")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Auth(_)));
    let (u, token, expires) = users::login(&app, "S@EXAMPLE.COM", "password123")
        .await
        .unwrap();
    assert_eq!(u.id, id);
    let stored: String = sqlx::query_scalar("SELECT token_hash FROM sessions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_ne!(stored, token, "only the hash is stored");
    assert_eq!(
        resolve(&app, &Actor::Session(token.clone()))
            .await
            .unwrap()
            .id,
        id
    );

    let forged = Actor::Session("0".repeat(64));
    assert!(
        matches!(resolve(&app, &forged).await.unwrap_err(), Error::Auth(m) if m.contains("not recognised"))
    );
    let garbage = Actor::Session("hello".into());
    assert!(
        matches!(resolve(&app, &garbage).await.unwrap_err(), Error::Auth(m) if m.contains("malformed"))
    );
    let late = app_at(
        &pool,
        &(expires + chrono::Duration::seconds(1)).to_rfc3339(),
    );
    assert!(
        matches!(resolve(&late, &Actor::Session(token.clone())).await.unwrap_err(), Error::Auth(m) if m.contains("expired"))
    );

    assert!(users::logout(&app, &token).await.unwrap());
    assert!(resolve(&app, &Actor::Session(token)).await.is_err());
    let e = resolve(&app, &Actor::Operator("ghost@example.com".into()))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)));
}

#[sqlx::test]
async fn update_needs_the_old_password(pool: PgPool) {
    let app = app_at(&pool, SESSION);
    user(&app, "u@example.com", 1_000).await;
    user(&app, "taken@example.com", 1_000).await;
    let me = Actor::Operator("u@example.com".into());
    let change = Changes {
        name: Some(DisplayName::parse("새 이름").unwrap()),
        new_password: Some(Password::parse("new-password-1").unwrap()),
        ..Default::default()
    };
    let e = users::update(&app, &me, "wrong", &change)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Auth(_)));
    let e = users::update(&app, &me, "password123", &Changes::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nothing to change"));
    let taken = Changes {
        email: Some(Email::parse("TAKEN@example.com").unwrap()),
        ..Default::default()
    };
    let e = users::update(&app, &me, "password123", &taken)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "email: TAKEN@example.com is already registered"
    );
    let u = users::update(&app, &me, "password123", &change)
        .await
        .unwrap();
    assert_eq!(u.display_name.as_deref(), Some("새 이름"));
    assert!(users::login(&app, "u@example.com", "password123")
        .await
        .is_err());
    assert!(users::login(&app, "u@example.com", "new-password-1")
        .await
        .is_ok());
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'user.update'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}
