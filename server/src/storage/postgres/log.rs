//! PostgreSQL: the log (batch appends, tiles, checkpoints, leaves, recovered entries).

use super::cases::materialise_all;
use std::sync::Arc;

use super::*;
use crate::tlog::{TileKey, TileSet};

async fn read_tiles_with(
    client: &impl deadpool_postgres::GenericClient,
    keys: &[TileKey],
) -> Result<TileSet> {
    let mut set = TileSet::default();
    if keys.is_empty() {
        return Ok(set);
    }
    // A key whose index no row can have is not asked for.
    let (levels, idxs): (Vec<i32>, Vec<i64>) = keys
        .iter()
        .filter_map(|k| Some((i32::from(k.0), lookup_i64(k.1)?)))
        .unzip();
    if idxs.is_empty() {
        return Ok(set);
    }
    let statement = client
        .prepare_cached(
            "SELECT t.level, t.idx, t.data FROM log_tiles t \
             JOIN UNNEST($1::INTEGER[], $2::BIGINT[]) AS k(level, idx) \
             ON t.level = k.level AND t.idx = k.idx",
        )
        .await?;
    let rows = client.query(&statement, &[&levels, &idxs]).await?;
    for r in rows {
        let level: i32 = r.get(0);
        let level =
            u8::try_from(level).map_err(|_| ApiError::storage("tile level out of range"))?;
        set.tiles.insert((level, u64_of(r.get(1))?), r.get(2));
    }
    Ok(set)
}

/// Insert a batch's entries (and the refusals among them) in one statement each: one round trip
/// instead of one per entry.
async fn insert_entries(tx: &Tx<'_>, entries: &[NewEntry], checkpoint_size: i64) -> Result<()> {
    let Some(first) = entries.first() else {
        return Ok(());
    };
    let hashes: Vec<&[u8]> = entries.iter().map(|e| &e.hash[..]).collect();
    let seqs = entries
        .iter()
        .map(|e| i64_of(e.seq))
        .collect::<Result<Vec<_>>>()?;
    let leaves = entries
        .iter()
        .map(|e| i64_of(e.leaf_index))
        .collect::<Result<Vec<_>>>()?;
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    let cases: Vec<Option<&str>> = entries.iter().map(|e| e.case_id.as_deref()).collect();
    let ats: Vec<&str> = entries.iter().map(|e| e.at.as_str()).collect();
    let officers: Vec<String> = entries.iter().map(|e| e.officers.join(",")).collect();
    let bytes: Vec<&[u8]> = entries.iter().map(|e| e.bytes.as_slice()).collect();
    let sigs: Vec<&[u8]> = entries.iter().map(|e| e.sig.as_slice()).collect();
    // One device per batch, so one agency and one device id.
    exec(tx,
        "INSERT INTO entries (hash, device_id, seq, leaf_index, checkpoint_size, agency, kind, \
         case_id, at, officers, bytes, sig) \
         SELECT h, $2, s, l, $5, $6, k, c, a, o, b, g FROM UNNEST($1::BYTEA[], $3::BIGINT[], \
         $4::BIGINT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::BYTEA[], $12::BYTEA[]) \
         AS t(h, s, l, k, c, a, o, b, g)",
        &[
            &hashes,
            &first.device_id,
            &seqs,
            &leaves,
            &checkpoint_size,
            &first.agency,
            &kinds,
            &cases,
            &ats,
            &officers,
            &bytes,
            &sigs,
        ],
    )
    .await?;
    let refused: Vec<(&[u8], &str, &str)> = entries
        .iter()
        .filter_map(|e| {
            e.refusal
                .as_ref()
                .map(|r| (&e.hash[..], r.code.as_str(), r.message.as_str()))
        })
        .collect();
    if !refused.is_empty() {
        let hashes: Vec<&[u8]> = refused.iter().map(|r| r.0).collect();
        let codes: Vec<&str> = refused.iter().map(|r| r.1).collect();
        let messages: Vec<&str> = refused.iter().map(|r| r.2).collect();
        exec(
            tx,
            "INSERT INTO entry_refusals (entry_hash, code, message) \
             SELECT * FROM UNNEST($1::BYTEA[], $2::TEXT[], $3::TEXT[])",
            &[&hashes, &codes, &messages],
        )
        .await?;
    }
    Ok(())
}

