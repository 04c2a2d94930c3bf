//! Metadata in SQLite (WAL mode, so several berth processes share it): images, their names and
//! layers. Multi-row changes go through `Db::transaction`, so a kill leaves the old rows or the new.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::digest::Digest;
use crate::error::Result;

/// Bumped with every change to `SCHEMA` (`PRAGMA user_version` records the one in a file).
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS images (
    id       TEXT PRIMARY KEY,   -- sha256 of the config blob, as Docker's image IDs
    manifest TEXT NOT NULL,      -- the manifest blob kept for save and push
    created  TEXT NOT NULL,      -- the config's created time (RFC 3339)
    size     INTEGER NOT NULL,   -- sum of the unpacked layers
    added    INTEGER NOT NULL    -- when it was stored (ns); orders before=/since=
);
CREATE TABLE IF NOT EXISTS image_layers (
    image    TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    chain_id TEXT NOT NULL REFERENCES layers(chain_id),
    PRIMARY KEY (image, position)
);
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);
CREATE TABLE IF NOT EXISTS tags (
    name  TEXT PRIMARY KEY,      -- fully qualified: docker.io/library/busybox:latest
    image TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS repo_digests (
    name  TEXT PRIMARY KEY,      -- docker.io/library/busybox@sha256:...
    image TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS layers (
    chain_id   TEXT PRIMARY KEY,
    diff_id    TEXT NOT NULL,
    parent     TEXT,
    blob       TEXT NOT NULL,    -- the layer tarball as stored (maybe compressed)
    media_type TEXT NOT NULL,
    size       INTEGER NOT NULL  -- bytes of regular files once unpacked
);
CREATE TABLE IF NOT EXISTS volumes (
    name      TEXT PRIMARY KEY,
    labels    TEXT NOT NULL,     -- JSON object
    created   TEXT NOT NULL,
    anonymous INTEGER NOT NULL   -- made for one container (`-v /path`, an image VOLUME)
);
CREATE TABLE IF NOT EXISTS container_volumes (
    container TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    volume    TEXT NOT NULL REFERENCES volumes(name),
    PRIMARY KEY (container, volume)
);
CREATE TABLE IF NOT EXISTS containers (
    id      TEXT PRIMARY KEY,    -- 64 hex
    name    TEXT NOT NULL UNIQUE,-- without Docker's leading '/'
    image   TEXT NOT NULL REFERENCES images(id),
    created TEXT NOT NULL
);
";

#[derive(Clone, Debug)]
pub struct ImageRow {
    pub id: Digest,
    pub manifest: Digest,
    pub created: String,
    pub size: u64,
    pub added: i64,
}

#[derive(Clone, Debug)]
pub struct LayerRow {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub parent: Option<Digest>,
    pub blob: Digest,
    pub media_type: String,
    pub size: u64,
}

pub struct Db {
    conn: Connection,
    /// How many frames the WAL held after this connection's last commit (SQLite's WAL hook;
    /// 0 before one). The file's size says less: a checkpointed WAL is written over from its
    /// start, and the file keeps its size.
    wal_frames: Arc<AtomicI32>,
    /// Set while `transaction_unsynced` commits: the WAL hook does not checkpoint then.
    unsynced: Arc<AtomicBool>,
    /// How many of the connection's changes came from `transaction_unsynced`.
    unsynced_changes: u64,
    /// A big WAL is left for another connection to checkpoint (`leave_checkpoint`).
    checkpoint_left: bool,
}

/// Unsynced transactions leave the WAL to grow up to this many frames (256 KiB of 4 KiB pages)
/// before a close checkpoints it: a process that opens the database alone reads the whole WAL
/// to rebuild its index.
const UNSYNCED_WAL_FRAMES: i32 = 64;

/// SQLite's own auto-checkpoint, which the WAL hook replaces: a commit that leaves the WAL
/// with this many frames checkpoints it.
const AUTO_CHECKPOINT_FRAMES: i32 = 1000;

/// Connections open in this process (`open_connections`).
static OPEN_CONNECTIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many databases this process has open. A process forked while one is open must not use
/// SQLite: it would inherit SQLite's records of the parent's locks.
pub fn open_connections() -> usize {
    OPEN_CONNECTIONS.load(std::sync::atomic::Ordering::SeqCst)
}

impl Drop for Db {
    fn drop(&mut self) {
        // What this connection committed becomes durable here, before the command returns
        // (synchronous=NORMAL does not sync at commit). The last connection's close would
        // checkpoint anyway; another berth process may hold the database open, though (a
        // monitor does while its container runs).
        let changes = self.conn.total_changes();
        let wal_small = self.wal_frames.load(Ordering::Relaxed) < UNSYNCED_WAL_FRAMES;
        if changes == self.unsynced_changes && (wal_small || self.checkpoint_left) {
            // Nothing of this connection's to make durable: the close leaves the WAL, and any
            // unsynced changes in it, for a later checkpoint (any connection's, with the usual
            // syncs) to carry into the database.
            let _ = self.conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true);
        } else {
            // The checkpoint is done here, where other processes go on reading and writing. The
            // close, as the last connection, would do it holding the database's exclusive lock,
            // and a process opening the database meanwhile (the next `run`) would sleep in
            // SQLite's busy handler, 1-2 ms at a time, through the WAL's and the database's
            // fsyncs. What is left for the close is deleting the checkpointed WAL.
            let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
        }
        OPEN_CONNECTIONS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn digest_col(row: &rusqlite::Row, i: usize) -> rusqlite::Result<Digest> {
    let s: String = row.get(i)?;
    Digest::parse(&s).ok_or_else(|| rusqlite::Error::InvalidColumnType(i, "digest".into(), rusqlite::types::Type::Text))
}

fn image_row(row: &rusqlite::Row) -> rusqlite::Result<ImageRow> {
    Ok(ImageRow {
        id: digest_col(row, 0)?,
        manifest: digest_col(row, 1)?,
        created: row.get(2)?,
        size: row.get::<_, i64>(3)? as u64,
        added: row.get(4)?,
    })
}

fn layer_row(row: &rusqlite::Row) -> rusqlite::Result<LayerRow> {
    let parent: Option<String> = row.get(2)?;
    Ok(LayerRow {
        chain_id: digest_col(row, 0)?,
        diff_id: digest_col(row, 1)?,
        parent: parent.as_deref().and_then(Digest::parse),
        blob: digest_col(row, 3)?,
        media_type: row.get(4)?,
        size: row.get::<_, i64>(5)? as u64,
    })
}

const IMAGE_COLS: &str = "id, manifest, created, size, added";
const LAYER_COLS: &str = "chain_id, diff_id, parent, blob, media_type, size";

/// Turns off what SQLite preallocates for each connection, once per process and before
/// SQLite initializes (rusqlite does that at the first open). A berth process opens one
/// connection and runs a few statements with it, where the preallocations pay off over many:
/// the page cache's 20 pages up front and the 48 KiB of lookaside slots for small objects,
/// which SQLite threads into free lists as it opens, writing to each of their pages. That was
/// about 30 page faults of each connection (`run --rm` opens two; bench/README.md).
fn configure_sqlite() {
    static CONFIGURED: std::sync::Once = std::sync::Once::new();
    CONFIGURED.call_once(|| {
        use rusqlite::ffi;
        use std::ffi::{c_int, c_void};
        // SAFETY: sqlite3_config before sqlite3_initialize, on one thread (the `Once`; every
        // connection of berth's is opened by `Db::open`). Once SQLite is initialized it
        // refuses (SQLITE_MISUSE) and changes nothing, which is harmless here.
        unsafe {
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_LOOKASIDE, 0 as c_int, 0 as c_int);
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_PAGECACHE, std::ptr::null_mut::<c_void>(), 0 as c_int, 0 as c_int);
        }
    });
}

impl Db {
    pub fn open(path: &Path) -> Result<Db> {
        configure_sqlite();
        OPEN_CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut db = Db {
            conn: Connection::open(path).inspect_err(|_| {
                OPEN_CONNECTIONS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            })?,
            wal_frames: Arc::default(),
            unsynced: Arc::default(),
            unsynced_changes: 0,
            checkpoint_left: false,
        };
        let (wal_frames, unsynced) = (db.wal_frames.clone(), db.unsynced.clone());
        db.conn.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, frames: std::ffi::c_int| {
            wal_frames.store(frames, Ordering::Relaxed);
            if frames >= AUTO_CHECKPOINT_FRAMES && !unsynced.load(Ordering::Relaxed) {
                // Its outcome ignored, as SQLite's own hook does: an error returned here would
                // fail the statement whose commit has already happened.
                let _ = wal.checkpoint();
            }
            Ok(())
        }))?;
        let conn = &db.conn;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Commits are not synced; the checkpoint when the connection goes is (`Drop`, and
        // `transaction_unsynced` for what need not be durable at all): a
        // command's changes are on disk by the time it returns, and WAL keeps the database
        // whole through a crash at any moment. FULL synced each commit as well: two fsyncs
        // more per `run --rm`, ~1.4 ms.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // The WAL is checkpointed and deleted when the last connection closes. Keeping it at
        // every close (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE) was tried and is worse: the next
        // process, as the first connection, rebuilds the WAL index by reading the whole WAL,
        // which then grows without end (nothing stays open to let it restart). `Drop` keeps it
        // only while it is small, or for `leave_checkpoint`. Keeping only the file (SQLITE_FCNTL_PERSIST_WAL, truncated at close)
        // saves its unlink and no fsync: SQLite syncs the directory after the WAL's first
        // header whether or not the file already existed (4 fsyncs per process either way).
        // The schema is made once per database: every command opens it, and parsing the DDL
        // each time was the most of an open's cost.
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version != SCHEMA_VERSION {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            tx.commit()?;
        }
        Ok(db)
    }

    /// Runs `f` in one IMMEDIATE transaction: it takes the write lock up front, so two
    /// processes never both read-then-write on stale rows.
    pub fn transaction<T>(&mut self, f: impl FnOnce(&Transaction) -> Result<T>) -> Result<T> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// `transaction`, for changes that need not survive a power loss (a `--rm` container's
    /// row, which a reboot makes pointless anyway). Nothing is synced: the WAL's header is
    /// not (synchronous=OFF while it commits), the commit is not, and the connection's
    /// close does not checkpoint (`Drop`) while the WAL stays small. The database stays
    /// whole through a crash all the same: this connection never checkpoints unsynced (so
    /// the auto-checkpoint is off while it commits), and every checkpoint, another
    /// connection's or this one's close, syncs the WAL before it writes the database and the
    /// database before the WAL is reused. A crash loses at most the unsynced transactions.
    pub fn transaction_unsynced<T>(&mut self, f: impl FnOnce(&Transaction) -> Result<T>) -> Result<T> {
        self.conn.execute_batch("PRAGMA synchronous=OFF")?;
        self.unsynced.store(true, Ordering::Relaxed);
        let before = self.conn.total_changes();
        let value = self.transaction(f);
        self.unsynced_changes += self.conn.total_changes() - before;
        self.unsynced.store(false, Ordering::Relaxed);
        self.conn.execute_batch("PRAGMA synchronous=NORMAL")?;
        value
    }

    /// Leaves a big WAL to another connection's close to checkpoint, if this one has only
    /// unsynced changes: for a command that hands its work on to a process that writes after
    /// it (a `--rm` container's monitor, which removes the row once `run` is told), so that the
    /// command's own close does no fsyncs on the way to the container's start.
    pub fn leave_checkpoint(&mut self) {
        self.checkpoint_left = true;
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn images(&self) -> Result<Vec<ImageRow>> {
        let mut stmt = self.conn.prepare(&format!("SELECT {IMAGE_COLS} FROM images ORDER BY added DESC"))?;
        let rows = stmt.query_map([], image_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn image(&self, id: &Digest) -> Result<Option<ImageRow>> {
        Ok(self
            .conn
            .query_row(&format!("SELECT {IMAGE_COLS} FROM images WHERE id = ?1"), [id.as_str()], image_row)
            .optional()?)
    }

    /// Images whose ID starts with `sha256:<prefix>`.
    pub fn images_with_prefix(&self, hex_prefix: &str) -> Result<Vec<Digest>> {
        let mut stmt = self.conn.prepare("SELECT id FROM images WHERE substr(id, 8, ?2) = ?1")?;
        let rows = stmt
            .query_map(params![hex_prefix, hex_prefix.len() as i64], |r| digest_col(r, 0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn tag_target(&self, name: &str) -> Result<Option<Digest>> {
        Ok(self.conn.query_row("SELECT image FROM tags WHERE name = ?1", [name], |r| digest_col(r, 0)).optional()?)
    }

    pub fn repo_digest_target(&self, name: &str) -> Result<Option<Digest>> {
        Ok(self
            .conn
            .query_row("SELECT image FROM repo_digests WHERE name = ?1", [name], |r| digest_col(r, 0))
            .optional()?)
    }

    /// Every (name, image) tag pair.
    pub fn tags(&self) -> Result<Vec<(String, Digest)>> {
        let mut stmt = self.conn.prepare("SELECT name, image FROM tags ORDER BY name")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, digest_col(r, 1)?)))?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn tags_of(&self, image: &Digest) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("SELECT name FROM tags WHERE image = ?1 ORDER BY name")?;
        let rows = stmt.query_map([image.as_str()], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn repo_digests_of(&self, image: &Digest) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("SELECT name FROM repo_digests WHERE image = ?1 ORDER BY name")?;
        let rows = stmt.query_map([image.as_str()], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn layer(&self, chain_id: &Digest) -> Result<Option<LayerRow>> {
        Ok(self
            .conn
            .query_row(&format!("SELECT {LAYER_COLS} FROM layers WHERE chain_id = ?1"), [chain_id.as_str()], layer_row)
            .optional()?)
    }

    pub fn layers(&self) -> Result<Vec<LayerRow>> {
        let mut stmt = self.conn.prepare(&format!("SELECT {LAYER_COLS} FROM layers"))?;
        let rows = stmt.query_map([], layer_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// The chain IDs of an image's layers, bottom first.
    pub fn image_layers(&self, image: &Digest) -> Result<Vec<Digest>> {
        let mut stmt = self.conn.prepare("SELECT chain_id FROM image_layers WHERE image = ?1 ORDER BY position")?;
        let rows = stmt.query_map([image.as_str()], |r| digest_col(r, 0))?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

/// Row writers, called inside `Db::transaction`.
pub mod write {
    use super::*;

    pub fn insert_layer(tx: &Transaction, layer: &LayerRow) -> Result<()> {
        tx.execute(
            "INSERT OR IGNORE INTO layers (chain_id, diff_id, parent, blob, media_type, size) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![layer.chain_id.as_str(), layer.diff_id.as_str(), layer.parent.as_ref().map(Digest::as_str), layer.blob.as_str(), layer.media_type, layer.size as i64],
        )?;
        Ok(())
    }

    /// Inserts an image and its layer list; an image already stored keeps its row.
    pub fn insert_image(tx: &Transaction, image: &ImageRow, chain_ids: &[Digest]) -> Result<bool> {
        let added = tx.execute(
            "INSERT OR IGNORE INTO images (id, manifest, created, size, added) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![image.id.as_str(), image.manifest.as_str(), image.created, image.size as i64, image.added],
        )? == 1;
        if added {
            for (position, chain_id) in chain_ids.iter().enumerate() {
                tx.execute(
                    "INSERT INTO image_layers (image, position, chain_id) VALUES (?1, ?2, ?3)",
                    params![image.id.as_str(), position as i64, chain_id.as_str()],
                )?;
            }
        }
        Ok(added)
    }

    /// Points `name` at `image`; returns the image it pointed at before, if another.
    pub fn set_tag(tx: &Transaction, name: &str, image: &Digest) -> Result<Option<Digest>> {
        let old: Option<String> =
            tx.query_row("SELECT image FROM tags WHERE name = ?1", [name], |r| r.get(0)).optional()?;
        tx.execute("INSERT OR REPLACE INTO tags (name, image) VALUES (?1, ?2)", params![name, image.as_str()])?;
        Ok(old.and_then(|o| Digest::parse(&o)).filter(|o| o != image))
    }

    pub fn set_repo_digest(tx: &Transaction, name: &str, image: &Digest) -> Result<()> {
        tx.execute("INSERT OR REPLACE INTO repo_digests (name, image) VALUES (?1, ?2)", params![name, image.as_str()])?;
        Ok(())
    }

    pub fn remove_tag(tx: &Transaction, name: &str) -> Result<bool> {
        Ok(tx.execute("DELETE FROM tags WHERE name = ?1", [name])? == 1)
    }

    pub fn remove_repo_digest(tx: &Transaction, name: &str) -> Result<bool> {
        Ok(tx.execute("DELETE FROM repo_digests WHERE name = ?1", [name])? == 1)
    }

    pub fn remove_image(tx: &Transaction, image: &Digest) -> Result<()> {
        tx.execute("DELETE FROM images WHERE id = ?1", [image.as_str()])?;
        Ok(())
    }

    /// Deletes layer rows that no image uses any more and returns them, so their files can go.
    pub fn remove_unused_layers(tx: &Transaction) -> Result<Vec<LayerRow>> {
        let mut unused = Vec::new();
        loop {
            // Children first: a parent stays while a child layer row names it.
            let mut stmt = tx.prepare(&format!(
                "SELECT {LAYER_COLS} FROM layers l WHERE NOT EXISTS (SELECT 1 FROM image_layers il WHERE il.chain_id = l.chain_id)
                 AND NOT EXISTS (SELECT 1 FROM layers c WHERE c.parent = l.chain_id)"
            ))?;
            let rows: Vec<LayerRow> = stmt.query_map([], layer_row)?.collect::<rusqlite::Result<_>>()?;
            if rows.is_empty() {
                return Ok(unused);
            }
            for row in &rows {
                tx.execute("DELETE FROM layers WHERE chain_id = ?1", [row.chain_id.as_str()])?;
            }
            unused.extend(rows);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add_tag(db: &mut Db, name: &str, unsynced: bool) {
        let id = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
        let set = |tx: &Transaction| {
            tx.execute(
                "INSERT OR IGNORE INTO images (id, manifest, created, size, added) VALUES (?1, ?1, '', 0, '')",
                [id.as_str()],
            )?;
            write::set_tag(tx, name, &id)?;
            Ok(())
        };
        if unsynced {
            db.transaction_unsynced(set).unwrap();
        } else {
            db.transaction(set).unwrap();
        }
    }

    fn tag_count(path: &Path) -> usize {
        Db::open(path).unwrap().tags().unwrap().len()
    }

    #[test]
    fn an_unsynced_change_stays_in_the_wal_and_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        Db::open(&path).unwrap(); // the schema, checkpointed and synced
        add_tag(&mut Db::open(&path).unwrap(), "a:1", true);
        let wal = dir.path().join("berth.db-wal");
        assert!(wal.metadata().unwrap().len() > 0, "the close left the change in the WAL");
        // The next connection, alone, rebuilds the WAL index and sees the row.
        assert_eq!(tag_count(&path), 1);
    }

    #[test]
    fn a_synced_change_checkpoints_the_unsynced_ones_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        let mut db = Db::open(&path).unwrap();
        add_tag(&mut db, "a:1", true);
        add_tag(&mut db, "a:2", false);
        drop(db);
        assert!(!dir.path().join("berth.db-wal").exists(), "the last close checkpointed and removed the WAL");
        assert_eq!(tag_count(&path), 2);
    }

    #[test]
    fn unsynced_changes_are_checkpointed_once_the_wal_is_big() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        let wal = dir.path().join("berth.db-wal");
        let mut closes_with_wal = 0;
        for i in 0..200 {
            add_tag(&mut Db::open(&path).unwrap(), &format!("a:{i}"), true);
            assert!(wal.metadata().map_or(0, |m| m.len()) < (UNSYNCED_WAL_FRAMES as u64 + 16) * 4120);
            closes_with_wal += usize::from(wal.exists());
        }
        assert!(closes_with_wal < 200, "some close checkpointed the WAL");
        assert_eq!(tag_count(&path), 200);
    }

    #[test]
    fn a_checkpointed_wal_is_written_over_without_a_checkpoint_until_it_is_big_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        let database = || std::fs::read(&path).unwrap();
        // Another connection open all along: no close is the last, so none deletes the WAL.
        let _other = Db::open(&path).unwrap();
        let mut before = database();
        let mut i = 0;
        while database() == before {
            assert!(i < 200, "no close checkpointed the WAL");
            add_tag(&mut Db::open(&path).unwrap(), &format!("a:{i}"), true);
            i += 1;
        }
        before = database();
        for j in 0..10 {
            add_tag(&mut Db::open(&path).unwrap(), &format!("b:{j}"), true);
        }
        assert!(database() == before, "a close checkpointed the few frames written since");
        assert_eq!(tag_count(&path), i + 10);
    }

    #[test]
    fn a_close_that_leaves_the_checkpoint_keeps_a_big_wal_for_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        let wal = dir.path().join("berth.db-wal");
        for i in 0..200 {
            let mut db = Db::open(&path).unwrap();
            add_tag(&mut db, &format!("a:{i}"), true);
            db.leave_checkpoint();
        }
        let big = wal.metadata().unwrap().len();
        assert!(big >= UNSYNCED_WAL_FRAMES as u64 * 4096, "no close checkpointed the WAL");
        assert_eq!(tag_count(&path), 200);
        assert_eq!(wal.metadata().unwrap().len(), big, "a close without changes left the WAL");
        add_tag(&mut Db::open(&path).unwrap(), "b:1", true);
        assert!(!wal.exists(), "the next writer's close, alone, checkpointed and removed the big WAL");
        assert_eq!(tag_count(&path), 201);
    }
}
