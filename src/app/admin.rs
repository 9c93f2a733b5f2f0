//! What only an operator does: the deployment's settings.

use serde::Serialize;

use super::App;
use crate::domain::settings::SettingName;
use crate::error::Result;
use crate::store::settings as store;
pub use crate::store::settings::SettingRow;
use crate::store::users::log_action;

/// A setting as it stands.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Changed {
    pub name: String,
    pub old: Option<String>,
    pub new: String,
    /// False when the setting already had this value: nothing was written.
    pub changed: bool,
}

/// The settings in force, by name.
pub async fn show(app: &App) -> Result<Vec<SettingRow>> {
    store::current(&mut *app.pool.acquire().await?).await
}

/// Every value the settings have had, oldest first.
pub async fn history(app: &App) -> Result<Vec<SettingRow>> {
    store::history(&mut *app.pool.acquire().await?).await
}

/// Sets a setting (operators only): the value is checked by its rule, stored as a new row of
/// the history and logged in the audit log, in one transaction. Setting the value it already
/// has writes nothing.
pub async fn set(app: &App, name: SettingName, value: &str) -> Result<Changed> {
    app.caller.require_operator("admin settings set")?;
    let value = name.parse(value)?;
    let by = app.caller.role.clone();
    let mut tx = app.pool.begin().await?;
    store::lock(&mut tx).await?;
    // A change of the deployment happens in real time, whatever a simulated clock says: the
    // history and the audit entry carry the database server's time.
    let at = store::server_now(&mut tx).await?;
    let old = store::value(&mut tx, name.as_str()).await?;
    if old.as_deref() == Some(value.as_str()) {
        return Ok(Changed {
            name: name.to_string(),
            old,
            new: value,
            changed: false,
        });
    }
    store::insert(&mut tx, name.as_str(), &value, at, &by).await?;
    log_action(
        &mut tx,
        at,
        &format!("operator {by}"),
        "settings.set",
        None,
        serde_json::json!({"name": name.as_str(), "old": old, "new": value}),
    )
    .await?;
    tx.commit().await?;
    Ok(Changed {
        name: name.to_string(),
        old,
        new: value,
        changed: true,
    })
}
