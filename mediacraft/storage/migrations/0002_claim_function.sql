-- claim_next in one round trip: the whole claim runs in the database, under the
-- claim lock, and returns the claimed task's document.
--
-- The limits are counts over the rows in 'processing'; two claimers counting at
-- once would both see room for one more, so the counting step takes a
-- transaction-scoped advisory lock (held for this function's statements only).
-- The chosen row is taken with FOR UPDATE SKIP LOCKED: a claimer never waits on
-- a waiting task that a cancel or an edit holds, it takes the next.
--
-- Candidates are the fair order's first choices: the oldest task of every
-- (priority, visitor) below the per-visitor limit, highest priority first, then
-- the visitor served longest ago (never served first), then the oldest task.
-- The document changes are those of Task.transition(PROCESSING) plus the attempt
-- count and the worker; the Python side reads the document back as a Task.

CREATE FUNCTION mediacraft_claim(per_user integer, max_total integer, worker jsonb,
                                 now_text text)
RETURNS TABLE (claimed_id text, claimed_doc jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    candidate record;
BEGIN
    PERFORM pg_advisory_xact_lock(7882253089970416896);
    IF (SELECT count(*) FROM tasks WHERE status = 'processing') >= max_total THEN
        RETURN;
    END IF;
    FOR candidate IN
        WITH running AS (
            SELECT r.user_id, count(*) AS n FROM tasks r
            WHERE r.status = 'processing' GROUP BY r.user_id
        ), heads AS (
            SELECT DISTINCT ON (t.priority, t.user_id)
                   t.task_id, t.user_id, t.priority, t.queued_at, t.seq
            FROM tasks t LEFT JOIN running r ON r.user_id = t.user_id
            WHERE t.status = 'queued' AND coalesce(r.n, 0) < per_user
            ORDER BY t.priority DESC, t.user_id, t.queued_at, t.seq
        )
        SELECT h.task_id, h.user_id FROM heads h
        LEFT JOIN queue_turns q ON q.user_id = h.user_id
        ORDER BY h.priority DESC, coalesce(q.served_at, ''), h.queued_at, h.seq
        LIMIT 16
    LOOP
        UPDATE tasks t SET
            status = 'processing',
            heartbeat_at = now(),
            doc = t.doc || jsonb_build_object(
                'status', 'processing',
                'updated_at', now_text,
                'started_at', now_text,
                'error_message', NULL,
                'attempts', coalesce((t.doc->>'attempts')::integer, 0) + 1,
                'worker', worker || jsonb_build_object('heartbeat_at', now_text))
        WHERE t.task_id = (
            SELECT x.task_id FROM tasks x
            WHERE x.task_id = candidate.task_id AND x.status = 'queued'
            FOR UPDATE SKIP LOCKED)
        RETURNING t.task_id, t.doc INTO claimed_id, claimed_doc;
        IF FOUND THEN
            INSERT INTO queue_turns (user_id, served_at) VALUES (candidate.user_id, now_text)
            ON CONFLICT (user_id) DO UPDATE SET served_at = excluded.served_at;
            RETURN NEXT;
            RETURN;
        END IF;
    END LOOP;
END
$$;
