-- A push as one statement: one round trip for any push (several aggregates, unique values, aggregates
-- expected unchanged), instead of BEGIN, a statement per step and COMMIT.
--
-- Locks first, in the order given (the caller sorts them, so concurrent pushes cannot deadlock), then the
-- checks and writes. PL/pgSQL takes a fresh snapshot for every statement of a VOLATILE function under READ
-- COMMITTED, so every check after the locks sees each change committed before them. A failed check raises
-- an error, which undoes the whole statement:
--   SQLSTATE WC001: an aggregate is not at the expected sequence; DETAIL is `append:N` or `unchanged:N`
--                   (1-based index into the aggregates appended to, or expected unchanged);
--   SQLSTATE WU001: a claimed unique value is taken; DETAIL is `N`, its index among the unique changes.
-- Events are given flattened in aggregate order, `agg_count[i]` of them for aggregate `i`; the function
-- returns the stored events' position, transaction and sequence in that order.
CREATE FUNCTION warden_push(
    lock_names      TEXT[],
    lock_exclusive  BOOLEAN[],
    unch_instance   TEXT[],
    unch_type       TEXT[],
    unch_id         TEXT[],
    unch_expected   BIGINT[],
    uniq_add        BOOLEAN[],
    uniq_instance   TEXT[],
    uniq_type       TEXT[],
    uniq_value      TEXT[],
    agg_instance    TEXT[],
    agg_type        TEXT[],
    agg_id          TEXT[],
    agg_expected    BIGINT[],
    agg_count       INTEGER[],
    ev_type         TEXT[],
    ev_revision     INTEGER[],
    ev_payload      TEXT[],
    p_creator       TEXT,
    p_created_at    BIGINT,
    p_org_id        TEXT
) RETURNS TABLE (out_position BIGINT, out_tx_id BIGINT, out_sequence BIGINT)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    i       INTEGER;
    latest  BIGINT;
    done    INTEGER := 0;
BEGIN
    FOR i IN 1 .. COALESCE(array_length(lock_names, 1), 0) LOOP
        IF lock_exclusive[i] THEN
            PERFORM pg_advisory_xact_lock(hashtextextended(lock_names[i], 0));
        ELSE
            PERFORM pg_advisory_xact_lock_shared(hashtextextended(lock_names[i], 0));
        END IF;
    END LOOP;

    FOR i IN 1 .. COALESCE(array_length(unch_id, 1), 0) LOOP
        SELECT COALESCE(MAX(e.sequence), 0) INTO latest FROM events e
        WHERE e.instance_id = unch_instance[i] AND e.aggregate_type = unch_type[i]
          AND e.aggregate_id = unch_id[i];
        IF latest <> unch_expected[i] THEN
            RAISE EXCEPTION USING ERRCODE = 'WC001', MESSAGE = 'aggregate changed concurrently',
                DETAIL = 'unchanged:' || i;
        END IF;
    END LOOP;

    FOR i IN 1 .. COALESCE(array_length(uniq_value, 1), 0) LOOP
        IF uniq_add[i] THEN
            INSERT INTO unique_constraints (instance_id, unique_type, unique_value)
            VALUES (uniq_instance[i], uniq_type[i], uniq_value[i])
            ON CONFLICT DO NOTHING;
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'WU001', MESSAGE = 'unique value taken', DETAIL = i::text;
            END IF;
        ELSE
            DELETE FROM unique_constraints
            WHERE instance_id = uniq_instance[i] AND unique_type = uniq_type[i]
              AND unique_value = uniq_value[i];
        END IF;
    END LOOP;

    FOR i IN 1 .. COALESCE(array_length(agg_id, 1), 0) LOOP
        SELECT COALESCE(MAX(e.sequence), 0) INTO latest FROM events e
        WHERE e.instance_id = agg_instance[i] AND e.aggregate_type = agg_type[i]
          AND e.aggregate_id = agg_id[i];
        IF agg_expected[i] IS NOT NULL AND latest <> agg_expected[i] THEN
            RAISE EXCEPTION USING ERRCODE = 'WC001', MESSAGE = 'aggregate changed concurrently',
                DETAIL = 'append:' || i;
        END IF;
        RETURN QUERY
        INSERT INTO events AS ev (instance_id, aggregate_type, aggregate_id, sequence, event_type, revision,
                                  payload, creator, created_at, org_id)
        SELECT agg_instance[i], agg_type[i], agg_id[i], latest + n.ord, n.event_type, n.revision,
               n.payload::jsonb, p_creator, p_created_at, p_org_id
        FROM UNNEST(ev_type[done + 1 : done + agg_count[i]], ev_revision[done + 1 : done + agg_count[i]],
                    ev_payload[done + 1 : done + agg_count[i]])
             WITH ORDINALITY AS n(event_type, revision, payload, ord)
        ORDER BY n.ord
        RETURNING ev.position, ev.tx_id, ev.sequence;
        done := done + agg_count[i];
    END LOOP;
END
$$;
