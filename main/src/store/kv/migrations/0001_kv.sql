-- The key-value layer: one row per key of every tree. Keys and values are opaque bytes; bytea compares
-- bytewise, so range reads come back in the same order as sled's. Tree names compare by byte ("C").
CREATE TABLE kv (
    tree text COLLATE "C" NOT NULL,
    k    bytea NOT NULL,
    v    bytea NOT NULL,
    PRIMARY KEY (tree, k)
);

-- Ids handed out by next_id, shared by every main on this database.
CREATE SEQUENCE kv_ids START WITH 1 MINVALUE 1;