impl PgStorage {
    /// The append itself, in one transaction (see [`LogStore::commit_batch`]).
    async fn append(&self, device_id: &str, seqs: Vec<u64>, plan: Planner) -> Result<BatchPlan> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // The device's row first, locked: its pushes (from any replica) queue here, and its head
        // and stored entries are read before the log's lock is taken. Every append takes the two
        // locks in this order.
        let device_stmt = tx
            .prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1 FOR UPDATE"
            ))
            .await?;
        let device = device_of(&tx.query_one(&device_stmt, &[&device_id]).await?)?;
        let wanted = seqs
            .iter()
            .filter(|s| **s <= device.head_seq)
            .map(|s| i64_of(*s))
            .collect::<Result<Vec<i64>>>()?;
        let mut existing = HashMap::new();
        let mut refusals = HashMap::new();
        if !wanted.is_empty() {
            let stored = tx
                .prepare_cached(
                    "SELECT e.seq, e.hash, e.leaf_index, e.checkpoint_size, r.code, r.message \
                     FROM entries e LEFT JOIN entry_refusals r ON r.entry_hash = e.hash \
                     WHERE e.device_id = $1 AND e.seq = ANY($2)",
                )
                .await?;
            let rows = tx.query(&stored, &[&device_id, &wanted]).await?;
            for r in rows {
                let hash: Vec<u8> = r.get(1);
                let (code, message): (Option<String>, Option<String>) = (r.get(4), r.get(5));
                if let (Some(code), Some(message)) = (code, message) {
                    refusals.insert(u64_of(r.get(0))?, Refusal { code, message });
                }
                existing.insert(
                    u64_of(r.get(0))?,
                    StoredEntry {
                        hash: hash32(&hash)?,
                        leaf_index: u64_of(r.get(2))?,
                        checkpoint_size: u64_of(r.get(3))?,
                    },
                );
            }
        }
        // The log's lock: every append, from any replica, queues here. From here to the commit,
        // as few round trips as possible.
        let lock = tx
            .prepare_cached("SELECT size FROM log_state WHERE id = 1 FOR UPDATE")
            .await?;
        let size: i64 = tx.query_one(&lock, &[]).await?.get(0);
        let tree_size = u64_of(size)?;
        let tiles = read_tiles_with(&tx, &crate::tlog::edge_tiles(tree_size)).await?;
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
        let new_size = i64_of(plan.new_size)?;
        insert_entries(&tx, &plan.entries, new_size).await?;
        materialise_all(&tx, &plan.entries).await?;
        // The log's own rows, pipelined: sent together, one round trip for all of them.
        let upsert_tile = tx
            .prepare_cached(
                "INSERT INTO log_tiles (level, idx, data) VALUES ($1, $2, $3) \
                 ON CONFLICT (level, idx) DO UPDATE SET data = excluded.data",
            )
            .await?;
        let set_head = tx
            .prepare_cached("UPDATE devices SET head_seq = $1, head_hash = $2 WHERE id = $3")
            .await?;
        let set_size = tx
            .prepare_cached("UPDATE log_state SET size = $1 WHERE id = 1")
            .await?;
        let add_checkpoint = tx
            .prepare_cached("INSERT INTO checkpoints (size, note) VALUES ($1, $2)")
            .await?;
        let tile_rows = plan
            .tiles
            .iter()
            .map(|((level, idx), data)| Ok((i32::from(*level), i64_of(*idx)?, data)))
            .collect::<Result<Vec<_>>>()?;
        let head = plan
            .head
            .map(|(seq, hash)| Ok::<_, ApiError>((i64_of(seq)?, hash)))
            .transpose()?;
        type Param<'p> = &'p (dyn tokio_postgres::types::ToSql + Sync);
        let head_hash = head.as_ref().map(|(_, h)| &h[..]);
        let mut writes: Vec<(&tokio_postgres::Statement, Vec<Param<'_>>)> = Vec::new();
        for (level, idx, data) in &tile_rows {
            writes.push((&upsert_tile, vec![level, idx, *data]));
        }
        if let (Some((seq, _)), Some(hash)) = (&head, &head_hash) {
            writes.push((&set_head, vec![seq, hash, &device_id]));
        }
        writes.push((&set_size, vec![&new_size]));
        if let Some(note) = &plan.checkpoint {
            writes.push((&add_checkpoint, vec![&new_size, note]));
        }
        let add_recovered = tx
            .prepare_cached(
                "INSERT INTO log_recovered (entry_hash, device_id, seq, leaf_index, old_origin, \
                 old_leaf_index, old_tree_size, old_checkpoint, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .await?;
        let recovered_rows = plan
            .recovered
            .iter()
            .map(|r| {
                Ok((
                    hex::decode(&r.entry_hash)
                        .map_err(|_| ApiError::storage("recovered entry hash is not hex"))?,
                    i64_of(r.seq)?,
                    i64_of(r.leaf_index)?,
                    i64_of(r.old_leaf_index)?,
                    i64_of(r.old_tree_size)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        for (r, (hash, seq, leaf, old_leaf, old_size)) in plan.recovered.iter().zip(&recovered_rows)
        {
            writes.push((
                &add_recovered,
                vec![
                    hash,
                    &r.device_id,
                    seq,
                    leaf,
                    &r.old_origin,
                    old_leaf,
                    old_size,
                    &r.old_checkpoint,
                    &r.recorded_at,
                ],
            ));
        }
        futures_util::future::try_join_all(
            writes
                .iter()
                .map(|(statement, params)| tx.execute(*statement, params)),
        )
        .await?;
        crate::crash::point("push.commit");
        tx.commit().await?;
        Ok(plan)
    }
}

#[async_trait]
impl LogStore for PgStorage {
    async fn commit_batch(
        &self,
        device_id: &str,
        seqs: Vec<u64>,
        plan: Planner,
    ) -> Result<BatchPlan> {
        let plan = self.append(device_id, seqs, plan).await?;
        self.commits.committed(&plan);
        Ok(plan)
    }

    fn observe_commits(&self, observer: Arc<dyn CommitObserver>) {
        self.commits.add(observer);
    }

    async fn tree_size(&self) -> Result<u64> {
        let size: i64 = self
            .pool
            .get()
            .await?
            .query_one("SELECT size FROM log_state WHERE id = 1", &[])
            .await?
            .get(0);
        u64_of(size)
    }

    async fn read_tiles(&self, keys: &[TileKey]) -> Result<TileSet> {
        let client = self.pool.get().await?;
        read_tiles_with(&client, keys).await
    }

    async fn checkpoint(&self, size: Option<u64>) -> Result<Option<(u64, String)>> {
        let c = self.pool.get().await?;
        let row = match size {
            Some(s) => {
                let Some(s) = lookup_i64(s) else {
                    return Ok(None);
                };
                c.query_opt("SELECT size, note FROM checkpoints WHERE size = $1", &[&s])
                    .await?
            }
            None => {
                c.query_opt(
                    "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                    &[],
                )
                .await?
            }
        };
        row.map(|r| Ok((u64_of(r.get(0))?, r.get(1)))).transpose()
    }

    async fn leaves(&self, start: u64, count: u64) -> Result<Vec<[u8; 32]>> {
        let Some((start, end)) = leaf_range(start, count) else {
            return Ok(Vec::new());
        };
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT hash FROM entries WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index",
                &[&start, &end],
            )
            .await?;
        rows.iter().map(|r| hash32(r.get::<_, &[u8]>(0))).collect()
    }

    async fn entry_position(&self, hash: &[u8; 32]) -> Result<Option<(StoredEntry, String)>> {
        let row = self
            .pool
            .get()
            .await?
            .query_opt(
                "SELECT leaf_index, checkpoint_size, agency FROM entries WHERE hash = $1",
                &[&&hash[..]],
            )
            .await?;
        row.map(|r| {
            Ok((
                StoredEntry {
                    hash: *hash,
                    leaf_index: u64_of(r.get(0))?,
                    checkpoint_size: u64_of(r.get(1))?,
                },
                r.get(2),
            ))
        })
        .transpose()
    }

    async fn recovered_entries(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<RecoveredEntry>> {
        let after = after.map(i64_of).transpose()?.unwrap_or(-1);
        let c = self.pool.get().await?;
        let rows = c
            .query(
                "SELECT entry_hash, device_id, seq, leaf_index, old_origin, old_leaf_index, \
                 old_tree_size, old_checkpoint, recorded_at FROM log_recovered \
                 WHERE leaf_index > $1 ORDER BY leaf_index LIMIT $2",
                &[&after, &i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let hash: Vec<u8> = r.get(0);
                Ok(RecoveredEntry {
                    entry_hash: hex::encode(hash32(&hash)?),
                    device_id: r.get(1),
                    seq: u64_of(r.get(2))?,
                    leaf_index: u64_of(r.get(3))?,
                    old_origin: r.get(4),
                    old_leaf_index: u64_of(r.get(5))?,
                    old_tree_size: u64_of(r.get(6))?,
                    old_checkpoint: r.get(7),
                    recorded_at: r.get(8),
                })
            })
            .collect()
    }
}
