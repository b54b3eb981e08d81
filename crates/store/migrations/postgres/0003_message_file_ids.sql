-- Messages keep their file ids as JSON on the row, so listing messages reads one row per message
-- instead of aggregating `message_files` for each; `message_files` stays the source for listing a
-- message's files and for detaching a deleted file.
ALTER TABLE messages ADD COLUMN file_ids JSONB NOT NULL DEFAULT '[]';
UPDATE messages SET file_ids = COALESCE(
    (SELECT jsonb_agg(file_id ORDER BY seq) FROM message_files WHERE message_id = messages.id),
    '[]'
);
