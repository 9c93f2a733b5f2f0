//! The double-entry ledger. [`post`] is the only way cash and share balances change: it writes
//! the entries and their legs and applies a [`Posting`]'s balance changes to the cached rows
//! (accounts, holdings) in the caller's transaction, after checking that each row's total
//! change equals the sum of its legs.
//!
//! What moves between owners is in the ledger: grants, purchases, sales, fees, taxes. A
//! reservation is not a movement: it earmarks part of a user's own cash or shares for an open
//! order, so it changes how a balance splits into available and reserved, not the balance. The
//! split is checked against the open orders (audit invariant 3); the total against the ledger
//! (invariant 1).
//!
//! A resting order written with checked locks makes its reservation in the statement that
//! inserts it (`trading::write_placements`, `Locks::Checked`); every other reservation goes
//! through [`post`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use serde::Serialize;
use sqlx::FromRow;

pub use crate::domain::ledger::{Book, CashDelta, HoldingDelta, Leg, KRW};
use crate::domain::{Side, StockCode};
use crate::error::{Error, Result};

/// A fill as stored; a posting inserts the fills its entries record.
#[derive(Debug, Clone, Serialize, FromRow, PartialEq)]
pub struct FillRow {
    pub id: i64,
    pub order_id: i64,
    pub user_id: i64,
    pub code: String,
    #[sqlx(try_from = "String")]
    pub side: Side,
    pub quantity: i64,
    pub price: Decimal,
    pub amount: Decimal,
    pub fee: Decimal,
    pub tax: Decimal,
    pub filled_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Grant,
    Fill,
}

impl EntryKind {
    fn as_str(self) -> &'static str {
        match self {
            EntryKind::Grant => "grant",
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
    pub fn leg(self, user: Option<i64>, book: Book, asset: &str, amount: Decimal) -> Self {
        self.legs([Leg::new(user, book, asset, amount)])
    }

    /// Adds legs; zero amounts are dropped.
    pub fn legs(mut self, legs: impl IntoIterator<Item = Leg>) -> Self {
        self.legs
            .extend(legs.into_iter().filter(|l| !l.amount.is_zero()));
        self
    }

    /// True when the legs sum to zero for every asset.
    pub fn is_balanced(&self) -> bool {
        crate::domain::ledger::balanced(&self.legs)
    }
}

/// Everything one posting changes: ledger entries, and the balance rows they move — a
/// [`CashDelta`] per user and a [`HoldingDelta`] per holding.
#[derive(Debug, Clone, Default)]
pub struct Posting {
    pub entries: Vec<Entry>,
    pub cash: BTreeMap<i64, CashDelta>,
    pub shares: BTreeMap<(i64, String), HoldingDelta>,
}

impl Posting {
    pub fn entry(&mut self, e: Entry) {
        self.entries.push(e);
    }
    pub fn cash(&mut self, user: i64, delta: CashDelta) {
        *self.cash.entry(user).or_default() += delta;
    }
    pub fn shares(&mut self, user: i64, code: &str, delta: HoldingDelta) {
        *self.shares.entry((user, code.to_string())).or_default() += delta;
    }
    /// Earmarks (positive `amount`) or frees (negative) cash for a buy, or shares for a sell.
    pub fn reserve(
        &mut self,
        user: i64,
        side: Side,
        code: &StockCode,
        amount: Decimal,
    ) -> Result<()> {
        match side {
            Side::Buy => self.cash(user, CashDelta::reserve(amount)),
            Side::Sell => self.shares(user, code.as_str(), HoldingDelta::reserve(whole(amount)?)),
        }
        Ok(())
    }

