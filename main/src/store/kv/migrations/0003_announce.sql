-- Writes made without a lead's fence (an admin command run against the database, a main before it leads,
-- `store copy`) are announced on the channel vb_kv, once the transaction commits: the active main holds
-- trees in memory and forgets them when it hears one. The active main's own writes carry the fence and
-- announce nothing. Otherwise vb_commit is unchanged (see 0002_commit.sql).
CREATE OR REPLACE FUNCTION vb_commit(
    fence bytea,
    g_tree text[], g_key bytea[], g_val bytea[], g_absent boolean[],
    d_tree text[], d_key bytea[],
    p_tree text[], p_key bytea[], p_val bytea[]
) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    IF fence IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM kv WHERE tree = 'meta' AND k = '\x6c65616465725f65706f6368'::bytea AND v = fence
    ) THEN
        RETURN 2;
    END IF;
    IF EXISTS (
        SELECT 1
        FROM unnest(g_tree, g_key, g_val, g_absent) AS g(t, k, v, absent)
        LEFT JOIN kv ON kv.tree = g.t AND kv.k = g.k
        WHERE (g.absent AND kv.k IS NOT NULL) OR (NOT g.absent AND (kv.k IS NULL OR kv.v <> g.v))
    ) THEN
        RETURN 1;
    END IF;
    DELETE FROM kv WHERE (tree, k) IN (SELECT * FROM unnest(d_tree, d_key));
    INSERT INTO kv (tree, k, v) SELECT * FROM unnest(p_tree, p_key, p_val)
        ON CONFLICT (tree, k) DO UPDATE SET v = EXCLUDED.v;
    IF fence IS NULL AND (cardinality(d_tree) > 0 OR cardinality(p_tree) > 0) THEN
        PERFORM pg_notify('vb_kv', '');
    END IF;
    RETURN 0;
END
$$;
