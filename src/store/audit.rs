//! The checks of `ascend audit`: one query per invariant of DESIGN.md §4, each returning a line
//! per violation. They also stand in for the foreign keys the ledger, fills, holdings and
//! orders no longer have (docs/PERFORMANCE.md says why): every reference to a user, stock,
//! order or fill is checked to exist.

use sqlx::{FromRow, PgPool};

use crate::error::Result;

/// Each check is one query returning a line per violation.
const CHECKS: &[(u8, &str)] = &[
    // 0: every entry balances per asset (the ledger's own rule; reported under invariant 1).
    (1, "SELECT format('journal entry #%s does not balance for %s: legs sum to %s', entry_id, asset, sum(amount))
         FROM journal_legs GROUP BY entry_id, asset HAVING sum(amount) <> 0 ORDER BY entry_id"),
    (1, "WITH l AS (SELECT user_id, sum(amount) AS cash FROM journal_legs
                    WHERE book = 'cash' AND user_id IS NOT NULL GROUP BY user_id)
         SELECT format('cash account of user #%s: cached %s (available %s + reserved %s), ledger says %s',
                       coalesce(a.user_id, l.user_id), a.available + a.reserved, a.available, a.reserved, coalesce(l.cash, 0))
         FROM accounts a FULL JOIN l ON l.user_id = a.user_id
         WHERE (a.available + a.reserved) IS DISTINCT FROM coalesce(l.cash, 0)
         ORDER BY 1"),
    (1, "WITH l AS (SELECT user_id, asset AS code, sum(amount) AS shares FROM journal_legs
                    WHERE book = 'shares' AND user_id IS NOT NULL GROUP BY user_id, asset)
         SELECT format('holding of user #%s in %s: cached %s shares (available %s + reserved %s), ledger says %s',
                       coalesce(h.user_id, l.user_id), coalesce(h.code, l.code), coalesce(h.available + h.reserved, 0),
                       coalesce(h.available, 0), coalesce(h.reserved, 0), coalesce(l.shares, 0))
         FROM holdings h FULL JOIN l ON l.user_id = h.user_id AND l.code = h.code
         WHERE coalesce(h.available + h.reserved, 0) <> coalesce(l.shares, 0)
         ORDER BY 1"),
    (1, "SELECT format('journal entry #%s has a malformed leg: %s', l.entry_id, row(l.user_id, l.book, l.asset, l.amount))
         FROM journal_legs l
         WHERE l.book IS NULL OR l.book NOT IN ('cash', 'shares', 'grants', 'fees', 'taxes', 'market')
            OR (l.book IN ('cash', 'shares')) <> (l.user_id IS NOT NULL)
            OR l.asset IS NULL OR NOT (l.asset = 'KRW' OR l.asset ~ '^[0-9A-Z]{6}$')
            OR (l.book IN ('cash', 'grants', 'fees', 'taxes') AND l.asset <> 'KRW')
            OR (l.book = 'shares' AND l.asset = 'KRW')
            OR l.amount IS NULL OR l.amount = 0
         UNION ALL
         SELECT format('journal entry #%s has fewer than two legs', e.id) FROM journal_entries e
         WHERE cardinality(e.legs) < 2
         UNION ALL
         SELECT format('journal entry #%s refers to a missing user, order or fill', e.id) FROM journal_entries e
         WHERE (e.user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = e.user_id))
            OR (e.order_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = e.order_id))
            OR (e.fill_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM fills f WHERE f.id = e.fill_id))
         UNION ALL
         SELECT format('journal leg of entry #%s names user #%s, who does not exist', l.entry_id, l.user_id) FROM journal_legs l
         WHERE l.user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = l.user_id)"),
    (1, "SELECT format('holding of user #%s in %s refers to a missing user or stock', h.user_id, h.code) FROM holdings h
         WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = h.user_id)
            OR NOT EXISTS (SELECT 1 FROM stocks s WHERE s.code = h.code)"),
    (2, "SELECT format('cash account of user #%s is negative: available %s, reserved %s', user_id, available, reserved)
         FROM accounts WHERE available < 0 OR reserved < 0
         UNION ALL
         SELECT format('holding of user #%s in %s is negative: available %s, reserved %s', user_id, code, available, reserved)
         FROM holdings WHERE available < 0 OR reserved < 0 OR cost < 0"),
    (3, "WITH o AS (SELECT user_id, sum(reserved_cash) AS r FROM orders WHERE status = 'open' AND side = 'buy' GROUP BY user_id)
         SELECT format('user #%s: reserved cash %s but open buy orders reserve %s', a.user_id, a.reserved, coalesce(o.r, 0))
         FROM accounts a LEFT JOIN o ON o.user_id = a.user_id WHERE a.reserved <> coalesce(o.r, 0)
         UNION ALL
         SELECT format('user #%s: open buy orders reserve %s but there is no cash account', o.user_id, o.r)
         FROM o WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.user_id = o.user_id)"),
    (3, "WITH o AS (SELECT user_id, code, sum(reserved_shares) AS r FROM orders WHERE status = 'open' AND side = 'sell' GROUP BY user_id, code)
         SELECT format('user #%s: %s reserved shares of %s but open sell orders reserve %s',
                       coalesce(h.user_id, o.user_id), coalesce(h.reserved, 0), coalesce(h.code, o.code), coalesce(o.r, 0))
         FROM holdings h FULL JOIN o ON o.user_id = h.user_id AND o.code = h.code
         WHERE coalesce(h.reserved, 0) <> coalesce(o.r, 0)"),
    (4, "SELECT format('order #%s refers to a missing user or stock', o.id) FROM orders o
         WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = o.user_id)
            OR NOT EXISTS (SELECT 1 FROM stocks s WHERE s.code = o.code)"),
    (4, "SELECT format('fill #%s refers to order #%s, which does not exist', f.id, f.order_id) FROM fills f
         WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = f.order_id)"),
    (4, "SELECT format('fill #%s does not match its order #%s (user, code or side differ)', f.id, f.order_id)
         FROM fills f JOIN orders o ON o.id = f.order_id
         WHERE f.user_id <> o.user_id OR f.code <> o.code OR f.side <> o.side"),
    (4, "WITH f AS (SELECT order_id, sum(quantity) AS q FROM fills GROUP BY order_id)
         SELECT format('order #%s: filled quantity %s but its fills sum to %s (ordered %s)', o.id, o.filled_quantity, coalesce(f.q, 0), o.quantity)
         FROM orders o LEFT JOIN f ON f.order_id = o.id
         WHERE o.filled_quantity <> coalesce(f.q, 0) OR coalesce(f.q, 0) > o.quantity
            OR (o.status = 'filled') <> (o.filled_quantity = o.quantity)"),
    (4, "SELECT format('order #%s is %s but still reserves %s won and %s shares', id, status, reserved_cash, reserved_shares)
         FROM orders WHERE status <> 'open' AND (reserved_cash <> 0 OR reserved_shares <> 0)"),
    (5, "WITH t AS (
           SELECT (SELECT coalesce(sum(available + reserved), 0) FROM accounts) AS cash,
                  (SELECT coalesce(sum(initial_cash), 0) FROM users) AS granted,
                  (SELECT coalesce(sum(fee), 0) FROM fills) AS fees,
                  (SELECT coalesce(sum(tax), 0) FROM fills) AS taxes,
                  (SELECT coalesce(sum(CASE side WHEN 'buy' THEN amount ELSE -amount END), 0) FROM fills) AS net_purchases)
         SELECT format('total cash %s <> initial grants %s - fees %s - taxes %s - net purchases %s (= %s)',
                       cash, granted, fees, taxes, net_purchases, granted - fees - taxes - net_purchases)
         FROM t WHERE cash <> granted - fees - taxes - net_purchases"),
];

/// How many rows the audited tables hold.
#[derive(Debug, Clone, Copy, Default, FromRow, PartialEq, Eq)]
pub struct Counts {
    pub entries: i64,
    pub legs: i64,
    pub accounts: i64,
    pub holdings: i64,
    pub orders: i64,
    pub fills: i64,
}

/// What the checks found: each violation with its invariant's number, and the table sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub violations: Vec<(u8, String)>,
    pub counts: Counts,
}

/// Runs every check in one repeatable-read, read-only snapshot.
pub async fn run(pool: &PgPool) -> Result<Found> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let mut violations = Vec::new();
    for (n, sql) in CHECKS {
        let lines: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut *tx).await?;
        violations.extend(lines.into_iter().map(|detail| (*n, detail)));
    }
    let counts: Counts = sqlx::query_as(
        "SELECT (SELECT count(*) FROM journal_entries) AS entries, (SELECT count(*) FROM journal_legs) AS legs,
                (SELECT count(*) FROM accounts) AS accounts, (SELECT count(*) FROM holdings) AS holdings,
                (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM fills) AS fills",
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Found { violations, counts })
}
