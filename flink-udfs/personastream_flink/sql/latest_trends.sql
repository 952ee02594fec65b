-- Each scored window as its item's latest trend (windows of an item close in order, so the
-- last one written is the latest), in the one partition the API reads (bucket).
SELECT ${bucket} AS bucket, item_id, window_start, `views`, score, flagged, model_version,
    scored_by
FROM scored_windows