    /// Each balance row's total change equals the sum of its ledger legs (and no leg lands on
    /// a row the posting does not change).
    fn check(&self) -> Result<()> {
        let mut cash: BTreeMap<i64, Decimal> = BTreeMap::new();
        let mut shares: BTreeMap<(i64, &str), Decimal> = BTreeMap::new();
        for l in self.entries.iter().flat_map(|e| &e.legs) {
            match (l.book, l.user_id) {
                (Book::Cash, Some(u)) => *cash.entry(u).or_default() += l.amount,
                (Book::Shares, Some(u)) => {
                    *shares.entry((u, l.asset.as_str())).or_default() += l.amount
                }
                (Book::Cash | Book::Shares, None) => {
                    return Err(unbalanced("a user book without a user"))
                }
                _ => {}
            }
        }
        for (u, d) in &self.cash {
            if cash.remove(u).unwrap_or_default() != d.total() {
                return Err(unbalanced(&format!(
                    "cash of user #{u} changes by {} but its legs say otherwise",
                    d.total()
                )));
            }
        }
        for ((u, c), d) in &self.shares {
            if shares.remove(&(*u, c.as_str())).unwrap_or_default() != Decimal::from(d.shares()) {
                return Err(unbalanced(&format!(
                    "shares of user #{u} in {c} change by {} but the legs say otherwise",
                    d.shares()
                )));
            }
        }
        if let Some(u) = cash.keys().next() {
            return Err(unbalanced(&format!(
                "cash legs of user #{u} change no balance"
            )));
        }
        if let Some((u, c)) = shares.keys().next() {
            return Err(unbalanced(&format!(
                "share legs of user #{u} in {c} change no balance"
            )));
        }
        Ok(())
    }
}

fn unbalanced(what: &str) -> Error {
    Error::Unexpected(anyhow::anyhow!("refusing a posting: {what}"))
}

/// Writes the entries and applies them to accounts and holdings, in the caller's transaction.
/// The caller holds the account locks of every user touched. One statement does all of it.
pub async fn post(conn: &mut PgConnection, posting: &Posting, at: DateTime<Utc>) -> Result<()> {
    post_with_fills(conn, posting, &[], at).await
}

/// [`post`], also inserting the fills the entries record, in the same statement.
pub async fn post_with_fills(
    conn: &mut PgConnection,
    posting: &Posting,
    fills: &[FillRow],
    at: DateTime<Utc>,
) -> Result<()> {
    let entries = &posting.entries;
    if let Some(bad) = entries
        .iter()
        .find(|e| !e.is_balanced() || e.legs.is_empty())
    {
        return Err(Error::Unexpected(anyhow::anyhow!(
            "refusing an unbalanced or empty ledger entry: {bad:?}"
        )));
    }
    if entries.is_empty() && !fills.is_empty() {
        return Err(unbalanced("fills without their ledger entries"));
    }
    posting.check()?;
    if entries.is_empty() && posting.cash.is_empty() && posting.shares.is_empty() {
        return Ok(());
    }
    let (cu, (ca, cr)): (Vec<i64>, (Vec<Decimal>, Vec<Decimal>)) = posting
        .cash
        .iter()
        .map(|(u, d)| (*u, (d.available, d.reserved)))
        .unzip();
    // Holdings: rows whose deltas only add may be new (an upsert); rows with a decrease must
    // exist (an update, whose count is checked). Each holding is touched once.
    let (add, sub): (Vec<_>, Vec<_>) = posting
        .shares
        .iter()
        .map(|((user, code), d)| (*user, code.as_str(), *d))
        .partition(|(_, _, d)| d.only_adds());
    let add = HoldingColumns::from(&add);
    let sub = HoldingColumns::from(&sub);

    // Cash $1..$3, holdings $4..$13; a posting with entries adds them and the fills, $14...
    macro_rules! balances {
        () => {
            "add_h AS (
                 INSERT INTO holdings AS h (user_id, code, available, reserved, cost)
                 SELECT * FROM UNNEST($4::bigint[], $5::text[], $6::bigint[], $7::bigint[], $8::numeric[])
                 ON CONFLICT (user_id, code) DO UPDATE SET available = h.available + EXCLUDED.available,
                     reserved = h.reserved + EXCLUDED.reserved, cost = h.cost + EXCLUDED.cost),
             sub_h AS (
                 UPDATE holdings h SET available = h.available + d.available,
                                       reserved = h.reserved + d.reserved,
                                       cost = GREATEST(h.cost + d.cost, 0)
                 FROM UNNEST($9::bigint[], $10::text[], $11::bigint[], $12::bigint[], $13::numeric[])
                      AS d(user_id, code, available, reserved, cost)
                 WHERE h.user_id = ANY($9) AND h.user_id = d.user_id AND h.code = d.code
                 RETURNING 1),
             upd AS (
                 UPDATE accounts a SET available = a.available + d.available, reserved = a.reserved + d.reserved
                 FROM UNNEST($1::bigint[], $2::numeric[], $3::numeric[]) AS d(user_id, available, reserved)
                 WHERE a.user_id = ANY($1) AND a.user_id = d.user_id
                 RETURNING 1)
             SELECT (SELECT count(*) FROM upd), (SELECT count(*) FROM sub_h), "
        };
    }
    let query = if entries.is_empty() {
        sqlx::query_as(concat!("WITH ", balances!(), "0::bigint"))
    } else {
        // Entries get ids from the sequence in input order; legs refer to them by position.
        sqlx::query_as(concat!(
            "WITH e AS (
                 SELECT nextval('journal_entries_id_seq') AS id, t.*
                 FROM UNNEST($14::text[], $15::bigint[], $16::bigint[], $17::bigint[]) WITH ORDINALITY
                      AS t(kind, user_id, order_id, fill_id, ord)),
             lg AS (
                 SELECT l.ord, array_agg(ROW(l.user_id, l.book, l.asset, l.amount)::journal_leg) AS legs
                 FROM UNNEST($19::int[], $20::bigint[], $21::text[], $22::text[], $23::numeric[])
                      AS l(ord, user_id, book, asset, amount)
                 GROUP BY l.ord),
             ins_e AS (
                 INSERT INTO journal_entries (id, kind, user_id, order_id, fill_id, created_at, legs)
                 SELECT e.id, e.kind, e.user_id, e.order_id, e.fill_id, $18, lg.legs FROM e JOIN lg ON lg.ord = e.ord
                 RETURNING 1),
             ins_f AS (
                 INSERT INTO fills (id, order_id, user_id, code, side, quantity, price, amount, fee, tax, filled_at)
                 SELECT *, $18 FROM UNNEST($24::bigint[], $25::bigint[], $26::bigint[], $27::text[], $28::text[],
                                           $29::bigint[], $30::numeric[], $31::numeric[], $32::numeric[], $33::numeric[])),
             ",
            balances!(),
            "(SELECT count(*) FROM ins_e)"
        ))
    };
    let query = query
        .bind(&cu)
        .bind(&ca)
        .bind(&cr)
        .bind(&add.user)
        .bind(&add.code)
        .bind(&add.available)
        .bind(&add.reserved)
        .bind(&add.cost)
        .bind(&sub.user)
        .bind(&sub.code)
        .bind(&sub.available)
        .bind(&sub.reserved)
        .bind(&sub.cost);
    let query = if entries.is_empty() {
        query
    } else {
        let n_legs: usize = entries.iter().map(|e| e.legs.len()).sum();
        let (mut l_entry, mut l_user, mut l_book, mut l_asset, mut l_amount) = (
            Vec::with_capacity(n_legs),
            Vec::with_capacity(n_legs),
            Vec::with_capacity(n_legs),
            Vec::with_capacity(n_legs),
            Vec::with_capacity(n_legs),
        );
        for (i, e) in entries.iter().enumerate() {
            for l in &e.legs {
                l_entry.push(i as i32 + 1);
                l_user.push(l.user_id);
                l_book.push(l.book.as_str());
                l_asset.push(l.asset.as_str());
                l_amount.push(l.amount);
            }
        }
        let col = |f: fn(&Entry) -> Option<i64>| entries.iter().map(f).collect::<Vec<_>>();
        query
            .bind(entries.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
            .bind(col(|e| e.user_id))
            .bind(col(|e| e.order_id))
            .bind(col(|e| e.fill_id))
            .bind(at)
            .bind(l_entry)
            .bind(l_user)
            .bind(l_book)
            .bind(l_asset)
            .bind(l_amount)
            .bind(fills.iter().map(|f| f.id).collect::<Vec<_>>())
            .bind(fills.iter().map(|f| f.order_id).collect::<Vec<_>>())
            .bind(fills.iter().map(|f| f.user_id).collect::<Vec<_>>())
            .bind(fills.iter().map(|f| f.code.as_str()).collect::<Vec<_>>())
            .bind(fills.iter().map(|f| f.side.as_str()).collect::<Vec<_>>())
            .bind(fills.iter().map(|f| f.quantity).collect::<Vec<_>>())
            .bind(fills.iter().map(|f| f.price).collect::<Vec<_>>())
            .bind(fills.iter().map(|f| f.amount).collect::<Vec<_>>())
            .bind(fills.iter().map(|f| f.fee).collect::<Vec<_>>())
            .bind(fills.iter().map(|f| f.tax).collect::<Vec<_>>())
    };
    let (cash_rows, sub_rows, entry_rows): (i64, i64, i64) = query
        .fetch_one(&mut *conn)
        .await
        .map_err(map_balance_error)?;
    if entry_rows != entries.len() as i64 {
        return Err(Error::Unexpected(anyhow::anyhow!(
            "ledger posting wrote {entry_rows} of {} entries",
            entries.len()
        )));
    }
    if cash_rows != cu.len() as i64 {
        return Err(Error::Unexpected(anyhow::anyhow!(
            "ledger posting to a missing cash account"
        )));
    }
    if sub_rows != sub.user.len() as i64 {
        return Err(Error::Unexpected(anyhow::anyhow!(
            "ledger posting takes shares from a missing holding"
        )));
    }
    Ok(())
}

