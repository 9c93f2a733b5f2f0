//! The double-entry ledger. [`post`] is the only way cash and share balances change: it writes
//! the entries and their legs and applies the legs to the cached balances (accounts, holdings)
//! in the caller's transaction, so a cached balance is the sum of its legs by construction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use crate::domain::{Side, StockCode};
use crate::error::{Error, Result};

/// Where a leg lands: a user's book, or a system book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Book {
    Cash,
    CashReserved,
    Shares,
    SharesReserved,
    Grants,
    Fees,
    Taxes,
    Market,
}

impl Book {
    pub fn as_str(self) -> &'static str {
        match self {
            Book::Cash => "cash",
            Book::CashReserved => "cash_reserved",
            Book::Shares => "shares",
            Book::SharesReserved => "shares_reserved",
            Book::Grants => "grants",
            Book::Fees => "fees",
            Book::Taxes => "taxes",
            Book::Market => "market",
        }
    }
}

pub const KRW: &str = "KRW";

#[derive(Debug, Clone, PartialEq)]
pub struct Leg {
    pub user_id: Option<i64>,
    pub book: Book,
    /// `KRW` or a stock code.
    pub asset: String,
    pub amount: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Grant,
    Reserve,
    Release,
    Fill,
}

impl EntryKind {
    fn as_str(self) -> &'static str {
        match self {
            EntryKind::Grant => "grant",
            EntryKind::Reserve => "reserve",
            EntryKind::Release => "release",
            EntryKind::Fill => "fill",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: EntryKind,
    pub user_id: Option<i64>,
    pub order_id: Option<i64>,
    pub fill_id: Option<i64>,
    pub legs: Vec<Leg>,
}

impl Entry {
    pub fn new(kind: EntryKind, user_id: i64) -> Self {
        Entry {
            kind,
            user_id: Some(user_id),
            order_id: None,
            fill_id: None,
            legs: Vec::new(),
        }
    }
    pub fn order(mut self, id: i64) -> Self {
        self.order_id = Some(id);
        self
    }
    pub fn fill(mut self, id: i64) -> Self {
        self.fill_id = Some(id);
        self
    }
    /// Adds a leg; zero amounts are dropped.
    pub fn leg(mut self, user: Option<i64>, book: Book, asset: &str, amount: Decimal) -> Self {
        if !amount.is_zero() {
            self.legs.push(Leg {
                user_id: user,
                book,
                asset: asset.to_string(),
                amount,
            });
        }
        self
    }

    /// Moves cash (buy) or shares (sell) between a user's free and reserved books.
    /// Positive `amount` reserves, negative releases.
    pub fn reservation(
        user: i64,
        order: i64,
        side: Side,
        code: &StockCode,
        amount: Decimal,
    ) -> Self {
        let kind = if amount.is_sign_negative() {
            EntryKind::Release
        } else {
            EntryKind::Reserve
        };
        let (free, held, asset) = match side {
            Side::Buy => (Book::Cash, Book::CashReserved, KRW),
            Side::Sell => (Book::Shares, Book::SharesReserved, code.as_str()),
        };
        Entry::new(kind, user)
            .order(order)
            .leg(Some(user), free, asset, -amount)
            .leg(Some(user), held, asset, amount)
    }

