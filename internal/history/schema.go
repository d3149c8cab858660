package history

// applicationID marks an SQLite file as an mxaudit history database
// (PRAGMA application_id; "mxah" in ASCII).
const applicationID = 0x6d786168

// migrations holds the schema, one step per version: migrations[i] takes a
// database from user_version i to i+1. Steps are only ever appended; a
// released step is never edited.
var migrations = []string{
	// v1: runs, the inventory as read (deduplicated partner rows), results,
	// certificates stored once by SHA-256, result bodies stored once by hash.
	`
CREATE TABLE runs (
	id             INTEGER PRIMARY KEY,
	inventory      TEXT    NOT NULL,            -- absolute path of the inventory file
	inventory_hash TEXT    NOT NULL DEFAULT '', -- SHA-256 of the sorted partner names
	started        INTEGER NOT NULL,            -- unix nanoseconds (the run's clock)
	finished       INTEGER NOT NULL DEFAULT 0,
	status         TEXT    NOT NULL,            -- running, complete, interrupted
	incomplete     INTEGER NOT NULL DEFAULT 0,  -- Results.Incomplete
	partners       INTEGER NOT NULL DEFAULT 0,
	failing        INTEGER NOT NULL DEFAULT 0,  -- partners at severity error or worse
	doc            BLOB                         -- deflated JSON: Results without partners
);
CREATE INDEX runs_by_inventory ON runs(inventory, id);
CREATE INDEX runs_by_started ON runs(started);

CREATE TABLE certs (
	id         INTEGER PRIMARY KEY,
	sha256     TEXT    NOT NULL UNIQUE, -- upper-case hex of the DER
	subject    TEXT    NOT NULL,
	issuer     TEXT    NOT NULL,
	not_after  INTEGER NOT NULL,        -- unix seconds
	key_sha256 TEXT    NOT NULL,        -- SHA-256 of the SubjectPublicKeyInfo
	der        BLOB    NOT NULL
);

CREATE TABLE partners (
	id       INTEGER PRIMARY KEY,
	sha256   BLOB    NOT NULL UNIQUE, -- of doc
	name     TEXT    NOT NULL,
	enforced INTEGER NOT NULL,
	doc      BLOB    NOT NULL         -- JSON of audit.Partner, the inventory row as read
);

CREATE TABLE bodies (
	id     INTEGER PRIMARY KEY,
	sha256 BLOB NOT NULL UNIQUE, -- of doc
	doc    BLOB NOT NULL         -- deflated JSON of audit.Result without partner, DER, timings
);

CREATE TABLE results (
	run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	seq         INTEGER NOT NULL, -- position in Results.Partners
	partner_id  INTEGER NOT NULL REFERENCES partners(id),
	verdict     TEXT    NOT NULL,
	root_source TEXT    NOT NULL,
	leaf_id     INTEGER REFERENCES certs(id),
	body_id     INTEGER NOT NULL REFERENCES bodies(id),
	duration_ms INTEGER NOT NULL,
	timings     TEXT    NOT NULL DEFAULT '', -- JSON of SMTP.TimingsMS
	PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
`,
	// v2: the changes computed when a run was recorded.
	`
CREATE TABLE changes (
	run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	seq       INTEGER NOT NULL,
	partner   TEXT    NOT NULL,
	kind      TEXT    NOT NULL,
	before    TEXT    NOT NULL,
	after     TEXT    NOT NULL,
	since_run INTEGER NOT NULL,
	PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
`,
	// v3: every result is keyed by what it audits, not by the partner name
	// alone (a partner may list several MX hosts): partners.target, filled
	// from the stored rows exactly as targetOf computes it; runs.audited, the
	// results that were probed (a run with none is never a baseline); the
	// target a change concerns.
	`
ALTER TABLE partners ADD COLUMN target TEXT NOT NULL DEFAULT '';
UPDATE partners SET target =
	coalesce(json_extract(doc, '$.host'), '') || ':' || coalesce(json_extract(doc, '$.port'), 0) ||
	CASE WHEN coalesce(json_extract(doc, '$.address'), '') <> '' THEN ' via ' || json_extract(doc, '$.address') ELSE '' END;
CREATE INDEX partners_by_key ON partners(name, target);
ALTER TABLE runs ADD COLUMN audited INTEGER NOT NULL DEFAULT 0;
UPDATE runs SET audited = (SELECT count(*) FROM results r WHERE r.run_id = runs.id AND r.verdict <> 'NotProbed');
ALTER TABLE changes ADD COLUMN target TEXT NOT NULL DEFAULT '';
`,
	// v4: where a run probed from and what it is part of: its vantage point,
	// its run label, and the slice of the inventory (shard K of shards; 0 of
	// 0 for the whole inventory). Changes are computed per vantage point and
	// slice.
	migrationV4,
	// v5: a partner's targets (every MX address it was audited at), one
	// row each, keyed as change detection compares them (stateKey); the
	// partner's result keeps the worst of them. Runs recorded before have
	// none: each of their results is its row's one target.
	migrationV5 + ` WITHOUT ROWID;`,
	// v6: recording a run as it streams. targets.failing_since: the start
	// (unix nanoseconds) of the unbroken streak of runs of the scope in
	// which our MTA's delivery to the target did not flow, 0 when it
	// flowed, was undetermined or was not decided (runs recorded before
	// schema 6 have 0: no streak is carried from them); results by partner
	// row, so that a partner's last audit is an indexed lookup; results and
	// targets by the body and certificates they name, so that pruning old
	// runs (Prune) finds what still uses a row by an index, not a scan.
	migrationV6,
}

