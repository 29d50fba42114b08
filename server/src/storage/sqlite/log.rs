//! SQLite: the log (batch appends, tiles, checkpoints, leaves, recovered entries).

use super::cases::materialise;
use super::*;
use crate::tlog::{TileKey, TileSet};

fn read_tiles_sync(conn: &Connection, keys: &[TileKey]) -> Result<TileSet> {
    let mut set = TileSet::default();
    let mut stmt =
        conn.prepare_cached("SELECT data FROM log_tiles WHERE level = ?1 AND idx = ?2")?;
    for &(level, idx) in keys {
        let Some(stored_idx) = lookup_i64(idx) else {
            continue;
        };
        let data: Option<Vec<u8>> = stmt
            .query_row(params![level, stored_idx], |r| r.get(0))
            .optional()?;
        if let Some(data) = data {
            set.tiles.insert((level, idx), data);
        }
    }
    Ok(set)
}

#[async_trait]
impl LogStore for SqliteStorage {
    async fn commit_batch(
        &self,
        device_id: &str,
        seqs: Vec<u64>,
        plan: Planner,
    ) -> Result<BatchPlan> {
        let device_id = device_id.to_string();
        let plan = self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1");
            let device = finish_device(tx.query_row(&sql, [&device_id], device_row)?)?;
            let tree_size = u64_of(tx.query_row("SELECT size FROM log_state WHERE id = 1", [], |r| r.get(0))?)?;
            let mut existing = HashMap::new();
            let mut refusals = HashMap::new();
            {
                let mut stmt = tx.prepare_cached(
                    "SELECT e.hash, e.leaf_index, e.checkpoint_size, r.code, r.message FROM entries e \
                     LEFT JOIN entry_refusals r ON r.entry_hash = e.hash WHERE e.device_id = ?1 AND e.seq = ?2",
                )?;
                for seq in seqs.iter().filter(|s| **s <= device.head_seq) {
                    type Row = (Vec<u8>, i64, i64, Option<String>, Option<String>);
                    let row: Option<Row> = stmt
                        .query_row(params![device_id, i64_of(*seq)?], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                        })
                        .optional()?;
                    if let Some((hash, leaf, cp, code, message)) = row {
                        if let (Some(code), Some(message)) = (code, message) {
                            refusals.insert(*seq, Refusal { code, message });
                        }
                        existing.insert(
                            *seq,
                            StoredEntry {
                                hash: hash32(&hash)?,
                                leaf_index: u64_of(leaf)?,
                                checkpoint_size: u64_of(cp)?,
                            },
                        );
                    }
                }
            }
            let tiles = read_tiles_sync(&tx, &crate::tlog::edge_tiles(tree_size))?;
            let plan = plan(BatchSnapshot {
                device,
                tree_size,
                existing,
                refusals,
                tiles,
            })?;
            if plan.entries.is_empty() {
                return Ok(plan);
            }
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO entries (hash, device_id, seq, leaf_index, checkpoint_size, agency, kind, \
                     case_id, at, officers, bytes, sig) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )?;
                for e in &plan.entries {
                    insert.execute(params![
                        &e.hash[..],
                        e.device_id,
                        i64_of(e.seq)?,
                        i64_of(e.leaf_index)?,
                        i64_of(plan.new_size)?,
                        e.agency,
                        e.kind,
                        e.case_id,
                        e.at,
                        e.officers.join(","),
                        e.bytes,
                        e.sig
                    ])?;
                    match &e.refusal {
                        None => materialise(&tx, e)?,
                        Some(r) => {
                            tx.prepare_cached(
                                "INSERT INTO entry_refusals (entry_hash, code, message) VALUES (?1, ?2, ?3)",
                            )?
                            .execute(params![&e.hash[..], r.code, r.message])?;
                        }
                    }
                }
                let mut tile = tx.prepare_cached(
                    "INSERT INTO log_tiles (level, idx, data) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (level, idx) DO UPDATE SET data = excluded.data",
                )?;
                for ((level, idx), data) in &plan.tiles {
                    tile.execute(params![level, i64_of(*idx)?, data])?;
                }
                let mut recovered = tx.prepare_cached(
                    "INSERT INTO log_recovered (entry_hash, device_id, seq, leaf_index, old_origin, \
                     old_leaf_index, old_tree_size, old_checkpoint, recorded_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?;
                for r in &plan.recovered {
                    recovered.execute(params![
                        hex::decode(&r.entry_hash).map_err(|_| ApiError::storage("recovered entry hash is not hex"))?,
                        r.device_id,
                        i64_of(r.seq)?,
                        i64_of(r.leaf_index)?,
                        r.old_origin,
                        i64_of(r.old_leaf_index)?,
                        i64_of(r.old_tree_size)?,
                        r.old_checkpoint,
                        r.recorded_at
                    ])?;
                }
            }
            if let Some((seq, hash)) = plan.head {
                tx.execute(
                    "UPDATE devices SET head_seq = ?1, head_hash = ?2 WHERE id = ?3",
                    params![i64_of(seq)?, &hash[..], device_id],
                )?;
            }
            tx.execute("UPDATE log_state SET size = ?1 WHERE id = 1", [i64_of(plan.new_size)?])?;
            if let Some(note) = &plan.checkpoint {
                tx.execute(
                    "INSERT INTO checkpoints (size, note) VALUES (?1, ?2)",
                    params![i64_of(plan.new_size)?, note],
                )?;
            }
            crate::crash::point("push.commit");
            tx.commit()?;
            Ok(plan)
        })
        .await?;
        self.commits.committed(&plan);
        Ok(plan)
    }

    fn observe_commits(&self, observer: Arc<dyn CommitObserver>) {
        self.commits.add(observer);
    }

    async fn tree_size(&self) -> Result<u64> {
        self.read(|c| {
            u64_of(c.query_row("SELECT size FROM log_state WHERE id = 1", [], |r| r.get(0))?)
        })
        .await
    }

    async fn read_tiles(&self, keys: &[TileKey]) -> Result<TileSet> {
        let keys = keys.to_vec();
        self.read(move |c| read_tiles_sync(c, &keys)).await
    }

    async fn checkpoint(&self, size: Option<u64>) -> Result<Option<(u64, String)>> {
        self.read(move |c| {
            let row: Option<(i64, String)> = match size {
                Some(s) => {
                    let Some(s) = lookup_i64(s) else {
                        return Ok(None);
                    };
                    c.query_row(
                        "SELECT size, note FROM checkpoints WHERE size = ?1",
                        [s],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?
                }
                None => c
                    .query_row(
                        "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?,
            };
            row.map(|(s, n)| Ok((u64_of(s)?, n))).transpose()
        })
        .await
    }

    async fn leaves(&self, start: u64, count: u64) -> Result<Vec<[u8; 32]>> {
        let Some((start, end)) = leaf_range(start, count) else {
            return Ok(Vec::new());
        };
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT hash FROM entries WHERE leaf_index >= ?1 AND leaf_index < ?2 ORDER BY leaf_index",
            )?;
            let rows = stmt.query_map(params![start, end], |r| r.get::<_, Vec<u8>>(0))?;
            rows.map(|r| hash32(&r?)).collect()
        })
        .await
    }

    async fn entry_position(&self, hash: &[u8; 32]) -> Result<Option<(StoredEntry, String)>> {
        let h = *hash;
        self.read(move |c| {
            let row: Option<(i64, i64, String)> = c
                .query_row(
                    "SELECT leaf_index, checkpoint_size, agency FROM entries WHERE hash = ?1",
                    [&h[..]],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            row.map(|(leaf, cp, agency)| {
                Ok((
                    StoredEntry {
                        hash: h,
                        leaf_index: u64_of(leaf)?,
                        checkpoint_size: u64_of(cp)?,
                    },
                    agency,
                ))
            })
            .transpose()
        })
        .await
    }

    async fn recovered_entries(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<RecoveredEntry>> {
        self.read(move |c| {
            let after = after.map(i64_of).transpose()?.unwrap_or(-1);
            let mut stmt = c.prepare_cached(
                "SELECT entry_hash, device_id, seq, leaf_index, old_origin, old_leaf_index, \
                 old_tree_size, old_checkpoint, recorded_at FROM log_recovered \
                 WHERE leaf_index > ?1 ORDER BY leaf_index LIMIT ?2",
            )?;
            type Row = (Vec<u8>, String, i64, i64, String, i64, i64, String, String);
            let rows = stmt
                .query_map(params![after, i64::from(limit)], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<Row>>>()?;
            rows.into_iter()
                .map(
                    |(hash, device_id, seq, leaf, origin, old_leaf, old_size, note, at)| {
                        Ok(RecoveredEntry {
                            entry_hash: hex::encode(hash32(&hash)?),
                            device_id,
                            seq: u64_of(seq)?,
                            leaf_index: u64_of(leaf)?,
                            old_origin: origin,
                            old_leaf_index: u64_of(old_leaf)?,
                            old_tree_size: u64_of(old_size)?,
                            old_checkpoint: note,
                            recorded_at: at,
                        })
                    },
                )
                .collect()
        })
        .await
    }
}