    /// True when the legs sum to zero for every asset.
    pub fn is_balanced(&self) -> bool {
        let mut sums: BTreeMap<&str, Decimal> = BTreeMap::new();
        for l in &self.legs {
            *sums.entry(&l.asset).or_default() += l.amount;
        }
        sums.values().all(Decimal::is_zero)
    }
}

/// A change to the cost basis of a holding (not a ledger quantity: purchase cost of the
/// shares still held, used for the average price).
#[derive(Debug, Clone, PartialEq)]
pub struct CostDelta {
    pub user_id: i64,
    pub code: String,
    pub delta: Decimal,
}

/// Writes the entries and applies them to accounts and holdings, in the caller's transaction.
/// The caller holds the account locks of every user touched. Entries, legs and cash balances
/// are written by one statement; holdings by at most two more.
pub async fn post(
    conn: &mut PgConnection,
    entries: &[Entry],
    costs: &[CostDelta],
    at: DateTime<Utc>,
) -> Result<()> {
    if let Some(bad) = entries
        .iter()
        .find(|e| !e.is_balanced() || e.legs.is_empty())
    {
        return Err(Error::Unexpected(anyhow::anyhow!(
            "refusing an unbalanced or empty ledger entry: {bad:?}"
        )));
    }
    if entries.is_empty() {
        return Ok(());
    }
    let mut kinds = Vec::with_capacity(entries.len());
    let mut users = Vec::with_capacity(entries.len());
    let mut orders = Vec::with_capacity(entries.len());
    let mut fills = Vec::with_capacity(entries.len());
    let n_legs: usize = entries.iter().map(|e| e.legs.len()).sum();
    let (mut l_entry, mut l_user, mut l_book, mut l_asset, mut l_amount) = (
        Vec::with_capacity(n_legs),
        Vec::with_capacity(n_legs),
        Vec::with_capacity(n_legs),
        Vec::with_capacity(n_legs),
        Vec::with_capacity(n_legs),
    );
    // Aggregated deltas per account and per holding.
    let mut cash: BTreeMap<i64, (Decimal, Decimal)> = BTreeMap::new();
    let mut shares: BTreeMap<(i64, &str), (i64, i64, Decimal)> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        kinds.push(e.kind.as_str());
        users.push(e.user_id);
        orders.push(e.order_id);
        fills.push(e.fill_id);
        for l in &e.legs {
            l_entry.push(i as i32 + 1);
            l_user.push(l.user_id);
            l_book.push(l.book.as_str());
            l_asset.push(l.asset.as_str());
            l_amount.push(l.amount);
            let Some(u) = l.user_id else { continue };
            match l.book {
                Book::Cash => cash.entry(u).or_default().0 += l.amount,
                Book::CashReserved => cash.entry(u).or_default().1 += l.amount,
                Book::Shares => shares.entry((u, &l.asset)).or_default().0 += whole(l.amount)?,
                Book::SharesReserved => {
                    shares.entry((u, &l.asset)).or_default().1 += whole(l.amount)?
                }
                _ => {}
            }
        }
    }
    for c in costs {
        shares.entry((c.user_id, &c.code)).or_default().2 += c.delta;
    }
    let (cu, (ca, cr)): (Vec<i64>, (Vec<Decimal>, Vec<Decimal>)) = cash.into_iter().unzip();

