-- Users and tasks as JSON documents plus the columns the queries need.
-- seq keeps insertion order (the order FileStorage's indexes and SQLite's rowid give).

CREATE TABLE users (
    seq           bigint GENERATED ALWAYS AS IDENTITY,
    user_id       text PRIMARY KEY,
    created_at    text NOT NULL,
    last_accessed text NOT NULL,
    doc           jsonb NOT NULL
);

CREATE TABLE tasks (
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    task_id      text PRIMARY KEY,
    user_id      text NOT NULL,
    status       text NOT NULL,
    priority     integer NOT NULL DEFAULT 0,
    queued_at    text NOT NULL DEFAULT '',
    created_at   text NOT NULL,
    -- when the running task's heartbeat last changed, on the database's clock
    heartbeat_at timestamptz,
    doc          jsonb NOT NULL
);

CREATE INDEX tasks_user ON tasks (user_id, seq);
CREATE INDEX tasks_status ON tasks (status, seq);
-- the waiting tasks in claim order; partial, so it stays as small as the queue
CREATE INDEX tasks_queue ON tasks (priority DESC, queued_at, seq) WHERE status = 'queued';

-- when each visitor with work in the queue was last served (visitors take turns)
CREATE TABLE queue_turns (
    user_id   text PRIMARY KEY,
    served_at text NOT NULL
);

-- records that failed to decode, kept instead of being reset
CREATE TABLE damaged (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind      text NOT NULL,
    record_id text NOT NULL,
    doc       text,
    error     text NOT NULL,
    moved_at  text NOT NULL
);