// migrationV6 is the same on both backends.
const migrationV6 = `
ALTER TABLE targets ADD COLUMN failing_since BIGINT NOT NULL DEFAULT 0;
CREATE INDEX results_by_partner ON results(partner_id, run_id);
CREATE INDEX results_by_body ON results(body_id);
CREATE INDEX results_by_leaf ON results(leaf_id);
CREATE INDEX targets_by_leaf ON targets(leaf_id);
`

// migrationV4 is the same on both backends.
const migrationV4 = `
ALTER TABLE runs ADD COLUMN vantage TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN label TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN shard INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN shards INTEGER NOT NULL DEFAULT 0;
CREATE INDEX runs_by_scope ON runs(inventory, vantage, shards, shard, id);
CREATE INDEX runs_by_label ON runs(label, vantage, shard) WHERE label <> '';
`

// migrationV5 is the same on both backends but for its end: SQLite's
// migration ends it WITHOUT ROWID (the key is the primary key), PostgreSQL's
// with a semicolon.
const migrationV5 = `
CREATE TABLE targets (
	run_id      BIGINT  NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	seq         INTEGER NOT NULL, -- the partner's results.seq
	tseq        INTEGER NOT NULL, -- position in Result.Targets
	target      TEXT    NOT NULL, -- mx:port via address (stateKey)
	mx          TEXT    NOT NULL,
	address     TEXT    NOT NULL,
	port        INTEGER NOT NULL,
	verdict     TEXT    NOT NULL,
	root_source TEXT    NOT NULL,
	leaf_id     BIGINT  REFERENCES certs(id),
	duration_ms BIGINT  NOT NULL,
	timings     TEXT    NOT NULL DEFAULT '', -- JSON of SMTP.TimingsMS, compact (encodeTimings)
	PRIMARY KEY (run_id, seq, tseq)
)`

// pgMigrations is migrations for PostgreSQL, step for step: the same
// tables, columns and meaning, in PostgreSQL's types (BIGINT for every
// integer SQLite stores in 64 bits, BYTEA for BLOB, BOOLEAN for flags,
// identity columns for INTEGER PRIMARY KEY).
var pgMigrations = []string{
	`
CREATE TABLE runs (
	id             BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	inventory      TEXT    NOT NULL,
	inventory_hash TEXT    NOT NULL DEFAULT '',
	started        BIGINT  NOT NULL,
	finished       BIGINT  NOT NULL DEFAULT 0,
	status         TEXT    NOT NULL,
	incomplete     BOOLEAN NOT NULL DEFAULT false,
	partners       INTEGER NOT NULL DEFAULT 0,
	failing        INTEGER NOT NULL DEFAULT 0,
	doc            BYTEA
);
CREATE INDEX runs_by_inventory ON runs(inventory, id);
CREATE INDEX runs_by_started ON runs(started);

CREATE TABLE certs (
	id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	sha256     TEXT   NOT NULL UNIQUE,
	subject    TEXT   NOT NULL,
	issuer     TEXT   NOT NULL,
	not_after  BIGINT NOT NULL,
	key_sha256 TEXT   NOT NULL,
	der        BYTEA  NOT NULL
);

CREATE TABLE partners (
	id       BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	sha256   BYTEA   NOT NULL UNIQUE,
	name     TEXT    NOT NULL,
	enforced BOOLEAN NOT NULL,
	doc      BYTEA   NOT NULL
);

CREATE TABLE bodies (
	id     BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	sha256 BYTEA NOT NULL UNIQUE,
	doc    BYTEA NOT NULL
);

CREATE TABLE results (
	run_id      BIGINT  NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	seq         INTEGER NOT NULL,
	partner_id  BIGINT  NOT NULL REFERENCES partners(id),
	verdict     TEXT    NOT NULL,
	root_source TEXT    NOT NULL,
	leaf_id     BIGINT  REFERENCES certs(id),
	body_id     BIGINT  NOT NULL REFERENCES bodies(id),
	duration_ms BIGINT  NOT NULL,
	timings     TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (run_id, seq)
);
`,
	`
CREATE TABLE changes (
	run_id    BIGINT  NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	seq       INTEGER NOT NULL,
	partner   TEXT    NOT NULL,
	kind      TEXT    NOT NULL,
	before    TEXT    NOT NULL,
	after     TEXT    NOT NULL,
	since_run BIGINT  NOT NULL,
	PRIMARY KEY (run_id, seq)
);
`,
	`
ALTER TABLE partners ADD COLUMN target TEXT NOT NULL DEFAULT '';
UPDATE partners SET target =
	coalesce(convert_from(doc, 'UTF8')::jsonb->>'host', '') || ':' || coalesce(convert_from(doc, 'UTF8')::jsonb->>'port', '0') ||
	CASE WHEN coalesce(convert_from(doc, 'UTF8')::jsonb->>'address', '') <> '' THEN ' via ' || (convert_from(doc, 'UTF8')::jsonb->>'address') ELSE '' END;
CREATE INDEX partners_by_key ON partners(name, target);
ALTER TABLE runs ADD COLUMN audited INTEGER NOT NULL DEFAULT 0;
UPDATE runs SET audited = (SELECT count(*) FROM results r WHERE r.run_id = runs.id AND r.verdict <> 'NotProbed');
ALTER TABLE changes ADD COLUMN target TEXT NOT NULL DEFAULT '';
`,
	migrationV4,
	migrationV5 + `;`,
	migrationV6,
}

// SchemaVersion is the database schema version this package writes: len(migrations).
const SchemaVersion = 6

// hasTargets reports whether the database has the targets table (schema 5);
// a read-only database of an older schema, read as it is, has none.
func (db *DB) hasTargets() bool { return db.schema == 0 || db.schema >= 5 }