    // Entries get ids from the sequence in input order; legs refer to them by position.
    let updated: i64 = sqlx::query_scalar(
        "WITH e AS (
             SELECT nextval('journal_entries_id_seq') AS id, t.*
             FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) WITH ORDINALITY
                  AS t(kind, user_id, order_id, fill_id, ord)),
         ins_e AS (
             INSERT INTO journal_entries (id, kind, user_id, order_id, fill_id, created_at)
             SELECT id, kind, user_id, order_id, fill_id, $5 FROM e),
         ins_l AS (
             INSERT INTO journal_legs (entry_id, user_id, book, asset, amount)
             SELECT e.id, l.user_id, l.book, l.asset, l.amount
             FROM UNNEST($6::int[], $7::bigint[], $8::text[], $9::text[], $10::numeric[])
                  AS l(ord, user_id, book, asset, amount)
             JOIN e ON e.ord = l.ord),
         upd AS (
             UPDATE accounts a SET available = a.available + d.available, reserved = a.reserved + d.reserved
             FROM UNNEST($11::bigint[], $12::numeric[], $13::numeric[]) AS d(user_id, available, reserved)
             WHERE a.user_id = d.user_id
             RETURNING 1)
         SELECT count(*) FROM upd",
    )
    .bind(&kinds)
    .bind(&users)
    .bind(&orders)
    .bind(&fills)
    .bind(at)
    .bind(&l_entry)
    .bind(&l_user)
    .bind(&l_book)
    .bind(&l_asset)
    .bind(&l_amount)
    .bind(&cu)
    .bind(&ca)
    .bind(&cr)
    .fetch_one(&mut *conn)
    .await
    .map_err(map_balance_error)?;
    if updated != cu.len() as i64 {
        return Err(Error::Unexpected(anyhow::anyhow!(
            "ledger posting to a missing cash account"
        )));
    }

    // Holdings: rows whose deltas only add may be new (one upsert); rows with a decrease must
    // exist (one update). Each holding is touched once.
    let (mut add, mut sub): (Vec<_>, Vec<_>) = (Vec::new(), Vec::new());
    for ((user, code), d) in shares {
        if d.0 >= 0 && d.1 >= 0 && !d.2.is_sign_negative() {
            add.push((user, code, d));
        } else {
            sub.push((user, code, d));
        }
    }
    let cols = |rows: &[(i64, &str, (i64, i64, Decimal))]| {
        (
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            rows.iter().map(|r| r.1.to_string()).collect::<Vec<_>>(),
            rows.iter().map(|r| r.2 .0).collect::<Vec<_>>(),
            rows.iter().map(|r| r.2 .1).collect::<Vec<_>>(),
            rows.iter().map(|r| r.2 .2).collect::<Vec<_>>(),
        )
    };
    if !add.is_empty() {
        let (u, c, a, r, k) = cols(&add);
        sqlx::query(
            "INSERT INTO holdings AS h (user_id, code, available, reserved, cost)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::numeric[])
             ON CONFLICT (user_id, code) DO UPDATE SET available = h.available + EXCLUDED.available,
                 reserved = h.reserved + EXCLUDED.reserved, cost = h.cost + EXCLUDED.cost",
        )
        .bind(&u)
        .bind(&c)
        .bind(&a)
        .bind(&r)
        .bind(&k)
        .execute(&mut *conn)
        .await
        .map_err(map_balance_error)?;
    }
    if !sub.is_empty() {
        let (u, c, a, r, k) = cols(&sub);
        let done = sqlx::query(
            "UPDATE holdings h SET available = h.available + d.available,
                                   reserved = h.reserved + d.reserved,
                                   cost = GREATEST(h.cost + d.cost, 0)
             FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::numeric[])
                  AS d(user_id, code, available, reserved, cost)
             WHERE h.user_id = d.user_id AND h.code = d.code",
        )
        .bind(&u)
        .bind(&c)
        .bind(&a)
        .bind(&r)
        .bind(&k)
        .execute(&mut *conn)
        .await
        .map_err(map_balance_error)?;
        if done.rows_affected() != u.len() as u64 {
            return Err(Error::Unexpected(anyhow::anyhow!(
                "ledger posting takes shares from a missing holding"
            )));
        }
    }
    Ok(())
}

fn whole(d: Decimal) -> Result<i64> {
    i64::try_from(d)
        .map_err(|_| Error::Unexpected(anyhow::anyhow!("share leg {d} is not a whole number")))
}

/// A balance CHECK failing means a caller skipped its own sufficiency check: a bug, reported
/// as such, and the transaction rolls back.
fn map_balance_error(e: sqlx::Error) -> Error {
    match crate::error::violated_constraint(&e) {
        Some(c) => Error::Unexpected(anyhow::anyhow!("ledger posting would break {c}")),
        None => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn reservation_entries_balance_and_drop_zero_legs() {
        let code = StockCode::parse("005930").unwrap();
        let e = Entry::reservation(1, 7, Side::Buy, &code, dec!(1000));
        assert!(e.is_balanced());
        assert_eq!(e.kind, EntryKind::Reserve);
        assert_eq!(e.legs[0].book, Book::Cash);
        assert_eq!(e.legs[0].amount, dec!(-1000));
        let r = Entry::reservation(1, 7, Side::Sell, &code, dec!(-5));
        assert_eq!(r.kind, EntryKind::Release);
        assert_eq!(r.legs[1].asset, "005930");
        let z = Entry::new(EntryKind::Fill, 1).leg(Some(1), Book::Cash, KRW, Decimal::ZERO);
        assert!(z.legs.is_empty());
        let bad = Entry::new(EntryKind::Fill, 1).leg(Some(1), Book::Cash, KRW, dec!(1));
        assert!(!bad.is_balanced());
    }
}