/// Holding deltas as column arrays.
struct HoldingColumns {
    user: Vec<i64>,
    code: Vec<String>,
    available: Vec<i64>,
    reserved: Vec<i64>,
    cost: Vec<Decimal>,
}

impl From<&Vec<(i64, &str, HoldingDelta)>> for HoldingColumns {
    fn from(rows: &Vec<(i64, &str, HoldingDelta)>) -> Self {
        HoldingColumns {
            user: rows.iter().map(|r| r.0).collect(),
            code: rows.iter().map(|r| r.1.to_string()).collect(),
            available: rows.iter().map(|r| r.2.available).collect(),
            reserved: rows.iter().map(|r| r.2.reserved).collect(),
            cost: rows.iter().map(|r| r.2.cost).collect(),
        }
    }
}

fn whole(d: Decimal) -> Result<i64> {
    let bad = || {
        Error::Unexpected(anyhow::anyhow!(
            "a share quantity of {d} is not a whole number"
        ))
    };
    if !d.fract().is_zero() {
        return Err(bad());
    }
    i64::try_from(d).map_err(|_| bad())
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
    fn entries_balance_and_drop_zero_legs() {
        let z = Entry::new(EntryKind::Fill, 1).leg(Some(1), Book::Cash, KRW, Decimal::ZERO);
        assert!(z.legs.is_empty());
        let bad = Entry::new(EntryKind::Fill, 1).leg(Some(1), Book::Cash, KRW, dec!(1));
        assert!(!bad.is_balanced());
        let good = bad.leg(None, Book::Fees, KRW, dec!(-1));
        assert!(good.is_balanced());
    }

    fn cash(available: Decimal) -> CashDelta {
        CashDelta {
            available,
            reserved: Decimal::ZERO,
        }
    }

    #[test]
    fn a_posting_must_change_each_balance_by_its_legs() {
        let code = StockCode::parse("005930").unwrap();
        // A reservation moves no money: no legs, only the split of the balance.
        let mut p = Posting::default();
        p.reserve(1, Side::Buy, &code, dec!(1000)).unwrap();
        p.reserve(1, Side::Sell, &code, dec!(5)).unwrap();
        assert_eq!(p.cash[&1], CashDelta::reserve(dec!(1000)));
        assert_eq!(p.shares[&(1, "005930".into())], HoldingDelta::reserve(5));
        assert!(p.check().is_ok());
        assert!(p.reserve(1, Side::Sell, &code, dec!(1.5)).is_err());
        // A grant: the cash legs say +100 and so must the balance.
        let grant = || {
            Entry::new(EntryKind::Grant, 2)
                .leg(None, Book::Grants, KRW, dec!(-100))
                .leg(Some(2), Book::Cash, KRW, dec!(100))
        };
        let mut ok = Posting::default();
        ok.entry(grant());
        ok.cash(2, cash(dec!(100)));
        assert!(ok.check().is_ok());
        let mut wrong = Posting::default();
        wrong.entry(grant());
        wrong.cash(2, cash(dec!(99)));
        assert!(wrong.check().is_err());
        let mut missing = Posting::default();
        missing.entry(grant());
        assert!(missing.check().is_err());
        let mut shares_off = Posting::default();
        shares_off.entry(
            Entry::new(EntryKind::Fill, 3)
                .leg(Some(3), Book::Shares, "005930", dec!(2))
                .leg(None, Book::Market, "005930", dec!(-2)),
        );
        shares_off.shares(
            3,
            "005930",
            HoldingDelta {
                available: 1,
                reserved: 0,
                cost: dec!(10),
            },
        );
        assert!(shares_off.check().is_err());
    }
}
