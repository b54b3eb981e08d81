-- Messages keep their file ids as JSON on the row, so listing messages reads one row per message
-- instead of aggregating `message_files` for each; `message_files` stays the source for listing a
-- message's files and for detaching a deleted file.
ALTER TABLE messages ADD COLUMN file_ids TEXT NOT NULL DEFAULT '[]';
UPDATE messages SET file_ids = (
    SELECT json_group_array(file_id) FROM (
        SELECT file_id FROM message_files WHERE message_id = messages.id ORDER BY seq
    )
);
